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
	customers []string
}

// TestBackendsAgree tells the same story to PostgreSQL, to the embedded
// store and to a Citus cluster — the repository's fixtures (messy CSV, Parquet from DuckDB and
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
	var cbuf bytes.Buffer
	if err := fixtures.GenerateCustomers(&cbuf, fixtures.Config{Rows: 1500, Seed: 23, Accounts: 3, Tokens: 2000, DupRate: 0.2, BadRate: 0.01}); err != nil {
		t.Fatal(err)
	}
	customers := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(customers, cbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	edges := filepath.Join(dir, "edges.csv")
	if err := os.WriteFile(edges, []byte(edgeRows()), 0o644); err != nil {
		t.Fatal(err)
	}
	second := gen("second.csv", fixtures.Config{Rows: 1500, Seed: 22, Phones: true, Accounts: 3, Tokens: 3000, DupRate: 0.05, BadRate: 0.003})

	backends := testdb.Backends()
	var got []history
	for _, b := range backends {
		target := b.New(t) // skips without a server or cluster, outside CI
		got = append(got, tell(t, target, dir, first, second, edges, customers))
	}
	pg := got[0]
	t.Logf("compared %d import runs, %d reconcile lines, %d events, %d statuses", len(pg.imports), len(pg.reconcile), len(pg.events), len(pg.statuses))
	for i, other := range got[1:] {
		name := backends[i+1].Name
		for _, part := range []struct {
			name      string
			pg, other []string
		}{
			{"import summaries", pg.imports, other.imports},
			{"reconcile summaries and reports", pg.reconcile, other.reconcile},
			{"token_events", pg.events, other.events},
			{"token_statuses", pg.statuses, other.statuses},
			{"customers and links", pg.customers, other.customers},
		} {
			if len(part.pg) == 0 {
				t.Errorf("%s: nothing to compare", part.name)
			}
			if a, b := strings.Join(part.pg, "\n"), strings.Join(part.other, "\n"); a != b {
				t.Errorf("%s differ between PostgreSQL and %s:\n%s", part.name, name, firstDiff(name, part.pg, part.other))
			}
		}
	}
}

func firstDiff(name string, a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("line %d:\n  postgres: %s\n  %-9s %s", i, a[i], name+":", b[i])
		}
	}
	return fmt.Sprintf("%d lines vs %d", len(a), len(b))
}

// edgeRows is a file of the limits and instants SPEC §10 names: year 1 and
// year 9999, sub-microsecond fractions (rounded, or out of range once
// rounded), expires_at at or before created_at, a NUL byte in the event
// and in store_id, events and store ids at their limit and one byte past
// it, and a tab in free text. Every store must keep or refuse the same rows.
func edgeRows() string {
	tok := func(i int) string { return fmt.Sprintf("%040x", 0xed0000+i) }
	long := func(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("x", n%2) }
	rows := [][]string{
		{tok(1), "year one", "0001-01-01T00:00:00Z", "", ""},
		{tok(2), "year one expired", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", ""},
		{tok(3), "last instant", "9999-12-31T23:59:59.999999Z", "", ""},
		{tok(4), "rounds past 9999", "9999-12-31T23:59:59.9999995Z", "", ""},
		{tok(5), "year zero", "0000-12-31T23:59:59Z", "", ""},
		{tok(6), "half up", "2024-03-01T10:00:00.1234565Z", "2024-03-01T10:00:00.0000004Z", ""},
		{tok(7), "expires at creation", "2024-03-01 10:00:00", "2024-03-01T10:00:00Z", ""},
		{tok(8), "nul\x00event", "2024-03-01", "", ""},
		{tok(9), "nul store", "2024-03-01", "", "s\x00"},
		{tok(10), long(1024), "2024-03-01", "", long(4096)},
		{tok(11), long(1025), "2024-03-01", "", ""},
		{tok(12), "store too long", "2024-03-01", "", long(4097)},
		{tok(13), "tab\tinside", "2024-03-01", "", "a\tb"},
		{tok(14), "offset back to year one", "0001-01-01T01:00:00+01:00", "", ""},
		{tok(15), "offset before year one", "0001-01-01T00:30:00+01:00", "", ""},
	}
	var b strings.Builder
	b.WriteString("token_type,token_value,event,created_at,expires_at,store_id\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "sha1:email,%s,\"%s\",%s,%s,\"%s\"\n", r[0], strings.ReplaceAll(r[1], `\t`, "\t"), r[2], r[3],
			strings.ReplaceAll(r[4], `\t`, "\t"))
	}
	return b.String()
}

func tell(t *testing.T, target, dir, first, second, edges, customers string) history {
	t.Helper()
	ctx := context.Background()
	s := teststore.Open(t, target)
	var h history
	importFiles := func(o pipeline.Options, paths ...string) {
		t.Helper()
		o.RejectsPath = filepath.Join(t.TempDir(), "rejects.csv")
		sum, err := teststore.Import(t, s, o, paths...)
		if err != nil {
			t.Fatalf("import %v: %v", paths, err)
		}
		h.imports = append(h.imports, fmt.Sprintf("%s files=%d skipped=%d read=%d rejected=%d pending=%d events=%d new=%d updated=%d unchanged=%d dups=%d tokens=%d expired_on_arrival=%d customers=%d/%d/%d links=%d/%d/%d",
			sum.Outcome, sum.Files, sum.FilesSkipped, sum.RowsRead, sum.RowsRejected, sum.RowsPending, sum.Events, sum.EventsNew,
			sum.EventsUpdated, sum.EventsUnchanged, sum.Duplicates, sum.TokensNew, sum.EventsExpiredOnArrival,
			sum.CustomersNew, sum.CustomersUpdated, sum.CustomersUnchanged, sum.LinksNew, sum.LinksMoved, sum.LinksUnchanged))
		if rejects, err := os.ReadFile(o.RejectsPath); err == nil {
			for _, line := range strings.Split(string(rejects), "\n") {
				if _, rest, ok := strings.Cut(line, ","); ok { // without the file's path
					h.imports = append(h.imports, "  reject "+rest)
				}
			}
		}
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
	importFiles(pipeline.Options{Account: "P00000001"}, edges)
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
	importFiles(pipeline.Options{Customers: true}, customers)
	importFiles(pipeline.Options{Customers: true, Force: true}, customers) // a replay: nothing changes
	reconcileAt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), false)
	reconcileAt(time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), false) // back in time
	reconcileAt(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), true)

	h.events = testdb.Dump(t, db)
	h.statuses = testdb.DumpStatuses(t, db)
	h.customers = testdb.DumpCustomers(t, db)
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
