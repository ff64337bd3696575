package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/fixtures"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/reconcile"
	"github.com/tokenevents/tokenevents/sql/store"
)

// history is what one backend ends up with after the same story.
type history struct {
	imports   []string // summaries, without times and run ids
	reconcile []string // summaries and reports, without token ids
	events    []string
	statuses  []string
}

// TestBackendsAgree tells the same story to PostgreSQL and to the embedded
// store — the repository's fixtures (messy CSV, Parquet from DuckDB and
// parquet-go), generated exports with duplicates, bad rows, phones and
// several accounts, a --force re-import, an unchanged file, customers,
// full and incremental reconciles with --as-of moving back and forth — and
// requires identical import counts, stored events, statuses and reports.
func TestBackendsAgree(t *testing.T) {
	dir := t.TempDir()
	gen := func(name string, c fixtures.Config) string {
		var buf bytes.Buffer
		if err := fixtures.Generate(&buf, c); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := gen("first.csv", fixtures.Config{Rows: 4000, Seed: 21, Phones: true, Accounts: 3, DupRate: 0.1, BadRate: 0.003})
	second := gen("second.csv", fixtures.Config{Rows: 1500, Seed: 22, Phones: true, Accounts: 3, Tokens: 3000, DupRate: 0.05, BadRate: 0.003})

	var got []history
	for _, b := range testdb.Backends() {
		target := b.New(t) // skips the PostgreSQL half without a server, outside CI
		got = append(got, tell(t, target, dir, first, second))
	}
	pg, lite := got[0], got[1]
	t.Logf("compared %d import runs, %d reconcile lines, %d events, %d statuses", len(pg.imports), len(pg.reconcile), len(pg.events), len(pg.statuses))
	for _, part := range []struct {
		name    string
		pg, sql []string
	}{
		{"import summaries", pg.imports, lite.imports},
		{"reconcile summaries and reports", pg.reconcile, lite.reconcile},
		{"token_events", pg.events, lite.events},
		{"token_statuses", pg.statuses, lite.statuses},
	} {
		if len(part.pg) == 0 {
			t.Errorf("%s: nothing to compare", part.name)
		}
		if a, b := strings.Join(part.pg, "\n"), strings.Join(part.sql, "\n"); a != b {
			t.Errorf("%s differ between PostgreSQL and SQLite:\n%s", part.name, firstDiff(part.pg, part.sql))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d:\n  postgres: %s\n  sqlite:   %s", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("%d lines vs %d", len(a), len(b))
}

func tell(t *testing.T, target, dir, first, second string) history {
	t.Helper()
	ctx := context.Background()
	s := teststore.Open(t, target)
	var h history
	importFiles := func(o pipeline.Options, paths ...string) {
		t.Helper()
		o.RejectsPath = filepath.Join(t.TempDir(), "rejects.csv")
		o.MaxRejects = pipeline.RejectLimit{Count: -1, Percent: 100}
		im, err := pipeline.NewImporter(o, nil)
		if err != nil {
			t.Fatal(err)
		}
		files, err := im.Preflight(context.Background(), paths)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := im.Run(ctx, s, files)
		if err != nil {
			t.Fatalf("import %v: %v", paths, err)
		}
		h.imports = append(h.imports, fmt.Sprintf("%s files=%d skipped=%d read=%d rejected=%d events=%d new=%d updated=%d unchanged=%d dups=%d tokens=%d",
			sum.Outcome, sum.Files, sum.FilesSkipped, sum.RowsRead, sum.RowsRejected, sum.Events, sum.EventsNew,
			sum.EventsUpdated, sum.EventsUnchanged, sum.Duplicates, sum.TokensNew))
	}
	reconcileAt := func(asOf time.Time, full bool) {
		t.Helper()
		sum, err := reconcile.Run(ctx, s, reconcile.Options{ReconcileOptions: tokenevents.ReconcileOptions{AsOf: asOf, Full: full, Workers: 2}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		examined := "" // an incremental run examines what its watermark lets in: PostgreSQL's
		// (the oldest running transaction's id, server-wide) may let in more
		if full {
			examined = fmt.Sprint(" examined=", sum.Examined)
		}
		h.reconcile = append(h.reconcile, fmt.Sprintf("as of %s full=%v: accounts=%d%s changed=%d %v",
			asOf.Format(time.RFC3339), full, sum.Accounts, examined, sum.Changed, sum.Transitions))
		err = s.Report(ctx, sum.RunID, func(c tokenevents.Change) error {
			if len(c.TokenID) != 36 {
				t.Errorf("token id %q", c.TokenID)
			}
			c.TokenID = "" // random per database
			h.reconcile = append(h.reconcile, fmt.Sprintf("%+v", c))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	db := testdb.Open(t, target)

	importFiles(pipeline.Options{}, "../../fixtures/store-optouts.csv", first)
	importFiles(pipeline.Options{Event: "till"}, "../../fixtures/parquet/duckdb-snappy.parquet", "../../fixtures/parquet/go-int96-dict.parquet")
	reconcileAt(time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), false)
	importFiles(pipeline.Options{ExpiresAfter: 30 * 24 * time.Hour}, second)
	importFiles(pipeline.Options{Force: true}, first)
	importFiles(pipeline.Options{}, first) // unchanged: skipped
	for _, q := range []string{
		`INSERT INTO customers (account_id, customer_id, status) VALUES ('P00000001', 'c1', 'OPT_IN')`,
		`INSERT INTO customers (account_id, customer_id, status, deleted_at) VALUES ('P00000001', 'c2', 'PAUSED', '2024-09-01T00:00:00Z')`,
		`UPDATE tokens SET customer_id = 'c1' WHERE account_id = 'P00000001' AND token_value < '08'`,
		`UPDATE tokens SET customer_id = 'c2' WHERE account_id = 'P00000001' AND token_value >= 'f8'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	reconcileAt(time.Date(2024, 8, 1, 0, 0, 0, 0, time.UTC), false)
	reconcileAt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), false)
	reconcileAt(time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), false) // back in time
	reconcileAt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true)

	h.events = testdb.Dump(t, db)
	h.statuses = testdb.DumpStatuses(t, db)
	return h
}

func TestResolve(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name, flag string
		env        func(string) string
		sqlite     string
		dflt       bool
		pg         bool
	}{
		{"nothing named", "", env(), store.DefaultPath, true, false},
		{"sqlite: prefix", "sqlite:/tmp/x", env(), "/tmp/x", false, false},
		{"sqlite:// prefix", "sqlite:///tmp/x", env(), "/tmp/x", false, false},
		{".db path", "data/te.db", env(), "data/te.db", false, false},
		{".sqlite path", "te.SQLITE", env(), "te.SQLITE", false, false},
		{"postgres URL", "postgres://h/db", env(), "", false, true},
		{"key=value DSN", "host=h dbname=x.db", env(), "", false, true},
		{"DATABASE_URL", "", env("DATABASE_URL", "postgres://h/db"), "", false, true},
		{"DATABASE_URL names sqlite", "", env("DATABASE_URL", "sqlite:a.db"), "a.db", false, false},
		{"PGHOST", "", env("PGHOST", "/var/run/postgresql"), "", false, true},
		{"flag beats PGHOST", "x.db", env("PGHOST", "h"), "x.db", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.Resolve(tt.flag, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got.SQLitePath != tt.sqlite || got.Default != tt.dflt || (got.SQLitePath == "") != tt.pg {
				t.Errorf("Resolve(%q) = %+v", tt.flag, got)
			}
		})
	}
	if _, err := store.Resolve("sqlite:", env()); err == nil {
		t.Error("sqlite: without a path accepted")
	}
}
