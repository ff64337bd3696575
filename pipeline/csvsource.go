package pipeline

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"

	"golang.org/x/text/encoding/charmap"

	"github.com/tokenevents/tokenevents"
)

// csvSource reads delimited text: gzip detected by magic bytes, the
// delimiter detected from the header line unless given, the encoding
// decoded to UTF-8 and a BOM dropped.
type csvSource struct {
	name   string
	closer io.Closer
	r      *csv.Reader
	header []string
	row    int64
}

func newCSVSource(name string, rc io.ReadCloser, o *Options) (Source, error) {
	s := &csvSource{name: name, closer: rc}
	br := bufio.NewReaderSize(rc, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, errors.Join(inputError(name, err), rc.Close())
		}
		br = bufio.NewReaderSize(gz, 256<<10)
	}
	var text io.Reader = br
	switch o.Encoding {
	case "windows-1252":
		text = charmap.Windows1252.NewDecoder().Reader(br)
	case "iso-8859-1":
		text = charmap.ISO8859_1.NewDecoder().Reader(br)
	}
	tr := bufio.NewReaderSize(text, 256<<10)
	if bom, _ := tr.Peek(3); bytes.Equal(bom, []byte{0xef, 0xbb, 0xbf}) {
		_, _ = tr.Discard(3)
	}
	delim := o.Delimiter
	if delim == 0 {
		head, _ := tr.Peek(64 << 10)
		delim = sniffDelimiter(head, name)
	}
	s.r = csv.NewReader(tr)
	s.r.Comma = delim
	s.r.LazyQuotes = true
	s.r.FieldsPerRecord = -1
	header, err := s.r.Read()
	if err == io.EOF {
		return nil, errors.Join(tokenevents.UsageErrorf("%s: empty file, a header row is required", name), rc.Close())
	}
	if err != nil {
		return nil, errors.Join(inputError(name, err), rc.Close())
	}
	s.header = header
	return s, nil
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

func (s *csvSource) Read(ctx context.Context, dst []Record, n int) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	for i := 0; i < n; i++ {
		fields, err := s.r.Read()
		if err == io.EOF {
			if i == 0 {
				return dst, io.EOF
			}
			return dst, nil
		}
		line, _ := s.r.FieldPos(0)
		rec := Record{Line: int64(line), Row: s.row, Fields: fields}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return dst, inputError(s.name, err)
			}
			// A malformed row is rejected; the reader goes on with the next.
			rec.Line = int64(pe.StartLine)
			rec.Err = errors.New(pe.Err.Error())
		}
		s.row++
		dst = append(dst, rec)
	}
	return dst, nil
}

func (s *csvSource) Close() error { return s.closer.Close() }
