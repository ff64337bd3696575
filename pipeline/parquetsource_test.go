package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/deprecated"
)

func TestInt96Time(t *testing.T) {
	// 2024-03-01T10:15:00.5Z: Julian day 2460371, 36900.5 s into the day.
	nanos := uint64(36900*time.Second + 500*time.Millisecond)
	got := int96Time(deprecated.Int96{uint32(nanos), uint32(nanos >> 32), 2460371})
	if want := time.Date(2024, 3, 1, 10, 15, 0, 5e8, time.UTC); !got.Equal(want) {
		t.Errorf("int96Time = %v, want %v", got, want)
	}
}

// FuzzParquetSource mutates real fixture files: opening and reading must
// return rows or an error, never panic or hang.
func FuzzParquetSource(f *testing.F) {
	paths, _ := filepath.Glob("../fixtures/parquet/*.parquet")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := openParquet("fuzz.parquet", bytes.NewReader(data), int64(len(data)), io.NopCloser(nil))
		if errors.Is(err, errReaderPanic) {
			t.Fatalf("the Parquet library panicked opening the file: %v", err)
		}
		if err != nil {
			return
		}
		defer src.Close()
		ps := src.(*parquetSource)
		var all []int
		for i, l := range ps.leaf {
			if l >= 0 {
				all = append(all, i)
			}
		}
		if err := ps.useColumns(all); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 1000; n++ {
			_, err := src.Read(context.Background(), nil, 7)
			if errors.Is(err, errReaderPanic) {
				t.Fatalf("the Parquet library panicked reading the file: %v", err)
			}
			if err != nil {
				return
			}
		}
	})
}
