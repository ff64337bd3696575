package pipeline

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/tokenevents/tokenevents/fixtures"
)

func benchExport(b *testing.B, rows int) []byte {
	var buf bytes.Buffer
	if err := fixtures.Generate(&buf, fixtures.Config{Rows: rows, Seed: 1, Phones: true}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// benchCSV reads a generated export chunk by chunk, b.N times, passing each
// chunk to fn (which may be nil).
func benchCSV(b *testing.B, fn func(*columns) func([]Record)) {
	const rows = 20000
	data := benchExport(b, rows)
	o := Options{Account: "P00000001", Event: "e"}
	_ = o.Validate()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src, err := newCSVSource("bench.csv", io.NopCloser(bytes.NewReader(data)), &o)
		if err != nil {
			b.Fatal(err)
		}
		cols, err := mapColumns(src.Header(), &o)
		if err != nil {
			b.Fatal(err)
		}
		chunk := fn(cols)
		var recs []Record
		for {
			if recs, err = src.Read(context.Background(), recs[:0], 512); err != nil {
				break
			}
			chunk(recs)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCSVRead reads records only (no normalisation).
func BenchmarkCSVRead(b *testing.B) {
	benchCSV(b, func(*columns) func([]Record) { return func([]Record) {} })
}

// BenchmarkCSVTransform reads, normalises and hashes, on one core.
func BenchmarkCSVTransform(b *testing.B) {
	o := Options{Account: "P00000001", Event: "e"}
	_ = o.Validate()
	benchCSV(b, func(cols *columns) func([]Record) {
		tr, err := newTransformer("bench.csv", cols, &o)
		if err != nil {
			b.Fatal(err)
		}
		return func(recs []Record) {
			res := &chunkResult{}
			for i := range recs {
				tr.transform(res, &recs[i])
			}
		}
	})
}

// BenchmarkParquetRead reads every column of a DuckDB-written fixture.
func BenchmarkParquetRead(b *testing.B) {
	data, err := os.ReadFile("../fixtures/parquet/duckdb-zstd-rowgroups.parquet")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src, err := openParquet("bench.parquet", bytes.NewReader(data), int64(len(data)), io.NopCloser(nil))
		if err != nil {
			b.Fatal(err)
		}
		ps := src.(*parquetSource)
		var all []int
		for i, l := range ps.leaf {
			if l >= 0 {
				all = append(all, i)
			}
		}
		_ = ps.useColumns(all)
		for {
			if _, err := src.Read(context.Background(), nil, 512); err != nil {
				break
			}
		}
	}
}
