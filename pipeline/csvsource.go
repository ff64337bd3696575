package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"github.com/tokenevents/tokenevents"
)

// csvSource reads delimited text: gzip detected by magic bytes, the
// delimiter detected from the header line unless given, the encoding
// decoded to UTF-8 and a BOM dropped. Only the columns the import uses are
// kept (useColumns); a record is capped at --max-record-bytes.
type csvSource struct {
	name       string
	closer     io.Closer
	r          *csvReader
	header     []string
	width      int // fields in the header
	row        int64
	chunkBytes int

	compressed *countingReader // the raw bytes under gzip, nil when plain
	arena      []byte
	spans      []span
	rec        csvRecord
	cut        error // the input ended early: reported after the records before it
}

func newCSVSource(name string, rc io.ReadCloser, o *Options) (Source, error) {
	s, err := openCSV(name, rc, o)
	if err != nil {
		return nil, errors.Join(err, rc.Close())
	}
	return s, nil
}

func openCSV(name string, rc io.ReadCloser, o *Options) (*csvSource, error) {
	s := &csvSource{name: name, closer: rc, chunkBytes: o.ChunkBytes}
	br := bufio.NewReaderSize(rc, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		s.compressed = &countingReader{r: br}
		gz, err := gzip.NewReader(bufio.NewReaderSize(s.compressed, 64<<10))
		if err != nil {
			return nil, inputError(name, fmt.Errorf("not a readable gzip stream: %w", err))
		}
		br = bufio.NewReaderSize(gz, 64<<10)
	}
	head, _ := br.Peek(4)
	if enc := wideEncoding(head); enc != "" {
		return nil, tokenevents.UsageErrorf("%s: the file is %s (byte order mark); save it as UTF-8 (or give --encoding for a single-byte encoding)", name, enc)
	}
	var text io.Reader = br
	switch o.Encoding {
	case "windows-1252":
		text = charmap.Windows1252.NewDecoder().Reader(br)
	case "iso-8859-1":
		text = charmap.ISO8859_1.NewDecoder().Reader(br)
	}
	delim := byte(o.Delimiter)
	s.r = newCSVReader(text, ',', o.MaxRecordBytes)
	head = s.r.peekHead()
	if bytes.HasPrefix(head, []byte{0xef, 0xbb, 0xbf}) {
		s.r.pos += 3
		head = head[3:]
	}
	firstLine := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		firstLine = head[:i]
	}
	if bytes.IndexByte(firstLine, 0) >= 0 {
		return nil, tokenevents.UsageErrorf("%s: the header holds NUL bytes: the file is not text in UTF-8 (UTF-16 without a byte order mark?)", name)
	}
	if delim == 0 {
		delim = byte(sniffDelimiter(head, name))
	}
	s.r.comma = delim
	var hrec csvRecord
	arena, err := s.r.readRecord(&hrec, nil)
	switch {
	case err == io.EOF:
		return nil, tokenevents.UsageErrorf("%s: %v", name, errNoHeader)
	case err != nil:
		return nil, inputError(name, fmt.Errorf("header: %w", err))
	case hrec.tooLong:
		return nil, tokenevents.UsageErrorf("%s: the header is longer than --max-record-bytes %d", name, o.MaxRecordBytes)
	}
	for i := range hrec.fields {
		s.header = append(s.header, string(arena[hrec.starts[i]:hrec.ends[i]]))
	}
	s.width = len(s.header)
	return s, nil
}

// span is a field's place in the arena.
type span struct{ start, end int }

// wideEncoding names a UTF-16 or UTF-32 byte order mark at the start of
// head, or returns "".
func wideEncoding(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xfe, 0, 0}):
		return "UTF-32LE"
	case bytes.HasPrefix(head, []byte{0, 0, 0xfe, 0xff}):
		return "UTF-32BE"
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}):
		return "UTF-16LE"
	case bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return "UTF-16BE"
	}
	return ""
}

// sniffDelimiter counts the candidates on the first line, outside quotes,
// and picks the most frequent; ties go to the earlier of , ; tab |.
func sniffDelimiter(head []byte, name string) rune {
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	candidates := []rune{',', ';', '\t', '|'}
	best, bestN := ',', 0
	if strings.HasSuffix(strings.TrimSuffix(strings.ToLower(name), ".gz"), ".tsv") {
		best = '\t'
	}
	for _, c := range candidates {
		n, quoted := 0, false
		for _, b := range head {
			switch {
			case b == '"':
				quoted = !quoted
			case !quoted && rune(b) == c:
				n++
			}
		}
		if n > bestN {
			best, bestN = c, n
		}
	}
	return best
}

func (s *csvSource) Header() []string { return s.header }

// useColumns keeps only the fields at positions; the others are read and
// dropped.
func (s *csvSource) useColumns(positions []int) error {
	s.r.keep = make([]bool, s.width)
	for _, p := range positions {
		if p >= 0 && p < s.width {
			s.r.keep[p] = true
		}
	}
	return nil
}

// Read returns up to n records, fewer when their kept fields pass the
// chunk's byte budget. A file whose text ends early (a quote never
// closed, a truncated or corrupt gzip stream, a read error) yields every
// record before that point, then a *CutShortError.
func (s *csvSource) Read(ctx context.Context, dst []Record, n int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if s.cut != nil {
		return dst, s.cut
	}
	s.arena = s.arena[:0]
	first := len(dst)
	spans := s.spans[:0]
	for i := 0; i < n && len(s.arena) < s.chunkBytes; i++ {
		var err error
		s.arena, err = s.r.readRecord(&s.rec, s.arena)
		if err == io.EOF {
			break
		}
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return dst[:first], cerr
			}
			s.cut = s.cutShort(err)
			break
		}
		rec := Record{Line: s.rec.line, Row: s.row, ErrField: -1}
		s.row++
		switch {
		case s.rec.tooLong:
			rec.Err = fmt.Errorf("record is longer than --max-record-bytes %d", s.r.maxRecord)
			rec.ErrField = s.rec.tooLongAt
		case s.rec.fields != s.width:
			rec.Err = fmt.Errorf("row has %d fields, the header has %d", s.rec.fields, s.width)
		default:
			for f := range s.rec.fields {
				spans = append(spans, span{s.rec.starts[f], s.rec.ends[f]})
			}
		}
		dst = append(dst, rec)
	}
	if len(dst) == first {
		if s.cut != nil {
			return dst, s.cut
		}
		return dst, io.EOF
	}
	s.spans = spans
	// One string for the chunk's kept bytes; each field is a slice of it.
	text := string(s.arena)
	fields := make([]string, len(spans))
	for i, sp := range spans {
		fields[i] = text[sp.start:sp.end]
	}
	for i := first; i < len(dst); i++ {
		if dst[i].Err == nil {
			dst[i].Fields, fields = fields[:s.width:s.width], fields[s.width:]
		}
	}
	return dst, nil
}

// cutShort describes where and why the text ended early, and how much of
// it was read without being imported.
func (s *csvSource) cutShort(err error) *CutShortError {
	c := &CutShortError{File: s.name, Line: s.rec.line}
	var open *errUnterminated
	switch {
	case errors.As(err, &open):
		c.Line, c.Column, c.Err = open.line, open.col, errors.New("a quoted field opens here and is never closed")
	case s.compressed != nil:
		c.Err = fmt.Errorf("the gzip stream is cut short or corrupt after %d compressed bytes: %w", s.compressed.n, err)
	default:
		c.Err = fmt.Errorf("reading stopped: %w", err)
	}
	if s.r.offset > s.rec.startOff {
		c.BytesUnread = s.r.offset - s.rec.startOff
		c.LinesUnread = s.r.line - s.rec.line + 1
		if s.r.column() == 1 {
			c.LinesUnread-- // the text ends with a line feed
		}
	}
	return c
}

func (s *csvSource) Close() error { return s.closer.Close() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
