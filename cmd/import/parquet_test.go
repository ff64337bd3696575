package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

const parquetDir = "../../fixtures/parquet"

// importDump imports paths into a fresh database and returns its events.
func importDump(t *testing.T, be testdb.Backend, args ...string) (result, []string) {
	t.Helper()
	dsn := be.New(t)
	r := runImport(t, dsn, "", append([]string{"--event", "till", "--max-rejects", "100%",
		"--rejects", filepath.Join(t.TempDir(), "rejects.csv")}, args...)...)
	return r, testdb.Dump(t, testdb.Open(t, dsn))
}

var fraction = regexp.MustCompile(`(\d\d:\d\d:\d\d\.\d{3})\d{3}`)

// TestParquetMatchesCSV imports the same logical rows as CSV and as Parquet
// files written by DuckDB and by parquet-go, with every type, codec and
// encoding the fixtures hold, and requires identical stored events.
func TestParquetMatchesCSV(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		_, want := importDump(t, be, filepath.Join(parquetDir, "rows.csv"))
		if len(want) != 8 {
			t.Fatalf("CSV reference stored %d events, want 8", len(want))
		}
		files := []struct {
			name   string
			millis bool // stores milliseconds: compare at that precision
		}{
			{name: "duckdb-snappy.parquet"},
			{name: "duckdb-zstd-rowgroups.parquet"},
			{name: "duckdb-gzip-local.parquet"},
			{name: "go-int96-dict.parquet"},
			{name: "go-millis-local.parquet", millis: true},
			{name: "go-nanos-gzip.parquet"},
		}
		for _, f := range files {
			t.Run(f.name, func(t *testing.T) {
				r, got := importDump(t, be, filepath.Join(parquetDir, f.name))
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				if r.sum.RowsRead != 8 || r.sum.RowsRejected != 1 || r.sum.FieldsRejected != 2 {
					t.Errorf("summary %+v", r.sum)
				}
				w := want
				if f.millis {
					w = nil
					for _, line := range want {
						w = append(w, fraction.ReplaceAllString(line, "${1}000"))
					}
				}
				if strings.Join(got, "\n") != strings.Join(w, "\n") {
					t.Errorf("stored:\n%s\nwant (from CSV):\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
				}
			})
		}
	})
}

// TestParquetLocalTimestamps: timestamps not adjusted to UTC are wall-clock
// times, read in --timezone; adjusted ones are instants and ignore it.
func TestParquetLocalTimestamps(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		_, local := importDump(t, be, "--timezone", "Europe/Oslo", filepath.Join(parquetDir, "duckdb-gzip-local.parquet"))
		_, instants := importDump(t, be, "--timezone", "Europe/Oslo", filepath.Join(parquetDir, "duckdb-snappy.parquet"))
		_, utc := importDump(t, be, filepath.Join(parquetDir, "duckdb-snappy.parquet"))
		if strings.Join(instants, "\n") != strings.Join(utc, "\n") {
			t.Error("--timezone changed instants stored with isAdjustedToUTC")
		}
		joined := strings.Join(local, "\n")
		if !strings.Contains(joined, "|2024-03-01T09:15:00.000000|") || strings.Contains(joined, "|2024-03-01T10:15:00.000000|") {
			t.Errorf("wall-clock 10:15 in Europe/Oslo should be stored as 09:15 UTC:\n%s", joined)
		}
	})
}

func TestParquetRejectsUseRowIndex(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		rej := filepath.Join(dir, "rejects.csv")
		dsn := be.New(t)
		f := filepath.Join(parquetDir, "go-int96-dict.parquet")
		r := runImport(t, dsn, "", "--event", "till", "--max-rejects", "100%", "--rejects", rej, f)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		rows := readRejects(t, rej)
		want := [][]string{
			{"file", "line", "column", "reason", "value"},
			{f, "4", "email", "email: e-mail must contain exactly one @", "b***"},
			{f, "5", "phone_number", "phone_number: phone number is not a valid number", "467******67"},
			{f, "6", "", "no identifier: email, phone_number and token_value are all empty", ""},
		}
		if flat(rows) != flat(want) {
			t.Errorf("rejects:\n%s\nwant:\n%s", flat(rows), flat(want))
		}
	})
}

type nestedRow struct {
	Email struct {
		Address string `parquet:"address"`
	} `parquet:"email"`
	CreatedAt string `parquet:"created_at"`
}

type oddTypesRow struct {
	Email     string `parquet:"email"`
	CreatedAt bool   `parquet:"created_at"`
}

func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadParquetFiles: truncated files, wrong magic bytes, a nested column
// and a column of an unexpected type give clear errors naming the file,
// never a panic, and the run's other files still import.
func TestBadParquetFiles(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		good, err := os.ReadFile(filepath.Join(parquetDir, "duckdb-snappy.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		goodCSV := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		truncated := writeFile(t, dir, "truncated.parquet", good[:len(good)/2])
		noMagic := writeFile(t, dir, "magic.parquet", append([]byte("PAR0"), good[4:]...))
		footer := append([]byte(nil), good...)
		copy(footer[len(footer)-200:], bytes.Repeat([]byte{0xff}, 190))
		badFooter := writeFile(t, dir, "footer.parquet", footer)
		nested := filepath.Join(dir, "nested.parquet")
		writeParquet(t, nested, []nestedRow{{CreatedAt: "2024-01-01"}})
		odd := filepath.Join(dir, "odd.parquet")
		writeParquet(t, odd, []oddTypesRow{{Email: "kari@example.no", CreatedAt: true}})

		tests := []struct {
			name    string
			file    string
			code    int
			wantErr string
		}{
			{"truncated", truncated, 1, "truncated.parquet"},
			{"wrong magic", noMagic, 1, "magic.parquet"},
			{"corrupt footer", badFooter, 1, "footer.parquet"},
			{"nested column", nested, 2, `column "email" is nested or repeated`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dsn := be.New(t)
				r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e",
					"--rejects", filepath.Join(dir, "rej.csv"), tt.file, goodCSV)
				if r.code != tt.code {
					t.Fatalf("exit %d, want %d: %s", r.code, tt.code, r.stderr)
				}
				if !strings.Contains(r.stderr, tt.wantErr) {
					t.Errorf("stderr lacks %q:\n%s", tt.wantErr, r.stderr)
				}
				if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
					t.Errorf("stack trace on stderr:\n%s", r.stderr)
				}
				if tt.code == 1 {
					if testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM token_events`) != 1 {
						t.Error("the good file beside the bad one was not imported")
					}
				}
			})
		}

		t.Run("unexpected type", func(t *testing.T) {
			dsn := be.New(t)
			rej := filepath.Join(dir, "odd-rejects.csv")
			r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "100%", "--rejects", rej, odd)
			if r.code != 0 || r.sum.RowsRejected != 1 {
				t.Fatalf("exit %d, summary %+v: %s", r.code, r.sum, r.stderr)
			}
			if rows := readRejects(t, rej); rows[1][2] != "created_at" || !strings.Contains(rows[1][3], "not a timestamp") || rows[1][4] != "true" {
				t.Errorf("rejects %q", rows)
			}
		})
	})
}
