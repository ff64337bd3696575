package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRejectsFileCountsAndTimesItsWrites(t *testing.T) {
	tests := []struct {
		name    string
		batches [][]Reject
		want    string // the file; "" when none is created
	}{
		{"no rejects: no file", [][]Reject{nil, {}}, ""},
		{"two batches", [][]Reject{
			{{File: "a.csv", Line: 2, Column: "email", Reason: "email: e-mail must contain exactly one @", Value: "n***"}},
			{{File: "a.csv", Line: 7, Column: "phone", Reason: "phone_number: not a valid number", Value: "+47 43•••••12"},
				{File: "a.csv", Line: 9, Reason: "no identifier"}},
		}, "file,line,column,reason,value\n" +
			"a.csv,2,email,email: e-mail must contain exactly one @,n***\n" +
			"a.csv,7,phone,phone_number: not a valid number,+47 43•••••12\n" +
			"a.csv,9,,no identifier,\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &rejectsFile{path: filepath.Join(t.TempDir(), "rejects.csv")}
			var n int64
			for _, b := range tc.batches {
				if err := r.write(b); err != nil {
					t.Fatal(err)
				}
				n += int64(len(b))
			}
			path, err := r.close()
			if err != nil {
				t.Fatal(err)
			}
			if r.n != n {
				t.Errorf("counted %d rejects, wrote %d", r.n, n)
			}
			if tc.want == "" {
				if path != "" || r.spent != 0 {
					t.Errorf("no rejects: path %q, spent %v; want none", path, r.spent)
				}
				if _, err := os.Stat(r.path); !os.IsNotExist(err) {
					t.Errorf("a file was created: %v", err)
				}
				return
			}
			if r.spent <= 0 {
				t.Errorf("spent %v writing rejects; want > 0", r.spent)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ReplaceAll(string(got), "\r\n", "\n") != tc.want {
				t.Errorf("file:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
