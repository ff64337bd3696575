package pipeline

import (
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// readAll reads every record of in with a buffer of bufSize bytes (small
// sizes put every boundary case across two reads) and returns the fields
// and starting lines, or the error that stopped it.
func readAll(in string, bufSize, maxRecord int, keep []bool) (recs [][]string, lines []int64, tooLong []int, err error) {
	r := newCSVReader(strings.NewReader(in), ',', maxRecord)
	if bufSize > 0 {
		r.buf = make([]byte, bufSize)
	}
	r.keep = keep
	var rec csvRecord
	for {
		arena, err := r.readRecord(&rec, nil)
		if err == io.EOF {
			return recs, lines, tooLong, nil
		}
		if err != nil {
			return recs, lines, tooLong, err
		}
		var fields []string
		for i := range rec.starts {
			fields = append(fields, string(arena[rec.starts[i]:rec.ends[i]]))
		}
		if rec.tooLong {
			fields = nil
			tooLong = append(tooLong, rec.tooLongAt)
		}
		recs = append(recs, fields)
		lines = append(lines, rec.line)
	}
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  [][]string
		lines []int64
		err   string
	}{
		{"plain", "a,b\n1,2\n", [][]string{{"a", "b"}, {"1", "2"}}, []int64{1, 2}, ""},
		{"no final line feed", "a,b\n1,2", [][]string{{"a", "b"}, {"1", "2"}}, []int64{1, 2}, ""},
		{"CRLF", "a,b\r\n1,2\r\n", [][]string{{"a", "b"}, {"1", "2"}}, []int64{1, 2}, ""},
		{"empty lines skipped", "a\n\n\r\nb\n", [][]string{{"a"}, {"b"}}, []int64{1, 4}, ""},
		{"empty fields", ",,\n", [][]string{{"", "", ""}}, []int64{1}, ""},
		{"quoted delimiter and quote", "\"a,b\",\"c\"\"d\"\n", [][]string{{"a,b", `c"d`}}, []int64{1}, ""},
		{"quoted line breaks", "\"a\nb\",c\n\"x\r\ny\"\nz\n", [][]string{{"a\nb", "c"}, {"x\ny"}, {"z"}}, []int64{1, 3, 5}, ""},
		{"bare quote in a field", "a\"b,c\n", [][]string{{`a"b`, "c"}}, []int64{1}, ""},
		{"lone quote in a quoted field", "\"a\"b\",c\n", [][]string{{`a"b`, "c"}}, []int64{1}, ""},
		{"quoted then CRLF", "\"a\"\r\nb\n", [][]string{{"a"}, {"b"}}, []int64{1, 2}, ""},
		{"lone CR kept", "a\rb,c\n", [][]string{{"a\rb", "c"}}, []int64{1}, ""},
		{"unterminated", "a,b\n1,\"2\nx\ny\n", [][]string{{"a", "b"}}, []int64{1}, "line 2, column 3: quoted field opened here is never closed"},
		{"unterminated at the end", "a\n\"", [][]string{{"a"}}, []int64{1}, "line 2, column 1"},
	}
	for _, tt := range tests {
		for _, size := range []int{2, 3, 5, 0} {
			recs, lines, _, err := readAll(tt.in, size, 1<<20, nil)
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s (buffer %d): error %v, want %q", tt.name, size, err, tt.err)
			}
			if !reflect.DeepEqual(recs, tt.want) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("%s (buffer %d): %q at lines %v, want %q at %v", tt.name, size, recs, lines, tt.want, tt.lines)
			}
		}
	}
}

// TestCSVReaderLimits: a record past the limit is read to its end but not
// stored, and reported at the field where it passed the limit; fields not
// kept are dropped but still counted.
func TestCSVReaderLimits(t *testing.T) {
	in := "a,bbbbbbbbbb,c\n\"x,y\",zz,\"q\nq\"\nshort,s,s\n"
	for _, size := range []int{2, 4, 0} {
		recs, lines, tooLong, err := readAll(in, size, 8, []bool{true, false, true})
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{nil, {"x,y", "", "q\nq"}, {"short", "", "s"}}
		if !reflect.DeepEqual(recs, want) || !reflect.DeepEqual(lines, []int64{1, 2, 4}) || !reflect.DeepEqual(tooLong, []int{1}) {
			t.Errorf("buffer %d: %q at %v, too long at %v", size, recs, lines, tooLong)
		}
	}
}

// FuzzCSVReaderMatchesEncodingCSV: on input that encoding/csv (with
// LazyQuotes) reads without error, our reader yields the same records;
// where ours reports an unterminated quote, encoding/csv would have
// swallowed the rest of the input into one field.
func FuzzCSVReaderMatchesEncodingCSV(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\"a\nb\",\"c\"\"\"\r\n", "a\"b,\"c\"d\",e\n\n\nf", "\"x\r\n\"\r\n", "a\r\n\r\nb\r"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, size uint8) {
		std := csv.NewReader(strings.NewReader(in))
		std.LazyQuotes, std.FieldsPerRecord = true, -1
		var want [][]string
		var wantLines []int64
		for {
			rec, err := std.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			line, _ := std.FieldPos(0)
			want = append(want, rec)
			wantLines = append(wantLines, int64(line))
		}
		got, lines, _, err := readAll(in, 2+int(size)%9, 1<<20, nil)
		var open *errUnterminated
		if errors.As(err, &open) {
			if len(got) > len(want) || len(got) > 0 && !reflect.DeepEqual(got, want[:len(got)]) {
				t.Fatalf("before the unterminated quote: %q, encoding/csv %q", got, want)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) || len(want) > 0 && !reflect.DeepEqual(lines, wantLines) {
			t.Fatalf("%q at %v, encoding/csv %q at %v", got, lines, want, wantLines)
		}
	})
}
