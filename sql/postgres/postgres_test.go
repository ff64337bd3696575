package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/sql/schema"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pq.Error{Code: "40001"}, true},
		{&pq.Error{Code: "40P01"}, true},
		{&pq.Error{Code: "57P01"}, true},
		{&pq.Error{Code: "08006"}, true},
		{fmt.Errorf("upsert: %w", &pq.Error{Code: "40001"}), true},
		{&pq.Error{Code: "23505"}, false},
		{&pq.Error{Code: "22P02", Message: "connection lost"}, false}, // message text is never read
		{driver.ErrBadConn, true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{errors.New("some other failure"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	p := RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 2 * time.Millisecond}
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := p.Do(context.Background(), log, "x", func() error {
		calls++
		if calls < 3 {
			return &pq.Error{Code: "40P01"}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("transient then success: err %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Do(context.Background(), log, "x", func() error { calls++; return &pq.Error{Code: "23505"} })
	if err == nil || calls != 1 {
		t.Errorf("permanent error retried: %d calls", calls)
	}
	calls = 0
	err = p.Do(context.Background(), log, "x", func() error { calls++; return &pq.Error{Code: "40001"} })
	if err == nil || calls != 4 {
		t.Errorf("attempts not bounded: %d calls", calls)
	}
}

// TestConcurrentOpenMigratesOnce starts several stores at once on an empty
// database: the advisory lock lets one migrate and the others find it done.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testdb.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), dsn, Options{})
			if err == nil {
				err = db.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, err := schema.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if n := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM schema_migrations`); n != int64(len(ms)) {
		t.Errorf("%d migrations recorded, want %d", n, len(ms))
	}
}

// TestEveryQueryParses prepares every embedded query against a migrated
// database, so a typo fails here and not in the middle of a run.
func TestEveryQueryParses(t *testing.T) {
	for _, b := range []testdb.Backend{{Name: "postgres", New: testdb.New}, {Name: "citus", New: testdb.NewCitus}} {
		t.Run(b.Name, func(t *testing.T) { everyQueryParses(t, b.New(t)) })
	}
}

// everyQueryParses prepares every query of the store on dsn's database:
// on a single server all but the Citus ones (queries/citus_*.sql, whose
// tables only a Citus database has), on Citus all.
func everyQueryParses(t *testing.T, dsn string) {
	db, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := queryFS.ReadDir("queries")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	texts := map[string]string{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		if db.citus || !strings.HasPrefix(name, "citus_") {
			texts[name] = query(name)
		}
	}
	for name, text := range texts {
		stmt, err := conn.PrepareContext(ctx, text)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_ = stmt.Close()
	}
}

func TestKeyRanges(t *testing.T) {
	for _, n := range []int{1, 2, 4, 8, 16, 32, 64, 128, 256} {
		prevHi := ""
		for i := 0; i < n; i++ {
			lo, hi := tokenevents.KeyRange(i, n)
			if lo != prevHi || !(lo < hi) {
				t.Fatalf("n=%d range %d: [%q, %q) after %q", n, i, lo, hi, prevHi)
			}
			prevHi = hi
		}
		if prevHi != "~" {
			t.Errorf("n=%d: last range ends at %q", n, prevHi)
		}
		// Every lower-case hex value falls in exactly one range.
		for _, v := range []string{"0000", "0fff", "1000", "7f", "80", "ff", "ffffffff"} {
			hits := 0
			for i := 0; i < n; i++ {
				lo, hi := tokenevents.KeyRange(i, n)
				if v >= lo && v < hi {
					hits++
				}
			}
			if hits != 1 {
				t.Errorf("n=%d: %q falls in %d ranges", n, v, hits)
			}
		}
	}
}

func TestRangesFor(t *testing.T) {
	for _, tt := range []struct {
		tokens int64
		want   int
	}{{0, 1}, {100_000, 1}, {100_001, 2}, {4_100_000, 64}, {1 << 40, maxRanges}} {
		if got := rangesFor(tt.tokens, rangeRows); got != tt.want {
			t.Errorf("rangesFor(%d) = %d, want %d", tt.tokens, got, tt.want)
		}
	}
}

func TestAppendCopyText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "plain",
		"tab\there":     `tab\there`,
		"a\nb\r\nc":     `a\nb\r\nc`,
		`back\slash \N`: `back\\slash \\N`,
		`{"k": "v\"w"}`: `{"k": "v\\"w"}`,
		"blåbær":        "blåbær",
	} {
		if got := string(appendCopyText(nil, in)); got != want {
			t.Errorf("appendCopyText(%q) = %q, want %q", in, got, want)
		}
	}
}

func execErr(_ any, err error) error { return err }

// openStore opens the store at dsn, closed when the test ends.
func openStore(t *testing.T, dsn string, o Options) *DB {
	t.Helper()
	d, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// stageSource starts an import run and stages events, as one batch of the
// source key, in one partition; an event's input row and seq are its index.
// It returns the run's and the source's ids.
func stageSource(t *testing.T, d *DB, key string, partition int, events []tokenevents.StagedEvent) (runID, sourceID int64) {
	t.Helper()
	ctx := context.Background()
	runID, err := d.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.OpenSource(ctx, runID, key, 64)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(events))
	batch := &tokenevents.Batch{SourceID: st.ID, File: "f", Events: append([]tokenevents.StagedEvent(nil), events...),
		Marks: []tokenevents.StageMark{{Partition: partition, UptoRow: n - 1, Events: n}}}
	for i := range batch.Events {
		batch.Events[i].Partition, batch.Events[i].Seq, batch.Events[i].Row = partition, int64(i), int64(i)
	}
	if err := d.StageBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return runID, st.ID
}

// syncBuffer collects log output that a logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// queryRows returns q's rows, each printed as one string.
func queryRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprint(vals))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAfterImport: after an import both token tables have fresh planner
// numbers and no BRIN range left to summarise.
func TestAfterImport(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d := openStore(t, dsn, Options{})
	db := testdb.Open(t, dsn)
	testdb.Must(t, execErr(db.Exec(`INSERT INTO tokens (account_id, token_type, token_value)
		SELECT 'P00000001', 'sha1:email', lpad(to_hex(i), 40, '0') FROM generate_series(1, 3000) i`)), "tokens")
	testdb.Must(t, execErr(db.Exec(`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
		SELECT account_id, token_type, token_value, 'e', now(), 'OPT_OUT', 1 FROM tokens`)), "events")
	if err := d.afterImport(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ table, brin string }{{"tokens", "tokens_written"}, {"token_events", "token_events_written"}} {
		if n := testdb.Count(t, db, `SELECT reltuples::bigint FROM pg_class WHERE oid = $1::regclass`, tc.table); n != 3000 {
			t.Errorf("%s: the planner counts %d rows, want 3000", tc.table, n)
		}
		if n := testdb.Count(t, db, `SELECT brin_summarize_new_values($1::regclass)`, tc.brin); n != 0 {
			t.Errorf("%s: %d ranges were left unsummarised", tc.brin, n)
		}
	}
}

// TestStatisticsRefreshedAfterWrites: a run that wrote events analyses the
// token tables at its end; a run that wrote nothing (an unchanged file
// imported again) leaves them be.
func TestStatisticsRefreshedAfterWrites(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d := openStore(t, dsn, Options{})
	db := testdb.Open(t, dsn)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	run := func(status string) {
		t.Helper()
		runID, sourceID := stageSource(t, d, "k-"+status, 0, []tokenevents.StagedEvent{{Event: tokenevents.Event{
			AccountID: "P00000001", TokenType: "sha1:email", TokenValue: strings.Repeat("0", 40), Event: "e",
			Status: status, CreatedAt: at, Metadata: []byte(`{}`)}}})
		testdb.Must(t, d.StagingDone(ctx, sourceID), "staging done")
		if _, err := d.MergePartition(ctx, runID, sourceID, 0); err != nil {
			t.Fatal(err)
		}
		testdb.Must(t, d.FinishFile(ctx, runID, sourceID, tokenevents.ImportFile{Name: "f", ContentDigest: status,
			OptionsDigest: "o", Outcome: "done"}, false), "finish file")
		testdb.Must(t, d.FinishImport(ctx, runID, "done", []byte(`{}`), time.Now()), "finish import")
	}
	analysed := func() bool {
		return testdb.Count(t, db, `SELECT count(*) FROM pg_statistic WHERE starelid = 'token_events'::regclass`) > 0
	}
	forget := func() {
		testdb.Must(t, execErr(db.Exec(`DELETE FROM pg_statistic WHERE starelid = 'token_events'::regclass`)), "forget")
	}
	run("OPT_OUT")
	if !analysed() {
		t.Error("not analysed after a run that wrote an event")
	}
	forget()
	run("OPT_OUT")
	if analysed() {
		t.Error("analysed after a run that wrote nothing")
	}
	run("OPT_IN")
	if !analysed() {
		t.Error("not analysed after a run that changed an event")
	}
}

// TestStageMigrationKeepsStagedRows: events a resumable run left staged
// before 003_stage_micros.sql come through it as the same instants.
func TestStageMigrationKeepsStagedRows(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	db := testdb.Open(t, dsn)
	ms, err := schema.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	testdb.Must(t, execErr(db.Exec(`CREATE TABLE schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)), "schema_migrations")
	for _, m := range ms {
		if m.Version >= 3 {
			break
		}
		testdb.Must(t, execErr(db.Exec(m.Body)), "%s", m.Name)
		testdb.Must(t, execErr(db.Exec(`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)), "record")
	}
	testdb.Must(t, execErr(db.Exec(`INSERT INTO import_stage (source_id, partition, seq, token_id, account_id, token_type,
		token_value, event, created_at, status, expires_at, metadata)
		VALUES (1, 3, 1, gen_random_uuid(), 'P00000001', 'sha1:email', repeat('0', 40), 'e',
		        '1969-12-31T23:59:58.5Z', 'OPT_OUT', '2030-01-01T00:00:00.123456Z', '{}'),
		       (1, 3, 2, gen_random_uuid(), 'P00000001', 'sha1:email', repeat('1', 40), 'e',
		        '2024-03-01T10:00:00Z', 'OPT_OUT', NULL, '{}')`)), "stage")
	d, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	got := queryRows(t, db, `SELECT created_us, expires_us FROM tokenevents_internal.import_stage ORDER BY seq`)
	want := []string{"[-1500000 1893456000123456]", "[1709287200000000 <nil>]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("staged rows after the migration: %q, want %q", got, want)
	}
}

// TestApplicationName: connections carry the program's name for a DBA's
// pg_stat_activity, unless the connection string names one.
func TestApplicationName(t *testing.T) {
	dsn := testdb.New(t)
	for _, tc := range []struct{ dsn, want string }{
		{dsn, "tokenevents-import"},
		{dsn + "&application_name=nightly", "nightly"},
	} {
		d := openStore(t, tc.dsn, Options{ApplicationName: "tokenevents-import"})
		var got string
		if err := d.db.Get(&got, `SELECT current_setting('application_name')`); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("application_name %q, want %q", got, tc.want)
		}
	}
	if got := withApplicationName("host=h dbname=x", "a"); got != "host=h dbname=x application_name=a" {
		t.Errorf("key=value form: %q", got)
	}
}

// TestInternalSchema: \dt in public lists what data teams query; staging,
// ledgers and work tables are in tokenevents_internal, and a run uses them
// there.
func TestInternalSchema(t *testing.T) {
	dsn := testdb.New(t)
	openStore(t, dsn, Options{})
	db := testdb.Open(t, dsn)
	tables := func(schema string) []string {
		var out []string
		for _, r := range queryRows(t, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = '`+schema+`' ORDER BY table_name`) {
			out = append(out, strings.Trim(r, "[]"))
		}
		return out
	}
	wantPublic := []string{"customers", "import_files", "import_runs", "reconcile_changes", "reconcile_runs",
		"schema_migrations", "token_events", "token_statuses", "tokens"}
	if got := tables("public"); fmt.Sprint(got) != fmt.Sprint(wantPublic) {
		t.Errorf("public holds %q, want %q", got, wantPublic)
	}
	internal := tables("tokenevents_internal")
	for _, name := range []string{"import_ledger", "import_sources", "import_stage", "import_stage_p00", "import_stage_p63",
		"import_stage_customers_p17", "import_stage_links_p42", "reconcile_watermarks", "reconcile_work"} {
		if !slices.Contains(internal, name) {
			t.Errorf("tokenevents_internal has no %s", name)
		}
	}
}
