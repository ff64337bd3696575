package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// csvReader reads RFC 4180 records from UTF-8 text, holding no more than
// one buffer of input and the kept fields of the current record:
//
//   - only the columns it is told to keep are copied; the others are
//     scanned, counted and dropped, so an export's wide unused columns cost
//     no memory;
//   - a record longer than maxRecord bytes (all its fields) is read to its
//     end without being stored and comes back marked too long;
//   - a quoted field that never closes is an error naming the line and
//     column where its quote opened, with how much text it swallowed.
//
// Quoting follows encoding/csv with LazyQuotes: a quote inside an unquoted
// field is a literal, and so is a quote inside a quoted field that is
// neither doubled nor followed by a delimiter or a line end. CRLF and LF end
// lines; CRLF inside a quoted field becomes LF; empty lines are skipped.
type csvReader struct {
	in       io.Reader
	buf      []byte
	pos, end int
	eof      bool  // in returned io.EOF
	readErr  error // in failed otherwise; reported once buf is used up

	comma     byte
	maxRecord int
	keep      []bool // per field: copy its bytes (nil: every field)

	offset    int64 // text bytes consumed
	line      int64 // line of the next byte, 1-based
	lineStart int64 // offset where that line starts

	// nl is the index in buf of the next line feed at or after pos, or
	// end when the buffer holds none; found once per line, not per field.
	nl int
}

// csvRecord describes the record readRecord last read. Its kept fields
// are appended to the caller's arena: field i is arena[starts[i]:ends[i]];
// a field not kept is empty.
type csvRecord struct {
	line      int64 // where the record starts
	startOff  int64 // text offset where it starts
	fields    int
	starts    []int
	ends      []int
	tooLong   bool
	tooLongAt int // field index where the record passed maxRecord
}

// errUnterminated is a quoted field still open at the end of the input.
type errUnterminated struct {
	line, col int64 // where the quote opened
}

func (e *errUnterminated) Error() string {
	return fmt.Sprintf("line %d, column %d: quoted field opened here is never closed", e.line, e.col)
}

func newCSVReader(in io.Reader, comma byte, maxRecord int) *csvReader {
	return &csvReader{in: in, buf: make([]byte, 256<<10), comma: comma, maxRecord: maxRecord, line: 1, nl: -1}
}

// more reads once into the free end of the buffer, recording the end of
// the input or a read error; it reports whether reading may go on.
func (r *csvReader) more() bool {
	if r.eof || r.readErr != nil || r.end == len(r.buf) {
		return false
	}
	n, err := r.in.Read(r.buf[r.end:])
	r.end += n
	if err == io.EOF {
		r.eof = true
	} else if err != nil {
		r.readErr = err
	}
	return true
}

// fill reads more input after the unread bytes; it reports whether any
// unread byte is available.
func (r *csvReader) fill() bool {
	if r.pos < r.end {
		return true
	}
	r.pos, r.end, r.nl = 0, 0, -1
	for r.end == 0 && r.more() {
	}
	return r.end > 0
}

// crlf reports whether the next two bytes are CR LF, reading more input
// when the buffer ends between them.
func (r *csvReader) crlf() bool {
	if r.pos+1 >= r.end && r.pos < r.end {
		n := copy(r.buf, r.buf[r.pos:r.end])
		r.pos, r.end, r.nl = 0, n, -1
		for r.end < 2 && r.more() {
		}
	}
	return r.pos+1 < r.end && r.buf[r.pos] == '\r' && r.buf[r.pos+1] == '\n'
}

// peekHead reads until the buffer holds the first line (or 64 KiB of it,
// or the whole input) and returns it, for sniffing the delimiter; nothing
// is consumed. It waits for no more than that: standard input may be a
// pipe that delivers the rest later.
func (r *csvReader) peekHead() []byte {
	for r.end < 64<<10 && bytes.IndexByte(r.buf[r.pos:r.end], '\n') < 0 && r.more() {
	}
	return r.buf[r.pos:r.end]
}

// endErr is what the end of the input means: io.EOF, or the read error.
func (r *csvReader) endErr() error {
	if r.readErr != nil {
		return r.readErr
	}
	return io.EOF
}

// consume advances over buf[pos:pos+n], which holds nl line feeds, the
// last of them at index lastNL (relative to pos).
func (r *csvReader) consume(n, nl, lastNL int) {
	if nl > 0 {
		r.line += int64(nl)
		r.lineStart = r.offset + int64(lastNL) + 1
	}
	r.pos += n
	r.offset += int64(n)
}

// column is the 1-based byte column of the next byte.
func (r *csvReader) column() int64 { return r.offset - r.lineStart + 1 }

// readRecord reads the next record, appending its kept fields to arena.
// It returns io.EOF at the end of the input, an *errUnterminated for a
// quote that never closes, or the input's read error; arena is returned
// as it was before the record in those cases.
func (r *csvReader) readRecord(rec *csvRecord, arena []byte) ([]byte, error) {
	// Skip empty lines (LF or CRLF).
	for {
		if !r.fill() {
			rec.line, rec.startOff = r.line, r.offset
			return arena, r.endErr()
		}
		c := r.buf[r.pos]
		if c == '\n' {
			r.consume(1, 1, 0)
			continue
		}
		if c == '\r' && r.crlf() {
			r.consume(2, 1, 1)
			continue
		}
		if c == '\r' && r.pos+1 == r.end && r.eof { // a CR alone at the very end
			r.consume(1, 0, 0)
			continue
		}
		break
	}
	mark := len(arena)
	*rec = csvRecord{line: r.line, startOff: r.offset, starts: rec.starts[:0], ends: rec.ends[:0]}
	total := 0
	for {
		keep := !rec.tooLong && (r.keep == nil || rec.fields < len(r.keep) && r.keep[rec.fields])
		start := len(arena)
		var n int
		var endOfRecord bool
		var err error
		if r.fill() && r.buf[r.pos] == '"' {
			arena, n, endOfRecord, err = r.quoted(arena, keep)
		} else {
			arena, n, endOfRecord, err = r.unquoted(arena, keep)
		}
		if err != nil {
			return arena[:mark], err
		}
		total += n
		if !rec.tooLong && total > r.maxRecord {
			rec.tooLong, rec.tooLongAt = true, rec.fields
			arena = arena[:mark]
			rec.starts, rec.ends = rec.starts[:0], rec.ends[:0]
		}
		if !rec.tooLong {
			if !keep {
				start = len(arena)
			}
			rec.starts = append(rec.starts, start)
			rec.ends = append(rec.ends, len(arena))
		}
		rec.fields++
		if endOfRecord {
			return arena, nil
		}
	}
}

// unquoted reads a field up to the delimiter or the line end and consumes
// that terminator. n is the field's length in bytes.
func (r *csvReader) unquoted(arena []byte, keep bool) (out []byte, n int, endOfRecord bool, err error) {
	start := len(arena)
	for {
		if !r.fill() {
			if r.readErr != nil {
				return arena, n, true, r.readErr
			}
			// The last line has no line feed; a CR ending it is a line
			// end still (as encoding/csv reads it).
			if keep && len(arena) > start && arena[len(arena)-1] == '\r' {
				arena = arena[:len(arena)-1]
			}
			return arena, n, true, nil
		}
		if r.nl < r.pos || r.nl > r.end {
			if j := bytes.IndexByte(r.buf[r.pos:r.end], '\n'); j >= 0 {
				r.nl = r.pos + j
			} else {
				r.nl = r.end
			}
		}
		seg := r.buf[r.pos:r.end]
		i := bytes.IndexByte(r.buf[r.pos:r.nl], r.comma)
		if i < 0 {
			i = r.nl - r.pos
		}
		if keep {
			arena = append(arena, seg[:i]...)
		}
		n += i
		if i == len(seg) {
			r.consume(i, 0, 0)
			continue
		}
		if seg[i] == r.comma {
			r.consume(i+1, 0, 0)
			return arena, n, false, nil
		}
		r.consume(i+1, 1, i)
		// CRLF: the CR belongs to the line end, not the field. (It may
		// have been counted in n already; one byte of a limit is noise.)
		if keep && len(arena) > start && arena[len(arena)-1] == '\r' {
			arena = arena[:len(arena)-1]
		}
		return arena, n, true, nil
	}
}

// quoted reads a quoted field, the opening quote next, and consumes its
// terminator.
func (r *csvReader) quoted(arena []byte, keep bool) (out []byte, n int, endOfRecord bool, err error) {
	openLine, openCol := r.line, r.column()
	r.consume(1, 0, 0)
	start := len(arena)
	for {
		if !r.fill() {
			if r.readErr != nil {
				return arena, n, true, r.readErr
			}
			return arena, n, true, &errUnterminated{line: openLine, col: openCol}
		}
		seg := r.buf[r.pos:r.end]
		q := bytes.IndexByte(seg, '"')
		if q < 0 {
			q = len(seg)
		}
		nl, last := countLF(seg[:q])
		if keep {
			arena = append(arena, seg[:q]...)
		}
		n += q
		r.consume(q, nl, last)
		if q == len(seg) {
			continue
		}
		r.consume(1, 0, 0) // the quote
		if !r.fill() {
			if r.readErr != nil {
				return arena, n, true, r.readErr
			}
			return finishQuoted(arena, start, keep), n, true, nil
		}
		switch c := r.buf[r.pos]; {
		case c == '"': // a doubled quote
			if keep {
				arena = append(arena, '"')
			}
			n++
			r.consume(1, 0, 0)
		case c == r.comma:
			r.consume(1, 0, 0)
			return finishQuoted(arena, start, keep), n, false, nil
		case c == '\n':
			r.consume(1, 1, 0)
			return finishQuoted(arena, start, keep), n, true, nil
		case c == '\r' && r.crlf():
			r.consume(2, 1, 1)
			return finishQuoted(arena, start, keep), n, true, nil
		default: // a lone quote inside the field is a literal
			if keep {
				arena = append(arena, '"')
			}
			n++
		}
	}
}

// finishQuoted turns CRLF inside a kept quoted field into LF.
func finishQuoted(arena []byte, start int, keep bool) []byte {
	if !keep || bytes.IndexByte(arena[start:], '\r') < 0 {
		return arena
	}
	w := start
	for i := start; i < len(arena); i++ {
		if arena[i] == '\r' && i+1 < len(arena) && arena[i+1] == '\n' {
			continue
		}
		arena[w] = arena[i]
		w++
	}
	return arena[:w]
}

// countLF counts the line feeds in b and the index of the last one.
func countLF(b []byte) (n, last int) {
	last = -1
	for {
		i := bytes.IndexByte(b[last+1:], '\n')
		if i < 0 {
			return n, last
		}
		last += i + 1
		n++
	}
}

var errNoHeader = errors.New("empty file, a header row is required")
