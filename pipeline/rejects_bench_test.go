package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRejectsWrite is what writing one reject line costs the
// sequencer (the one goroutine that sees results in input order), to a
// file and to /dev/null; the benchmark's noisy export has ~0.18 rejects a
// row.
func BenchmarkRejectsWrite(b *testing.B) {
	rs := make([]Reject, 256)
	for i := range rs {
		rs[i] = Reject{File: "export-noisy.csv", Line: int64(1000 + i), Column: "phone_number",
			Reason: "phone_number: not a valid number", Value: "+47 43•••••12"}
	}
	for _, tc := range []struct{ name, path string }{
		{"file", filepath.Join(b.TempDir(), "rejects.csv")},
		{"devnull", os.DevNull},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := &rejectsFile{path: tc.path}
			for b.Loop() {
				if err := r.write(rs); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := r.close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*int64(len(rs))), "ns/reject")
		})
	}
}
