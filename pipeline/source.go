package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/tokenevents/tokenevents"
)

// Record is one input row. Line is where it starts (the CSV line, or the
// Parquet row index); Row is its 0-based position among the data rows.
type Record struct {
	Line   int64
	Row    int64
	Fields []string // one per header column; "" for columns not read
	// Err: the row could not be read (Fields is nil); ErrField is the
	// column it names, or -1.
	Err      error
	ErrField int
}

// CutShortError is a file whose text ends early: a quoted field that never
// closes, a truncated or corrupt gzip stream, a read that failed. The
// records before that point are imported; the file is not done.
type CutShortError struct {
	File         string
	Line, Column int64 // where reading stopped; Column 0: not known
	// BytesUnread and LinesUnread measure the text that was read but not
	// imported from that point on (what is missing is not known).
	BytesUnread, LinesUnread int64
	Err                      error
}

func (e *CutShortError) Error() string {
	pos := fmt.Sprintf("%s:%d", e.File, e.Line)
	if e.Column > 0 {
		pos += fmt.Sprintf(":%d", e.Column)
	}
	return fmt.Sprintf("%s: %v; the rows before line %d are imported, the %d lines (%d bytes) from there on are not",
		pos, e.Err, e.Line, e.LinesUnread, e.BytesUnread)
}

func (e *CutShortError) Unwrap() error { return e.Err }

// Source yields the records of one input file in order.
type Source interface {
	// Header returns the column names.
	Header() []string
	// Read appends up to n records to dst. It returns io.EOF, with no
	// records, when the input is exhausted; any other error is fatal for
	// the file (a row that merely cannot be parsed comes back as a Record
	// with Err set).
	Read(ctx context.Context, dst []Record, n int) ([]Record, error)
	// Close releases the input.
	Close() error
}

// errInput marks a failure to read an input file (I/O or format): the file
// is named, the run fails with exit code 1.
var errInput = errors.New("input")

// inputError wraps err with the file's name and the errInput mark.
func inputError(file string, err error) error {
	return fmt.Errorf("%s: %w", file, errors.Join(errInput, err))
}

// IsInputError reports whether err is a failure to read an input file.
func IsInputError(err error) bool { return errors.Is(err, errInput) }

// detectFormat picks csv or parquet from --format, the extension, or the
// first bytes.
func detectFormat(path, flag string, head []byte) string {
	if flag != "" {
		return flag
	}
	name := strings.ToLower(strings.TrimSuffix(strings.ToLower(path), ".gz"))
	switch filepath.Ext(name) {
	case ".parquet", ".parq":
		return "parquet"
	case ".csv", ".tsv", ".txt":
		return "csv"
	}
	if len(head) >= 4 && string(head[:4]) == "PAR1" {
		return "parquet"
	}
	return "csv"
}

// openSource opens path ("-" is stdin) in the right format. Reads of
// standard input and the opening of a file end when ctx does, even if the
// system call blocks. read, if not nil, counts the file's bytes as they are
// read (for progress displays).
func openSource(ctx context.Context, path string, stdin io.Reader, o *Options, read *atomic.Int64) (Source, error) {
	if path == "-" {
		if o.Format == "parquet" {
			return nil, tokenevents.UsageErrorf("-: Parquet cannot be read from standard input (it needs random access)")
		}
		if stdin == nil {
			return nil, tokenevents.UsageErrorf("-: standard input can be read only once")
		}
		return newCSVSource("-", newCtxReader(ctx, stdin), o)
	}
	f, err := openRegular(ctx, path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, errors.Join(inputError(path, err), f.Close())
	}
	if detectFormat(path, o.Format, head[:n]) == "parquet" {
		return newParquetSource(path, f, o)
	}
	if read != nil {
		return newCSVSource(path, &meteredFile{File: f, read: read}, o)
	}
	return newCSVSource(path, f, o)
}

// meteredFile counts the bytes read from a file.
type meteredFile struct {
	*os.File
	read *atomic.Int64
}

func (m *meteredFile) Read(p []byte) (int, error) {
	n, err := m.File.Read(p)
	m.read.Add(int64(n))
	return n, err
}

// meteredReader counts the bytes read from a reader.
type meteredReader struct {
	r    io.Reader
	read *atomic.Int64
}

func (m *meteredReader) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.read.Add(int64(n))
	return n, err
}
