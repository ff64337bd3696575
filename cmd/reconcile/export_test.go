package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

// rowsIn counts the data rows of a snapshot or report file.
func rowsIn(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".parquet") {
		fi, _ := f.Stat()
		pf, err := parquet.OpenFile(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		return pf.NumRows()
	}
	var n int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
	}
	if strings.HasSuffix(path, ".csv") {
		n-- // the header
	}
	return n
}

// TestExportSnapshot: reconcile export writes every token's current
// status, N tokens → N rows in each format, filtered by account and
// status; --run N writes a past run's diff report again.
func TestExportSnapshot(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		seed(t, dsn)
		code, first, stderr := runCmd(t, "--db", dsn, "--as-of", "2024-06-01", "--report", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		tokens := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM tokens`)
		dir := t.TempDir()
		for _, ext := range []string{"csv", "jsonl", "parquet"} {
			path := filepath.Join(dir, "snapshot."+ext)
			if code, _, stderr := runCmd(t, "export", "--db", dsn, "--report", path); code != 0 {
				t.Fatalf("%s: exit %d: %s", ext, code, stderr)
			}
			if n := rowsIn(t, path); n != tokens {
				t.Errorf("%s: %d rows for %d tokens", ext, n, tokens)
			}
		}
		code, out, _ := runCmd(t, "export", "--db", dsn, "--status", "OPT_OUT", "--account", "P00000001", "--report", "-")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 || !strings.Contains(lines[1], ",OPT_OUT,event,till,") {
			t.Errorf("--status OPT_OUT: exit %d\n%s", code, out)
		}
		code, again, _ := runCmd(t, "--db", dsn, "--run", "2", "--report", "-")
		if code != 0 || again != first {
			t.Errorf("--run 2: exit %d\n%s\nwant\n%s", code, again, first)
		}
		if code, _, _ := runCmd(t, "--db", dsn, "--run", "99", "--report", "-"); code != exitUsage {
			t.Errorf("--run of a missing run: exit %d", code)
		}
	})
}
