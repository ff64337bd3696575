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

// BenchmarkCSVRead reads records only (no normalisation).
func BenchmarkCSVRead(b *testing.B) {
	data := benchExport(b, 20000)
	o := Options{Account: "P00000001", Event: "e"}
	_ = o.Validate()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src, err := newCSVSource("bench.csv", io.NopCloser(bytes.NewReader(data)), &o)
		if err != nil {
			b.Fatal(err)
		}
		var recs []Record
		for {
			recs, err = src.Read(context.Background(), recs[:0], 512)
			if err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCSVTransform reads and normalises and hashes, on one core.
func BenchmarkCSVTransform(b *testing.B) {
	data := benchExport(b, 20000)
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
		tr, _ := newTransformer("bench.csv", cols, &o)
		var recs []Record
		for {
			recs, err = src.Read(context.Background(), recs[:0], 512)
			if err != nil {
				break
			}
			res := &chunkResult{}
			for i := range recs {
				tr.transform(res, &recs[i])
			}
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "rows/s")
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
