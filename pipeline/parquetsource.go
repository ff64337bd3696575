package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tokenevents/tokenevents"
)

// parquetSource streams a Parquet file row group by row group, reading only
// the columns the import uses, a page at a time: memory is bounded by a page
// per column, not by the file. Values become the same strings a CSV export
// would hold, so both formats share the mapping, normalisation and checks:
// timestamps adjusted to UTC are written with "Z", others without an offset
// (read in --timezone), DATE as YYYY-MM-DD, numbers in decimal, nulls empty.
type parquetSource struct {
	name   string
	file   io.Closer
	pf     *parquet.File
	header []string
	leaf   []int                                 // header position → leaf column, -1 when not a flat column
	conv   []func(parquet.Value) (string, error) // per header position
	kind   []string                              // per header position, for messages
	needed []int                                 // header positions to read

	rowGroup int // next row group to open
	cols     []*columnReader
	left     int64 // rows left in the open row group
	row      int64

	chunkBytes, maxRecord int
	// rowBytes estimates a row's read fields: the larger of the open row
	// group's average (from its footer) and the largest row of the last
	// chunk.
	rowBytes, groupRowBytes int
}

func newParquetSource(path string, f *os.File, o *Options) (Source, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, errors.Join(inputError(path, err), f.Close())
	}
	src, err := openParquet(path, f, fi.Size(), f)
	if err != nil {
		return nil, err
	}
	ps := src.(*parquetSource)
	ps.chunkBytes, ps.maxRecord = o.ChunkBytes, o.MaxRecordBytes
	return ps, nil
}

// errReaderPanic marks a panic of the Parquet library on malformed input,
// recovered into an error that names the file: a user's run goes on to
// the next file. The fuzz test fails on it, so that each such input is
// found and checked for beforehand instead.
var errReaderPanic = errors.New("the Parquet reader failed")

// openParquet reads the footer and schema; parquet-go's panics on malformed
// input become errors that name the file.
func openParquet(path string, r io.ReaderAt, size int64, f io.Closer) (src Source, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, errors.Join(inputError(path, fmt.Errorf("not a readable Parquet file: %w: %v", errReaderPanic, r)), f.Close())
		}
	}()
	if err := checkFraming(r, size); err != nil {
		return nil, errors.Join(inputError(path, fmt.Errorf("not a readable Parquet file: %w", err)), f.Close())
	}
	pf, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, errors.Join(inputError(path, fmt.Errorf("not a readable Parquet file: %w", err)), f.Close())
	}
	if err := checkMetadata(pf.Metadata(), size); err != nil {
		return nil, errors.Join(inputError(path, fmt.Errorf("not a readable Parquet file: %w", err)), f.Close())
	}
	s := &parquetSource{name: path, file: f, pf: pf}
	for _, field := range pf.Schema().Fields() {
		s.header = append(s.header, field.Name())
		leaf, ok := pf.Schema().Lookup(field.Name())
		if !ok || !field.Leaf() || leaf.MaxRepetitionLevel > 0 {
			s.leaf = append(s.leaf, -1)
			s.conv = append(s.conv, nil)
			s.kind = append(s.kind, "nested or repeated")
			continue
		}
		conv, kind := converterFor(field.Type())
		s.leaf = append(s.leaf, leaf.ColumnIndex)
		s.conv = append(s.conv, conv)
		s.kind = append(s.kind, kind)
	}
	if len(s.header) == 0 {
		return nil, errors.Join(tokenevents.UsageErrorf("%s: the Parquet file has no columns", path), f.Close())
	}
	return s, nil
}

func (s *parquetSource) Header() []string { return s.header }

// useColumns tells the source which header positions the import reads; the
// others stay empty. A column the import needs must be flat.
func (s *parquetSource) useColumns(positions []int) error {
	s.needed = s.needed[:0]
	for _, p := range positions {
		if s.leaf[p] < 0 {
			return tokenevents.UsageErrorf("%s: column %q is %s; only flat columns can be imported", s.name, s.header[p], s.kind[p])
		}
		s.needed = append(s.needed, p)
	}
	return nil
}

func (s *parquetSource) Read(ctx context.Context, dst []Record, n int) (out []Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = dst, inputError(s.name, fmt.Errorf("row group %d: corrupt data: %w: %v", s.rowGroup-1, errReaderPanic, r))
		}
	}()
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	for s.left == 0 {
		if err := s.openRowGroup(); err != nil {
			return dst, err
		}
	}
	k := int(min(int64(n), s.left))
	if s.rowBytes > 0 && s.chunkBytes > 0 {
		// Rows as large as the largest seen so far fit in the chunk's
		// byte budget: memory is bounded by bytes, not rows.
		k = max(1, min(k, s.chunkBytes/s.rowBytes))
	}
	width := len(s.header)
	fields := make([]string, k*width)
	for ci, pos := range s.needed {
		col := s.cols[ci]
		if err := col.read(k, func(i int, v parquet.Value) error {
			if v.IsNull() {
				return nil
			}
			str, err := s.conv[pos](v)
			if err != nil {
				return err
			}
			fields[i*width+pos] = str
			return nil
		}); err != nil {
			return dst, inputError(s.name, fmt.Errorf("row group %d, column %q: %w", s.rowGroup-1, s.header[pos], err))
		}
	}
	lastMax := 0
	for i := 0; i < k; i++ {
		rec := Record{Line: s.row, Row: s.row, Fields: fields[i*width : (i+1)*width : (i+1)*width], ErrField: -1}
		size := 0
		for _, f := range rec.Fields {
			size += len(f)
		}
		lastMax = max(lastMax, size)
		if s.maxRecord > 0 && size > s.maxRecord {
			rec.Fields, rec.Err = nil, fmt.Errorf("record is longer than --max-record-bytes %d", s.maxRecord)
			clear(fields[i*width : (i+1)*width])
		}
		dst = append(dst, rec)
		s.row++
	}
	s.left -= int64(k)
	s.rowBytes = max(s.groupRowBytes, lastMax)
	return dst, nil
}

// openRowGroup moves to the next row group; io.EOF after the last.
func (s *parquetSource) openRowGroup() error {
	for _, c := range s.cols {
		c.close()
	}
	s.cols = s.cols[:0]
	groups := s.pf.RowGroups()
	if s.rowGroup >= len(groups) {
		return io.EOF
	}
	rg := groups[s.rowGroup]
	s.rowGroup++
	chunks := rg.ColumnChunks()
	var groupBytes int64
	meta := s.pf.Metadata().RowGroups[s.rowGroup-1].Columns
	for _, pos := range s.needed {
		s.cols = append(s.cols, &columnReader{pages: chunks[s.leaf[pos]].Pages()})
		groupBytes += meta[s.leaf[pos]].MetaData.TotalUncompressedSize
	}
	s.left = rg.NumRows()
	if s.left > 0 {
		s.groupRowBytes = int(groupBytes / s.left)
		s.rowBytes = max(s.rowBytes, s.groupRowBytes)
	}
	return nil
}

func (s *parquetSource) Close() error {
	for _, c := range s.cols {
		c.close()
	}
	return s.file.Close()
}

// columnReader reads one column chunk's values a page at a time.
type columnReader struct {
	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader
	buf    []parquet.Value
}

// read passes the next k values to fn with their row offsets.
func (c *columnReader) read(k int, fn func(int, parquet.Value) error) error {
	if cap(c.buf) < 1024 {
		c.buf = make([]parquet.Value, 1024)
	}
	stalled := 0
	for i := 0; i < k; {
		if c.values == nil {
			p, err := c.pages.ReadPage()
			if err == io.EOF {
				return errors.New("column ends before the row group does")
			}
			if err != nil {
				return err
			}
			c.page, c.values = p, p.Values()
		}
		n, err := c.values.ReadValues(c.buf[:min(len(c.buf), k-i)])
		if n == 0 && err == nil {
			if stalled++; stalled > 3 {
				return errors.New("corrupt page: no values")
			}
		}
		for j := 0; j < n; j++ {
			if ferr := fn(i+j, c.buf[j]); ferr != nil {
				return ferr
			}
		}
		i += n
		if err == io.EOF {
			parquet.Release(c.page)
			c.page, c.values = nil, nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (c *columnReader) close() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	_ = c.pages.Close()
}

// converterFor returns how values of a column type become text.
func converterFor(t parquet.Type) (func(parquet.Value) (string, error), string) {
	var lt any
	if l := t.LogicalType(); l != nil {
		lt = l.Value
	}
	var ct deprecated.ConvertedType = -1
	if c := t.ConvertedType(); c != nil {
		ct = *c
	}
	switch t.Kind() {
	case parquet.ByteArray, parquet.FixedLenByteArray:
		if _, ok := lt.(*format.UUIDType); ok {
			return func(v parquet.Value) (string, error) { return fmt.Sprintf("%x", v.ByteArray()), nil }, "uuid"
		}
		return func(v parquet.Value) (string, error) { return string(v.ByteArray()), nil }, "string"
	case parquet.Boolean:
		return func(v parquet.Value) (string, error) { return strconv.FormatBool(v.Boolean()), nil }, "boolean"
	case parquet.Float:
		return func(v parquet.Value) (string, error) {
			return strconv.FormatFloat(float64(v.Float()), 'f', -1, 32), nil
		}, "float"
	case parquet.Double:
		return func(v parquet.Value) (string, error) { return strconv.FormatFloat(v.Double(), 'f', -1, 64), nil }, "double"
	case parquet.Int96:
		return func(v parquet.Value) (string, error) { return formatInstant(int96Time(v.Int96())), nil }, "int96 timestamp"
	case parquet.Int32:
		if _, ok := lt.(*format.DateType); ok || ct == deprecated.Date {
			return func(v parquet.Value) (string, error) {
				return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly), nil
			}, "date"
		}
		if d, ok := lt.(*format.DecimalType); ok {
			return decimalConverter(int(d.Scale), func(v parquet.Value) int64 { return int64(v.Int32()) }), "decimal"
		}
		return func(v parquet.Value) (string, error) { return strconv.FormatInt(int64(v.Int32()), 10), nil }, "int32"
	case parquet.Int64:
		unit, adjusted, isTS := time.Duration(0), true, false
		if ts, ok := lt.(*format.TimestampType); ok {
			isTS, adjusted = true, ts.IsAdjustedToUTC
			unit = ts.Unit.Value.Duration()
		} else if ct == deprecated.TimestampMillis {
			isTS, unit = true, time.Millisecond
		} else if ct == deprecated.TimestampMicros {
			isTS, unit = true, time.Microsecond
		}
		if isTS {
			return func(v parquet.Value) (string, error) {
				t := unixIn(v.Int64(), unit)
				if adjusted {
					return formatInstant(t), nil
				}
				return t.Format("2006-01-02 15:04:05.999999999"), nil // wall time, read in --timezone
			}, "timestamp"
		}
		if d, ok := lt.(*format.DecimalType); ok {
			return decimalConverter(int(d.Scale), func(v parquet.Value) int64 { return v.Int64() }), "decimal"
		}
		return func(v parquet.Value) (string, error) { return strconv.FormatInt(v.Int64(), 10), nil }, "int64"
	}
	return func(v parquet.Value) (string, error) { return v.String(), nil }, t.String()
}

func formatInstant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func unixIn(n int64, unit time.Duration) time.Time {
	switch unit {
	case time.Millisecond:
		return time.UnixMilli(n).UTC()
	case time.Microsecond:
		return time.UnixMicro(n).UTC()
	}
	return time.Unix(0, n).UTC()
}

// int96Time decodes a legacy INT96 timestamp (Spark, Hive, Impala):
// nanoseconds within the day, then the Julian day number.
func int96Time(v deprecated.Int96) time.Time {
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	days := int64(v[2]) - 2440588 // Julian day of 1970-01-01
	return time.Unix(days*86400, nanos).UTC()
}

func decimalConverter(scale int, get func(parquet.Value) int64) func(parquet.Value) (string, error) {
	return func(v parquet.Value) (string, error) {
		r := new(big.Rat).SetFrac(big.NewInt(get(v)), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		return r.FloatString(scale), nil
	}
}

// checkFraming checks the magic bytes at both ends and that the footer's
// length fits in the file, before parquet-go allocates a buffer of that
// length.
func checkFraming(r io.ReaderAt, size int64) error {
	if size < 12 {
		return errors.New("file too short")
	}
	var head [4]byte
	var tail [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return err
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return errors.New("no PAR1 magic bytes (not Parquet, or an encrypted file)")
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 {
		return fmt.Errorf("footer length %d does not fit in a file of %d bytes (truncated?)", footer, size)
	}
	return nil
}

// maxInflation bounds how much larger than its compressed bytes a column
// chunk may claim to be, so that a corrupt footer cannot make the reader
// allocate without limit.
const maxInflation = 256

// checkMetadata rejects footers whose sizes and offsets cannot be true of a
// file of this size.
func checkMetadata(md *format.FileMetaData, size int64) error {
	if md.NumRows < 0 {
		return errors.New("negative row count")
	}
	var rows int64
	for i, rg := range md.RowGroups {
		if rg.NumRows < 0 {
			return fmt.Errorf("row group %d: negative row count", i)
		}
		rows += rg.NumRows
		for j, cc := range rg.Columns {
			m := cc.MetaData
			bad := m.TotalCompressedSize < 0 || m.TotalCompressedSize > size ||
				m.DataPageOffset < 4 || m.DataPageOffset >= size ||
				m.DictionaryPageOffset < 0 || m.DictionaryPageOffset >= size ||
				m.TotalUncompressedSize < 0 || m.TotalUncompressedSize > maxInflation*m.TotalCompressedSize+(64<<20) ||
				m.NumValues < 0
			if bad {
				return fmt.Errorf("row group %d, column %d: sizes or offsets outside the file", i, j)
			}
			// parquet-go's LZ4 decoder doubles its buffer without limit on
			// corrupt input; the SPEC's codecs are snappy, zstd and gzip.
			if m.Codec == format.Lz4 || m.Codec == format.Lz4Raw {
				return fmt.Errorf("column %d: LZ4 compression is not supported (write snappy, zstd or gzip)", j)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("row groups hold %d rows, the footer says %d", rows, md.NumRows)
	}
	return nil
}
