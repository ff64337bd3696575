package pipeline

import (
	"context"
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

// FuzzCSVSource feeds arbitrary bytes to the CSV reader and the row
// transformer: they must never panic, every record must carry a line
// number, and rows must be numbered consecutively.
func FuzzCSVSource(f *testing.F) {
	f.Add([]byte("email,created_at\nkari@example.no,2024-01-01\n"))
	f.Add([]byte("\ufeffemail;phone;created_at\r\n\"a\r\nb\";912 34 567;2024-01-01\r\n"))
	f.Add([]byte("email|created_at\n\"unterminated|2024\n"))
	f.Add([]byte("\x1f\x8b\x08\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := Options{Account: "P00000001", Event: "e"}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		src, err := newCSVSource("fuzz.csv", io.NopCloser(strings.NewReader(string(data))), &o)
		if err != nil {
			return
		}
		defer src.Close()
		cols, err := mapColumns(src.Header(), &o)
		var tr *transformer
		if err == nil {
			if tr, err = newTransformer("fuzz.csv", cols, &o); err != nil {
				t.Fatal(err)
			}
		}
		var row int64
		for {
			recs, err := src.Read(context.Background(), nil, 16)
			if err != nil {
				return
			}
			for i := range recs {
				if recs[i].Row != row || recs[i].Line < 2 {
					t.Fatalf("record %d: row %d line %d", row, recs[i].Row, recs[i].Line)
				}
				row++
				if tr != nil {
					res := &chunkResult{}
					tr.transform(res, &recs[i])
					if res.rowsRejected+int64(len(res.events)) == 0 {
						t.Fatalf("row neither rejected nor imported")
					}
				}
			}
		}
	})
}
