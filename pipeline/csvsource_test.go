package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestSniffDelimiter(t *testing.T) {
	tests := []struct {
		head, name string
		want       rune
	}{
		{"a,b,c\n1,2,3", "x.csv", ','},
		{"a;b;c\r\n", "x.csv", ';'},
		{"a\tb\tc\n", "x.txt", '\t'},
		{"a|b|c\n", "x.csv", '|'},
		{`"a,b";c;d` + "\n", "x.csv", ';'},
		{"single\n", "x.tsv", '\t'},
		{"single\n", "x.csv", ','},
	}
	for _, tt := range tests {
		if got := sniffDelimiter([]byte(tt.head), tt.name); got != tt.want {
			t.Errorf("sniffDelimiter(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

// FuzzCSVPath is the whole CSV reading path, bytes in → records or
// errors → events or rejects: it must never panic; rows are numbered
// consecutively with growing line numbers; every row read is imported or
// rejected (rows read = imported + rejected), and the events of the rows
// imported are distinct keys plus duplicates; text that ends early comes
// back as a *CutShortError, never as rows that vanish; no record holds
// more than --max-record-bytes.
func FuzzCSVPath(f *testing.F) {
	f.Add([]byte("email,created_at\nkari@example.no,2024-01-01\n"), uint16(0))
	f.Add([]byte("\ufeffemail;phone;created_at\r\n\"a\r\nb\";912 34 567;2024-01-01\r\n"), uint16(0))
	f.Add([]byte("email|created_at\n\"unterminated|2024\n"), uint16(0))
	f.Add([]byte("\x1f\x8b\x08\x00garbage"), uint16(0))
	f.Add([]byte("email,event,created_at\na@b.no,x,2024-01-01\na@b.no,x,2024-01-01\nc@d.no,\"y\"\"z\",0001-01-01\n"), uint16(0))
	f.Add([]byte("email,created_at,notes\na@b.no,2024-01-01,"+strings.Repeat("n", 100)+"\nb@b.no,2024-01-01,x\n"), uint16(64))
	f.Add([]byte("email,created_at\na@b.no,2024-01-01\nb@b.no,\"2024-01-01\n"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, maxRecord uint16) {
		o := Options{Account: "P00000001", Event: "e", MaxRecordBytes: int(maxRecord)}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		src, err := newCSVSource("fuzz.csv", io.NopCloser(strings.NewReader(string(data))), &o)
		if err != nil {
			return
		}
		defer src.Close()
		cols, err := mapColumns(src.Header(), &o)
		if err != nil {
			return
		}
		if err := selectColumns(src, cols); err != nil {
			t.Fatal(err)
		}
		tr, err := newTransformer("fuzz.csv", cols, &o)
		if err != nil {
			t.Fatal(err)
		}
		var rows, imported, rejected, events, line int64
		keys := map[string]bool{}
		for {
			recs, err := src.Read(context.Background(), nil, 16)
			var cut *CutShortError
			if errors.As(err, &cut) {
				if cut.Line < line || cut.BytesUnread < 0 || cut.LinesUnread < 0 {
					t.Fatalf("cut short at line %d after line %d: %+v", cut.Line, line, cut)
				}
				break
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("a read error that is neither EOF nor a cut: %v", err)
			}
			for i := range recs {
				rec := &recs[i]
				if rec.Row != rows || rec.Line < 2 || rec.Line <= line {
					t.Fatalf("record %d: row %d line %d after line %d", rows, rec.Row, rec.Line, line)
				}
				line = rec.Line
				rows++
				size := 0
				for _, f := range rec.Fields {
					size += len(f)
				}
				if size > o.MaxRecordBytes {
					t.Fatalf("record at line %d holds %d bytes, more than %d", rec.Line, size, o.MaxRecordBytes)
				}
				res := &chunkResult{}
				tr.transform(res, rec)
				switch {
				case res.rowsRejected == 1 && len(res.events) == 0:
					rejected++
				case res.rowsRejected == 0 && len(res.events) > 0:
					imported++
				default:
					t.Fatalf("line %d: %d rejected with %d events", rec.Line, res.rowsRejected, len(res.events))
				}
				for _, e := range res.events {
					events++
					keys[fmt.Sprint(e.AccountID, e.TokenType, e.TokenValue, e.Event.Event, e.CreatedAt.UnixMicro())] = true
				}
			}
		}
		if rows != imported+rejected {
			t.Fatalf("rows read %d != imported %d + rejected %d", rows, imported, rejected)
		}
		if duplicates := events - int64(len(keys)); duplicates < 0 || int64(len(keys))+duplicates != events {
			t.Fatalf("events %d, distinct keys %d", events, len(keys))
		}
	})
}
