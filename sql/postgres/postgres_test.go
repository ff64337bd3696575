package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	dsn := testdb.New(t)
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
	texts := map[string]string{
		"reconcile full":        query("reconcile_decide_full") + query("reconcile_store"),
		"reconcile incremental": query("reconcile_decide_work") + query("reconcile_store"),
		"merge":                 query("merge_staged") + query("merge_partition"),
		"merge with upserts":    query("merge_staged") + query("merge_partition_upsert"),
		"merge of new ranges":   query("merge_staged") + query("merge_partition_new"),
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		if !strings.HasPrefix(name, "reconcile_decide_") && name != "reconcile_store" && !strings.HasPrefix(name, "merge_") { // fragments, composed above
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

// TestMergeFallsBackToUpserts: an event that another writer stores while
// a partition is merged makes the plain insert fail with a unique
// violation; the partition is then merged with upserts, with the right
// counts. The writer's transaction is still open when the merge checks
// for stored rows, so the merge takes the path without probes and meets
// the writer's row only at the insert.
func TestMergeFallsBackToUpserts(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	var logs syncBuffer
	d, err := Open(ctx, dsn, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runID, err := d.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.OpenSource(ctx, runID, "k", 64)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ev := func(value, status string) tokenevents.StagedEvent {
		return tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: "P00000001", TokenType: "sha1:email",
			TokenValue: value, Event: "e", Status: status, CreatedAt: at, Metadata: []byte(`{}`)}, TokenID: [16]byte{1}}
	}
	a, b := strings.Repeat("0", 40), strings.Repeat("01", 20)
	batch := &tokenevents.Batch{SourceID: st.ID, File: "f", Events: []tokenevents.StagedEvent{ev(a, "OPT_OUT"), ev(b, "OPT_IN")},
		Marks: []tokenevents.StageMark{{Partition: 0, UptoRow: 1, Events: 2}}}
	batch.Events[1].Seq, batch.Events[1].Row = 1, 1
	if err := d.StageBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, dsn)
	writer, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Rollback() }()
	if _, err := writer.Exec(`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
		VALUES ('P00000001', 'sha1:email', $1, 'e', $2, 'OPT_IN', 0)`, a, at); err != nil {
		t.Fatal(err)
	}
	type result struct {
		c   tokenevents.MergeCounts
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := d.MergePartition(ctx, runID, st.ID, 0)
		done <- result{c, err}
	}()
	// Commit once the merge waits for the writer's row.
	deadline := time.Now().Add(10 * time.Second)
	for testdb.Count(t, db, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the merge never waited for the writer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := writer.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if c := r.c; c.Staged != 2 || c.New != 1 || c.Updated != 1 || c.Unchanged != 0 || c.Duplicates != 0 {
		t.Errorf("counts %+v", c)
	}
	if !strings.Contains(logs.String(), "merging the partition again with upserts") {
		t.Errorf("no fallback to upserts logged: %s", logs.String())
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM token_events WHERE token_value = $1 AND status = 'OPT_OUT'`, a); n != 1 {
		t.Error("the staged event did not win over the one written meanwhile")
	}
}

// TestStagedRangesEmpty: a partition is merged without probes only when
// nothing is stored, per staged account, between its lowest and highest
// staged token value.
func TestStagedRangesEmpty(t *testing.T) {
	ctx := context.Background()
	lo, mid, hi, above := "04"+strings.Repeat("0", 38), "05"+strings.Repeat("0", 38), "06"+strings.Repeat("0", 38), "07"+strings.Repeat("0", 38)
	const a, b = "P00000001", "P00000002"
	for _, tc := range []struct {
		name   string
		staged [][2]string // account, token value
		stored string      // SQL run before the check
		empty  bool
	}{
		{"nothing stored", [][2]string{{a, lo}, {a, hi}}, ``, true},
		{"a token inside the range", [][2]string{{a, lo}, {a, hi}},
			`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000001', 'sha1:email', '` + mid + `')`, false},
		{"a token outside the range", [][2]string{{a, lo}, {a, hi}},
			`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000001', 'sha1:email', '` + above + `')`, true},
		{"another account's token", [][2]string{{a, lo}, {a, hi}},
			`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000002', 'sha1:email', '` + mid + `')`, true},
		{"an event without its token", [][2]string{{a, lo}, {a, hi}},
			`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
			 VALUES ('P00000001', 'sha1:email', '` + hi + `', 'e', now(), 'OPT_OUT', 0)`, false},
		{"one of two accounts stored", [][2]string{{a, lo}, {b, lo}, {b, hi}},
			`INSERT INTO tokens (account_id, token_type, token_value) VALUES ('P00000002', 'sha1:phone_number', '` + mid + `')`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testdb.New(t)
			d, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			runID, err := d.StartImport(ctx, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			st, err := d.OpenSource(ctx, runID, "k", 64)
			if err != nil {
				t.Fatal(err)
			}
			batch := &tokenevents.Batch{SourceID: st.ID, File: "f",
				Marks: []tokenevents.StageMark{{Partition: 1, UptoRow: int64(len(tc.staged)) - 1, Events: int64(len(tc.staged))}}}
			for i, s := range tc.staged {
				batch.Events = append(batch.Events, tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: s[0], TokenType: "sha1:email",
					TokenValue: s[1], Event: "e", Status: "OPT_OUT", CreatedAt: time.Now(), Metadata: []byte(`{}`)},
					Partition: 1, Seq: int64(i), Row: int64(i)})
			}
			if err := d.StageBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			db := testdb.Open(t, dsn)
			if tc.stored != "" {
				testdb.Must(t, execErr(db.Exec(tc.stored)), "store")
			}
			var empty bool
			if err := db.QueryRow(query("staged_ranges"), 1, st.ID).Scan(&empty, new(any), new(any), new(any), new(any), new(any)); err != nil {
				t.Fatal(err)
			}
			if empty != tc.empty {
				t.Errorf("empty = %v, want %v", empty, tc.empty)
			}
		})
	}
}

func execErr(_ any, err error) error { return err }

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

// TestMergeJoinsAgree: probing for each staged key and reading the staged
// key range give the same counts and the same stored rows, for unchanged,
// changed and new events, new tokens and duplicates, over two accounts.
func TestMergeJoinsAgree(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	v := func(i int) string { return fmt.Sprintf("%02x", i) + strings.Repeat("0", 38) }
	ev := func(account string, i int, event, status string) tokenevents.StagedEvent {
		return tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: account, TokenType: "sha1:email",
			TokenValue: v(i), Event: event, Status: status, CreatedAt: at, Metadata: []byte(`{}`)}, TokenID: [16]byte{byte(i)}}
	}
	// Stored first: tokens 1-3 of account 1 and token 1 of account 2.
	first := []tokenevents.StagedEvent{
		ev("P00000001", 1, "a", "OPT_OUT"), ev("P00000001", 2, "a", "OPT_OUT"), ev("P00000001", 3, "a", "OPT_IN"),
		ev("P00000002", 1, "a", "OPT_OUT"),
	}
	second := []tokenevents.StagedEvent{
		ev("P00000001", 1, "a", "OPT_OUT"), // unchanged
		ev("P00000001", 2, "a", "OPT_IN"),  // changed
		ev("P00000001", 3, "b", "OPT_OUT"), // a new event of a stored token
		ev("P00000001", 3, "b", "OPT_IN"),  // ... repeated: the last one wins
		ev("P00000001", 4, "a", "OPT_OUT"), // a new token
		ev("P00000002", 1, "a", "OPT_IN"),  // changed, other account
		ev("P00000002", 3, "a", "OPT_IN"),  // a new token of the other account
	}
	var dumps []string
	for _, choice := range []joinChoice{joinProbe, joinRead} {
		dsn := testdb.New(t)
		d, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.mergeJoin = choice
		var got []tokenevents.MergeCounts
		for i, events := range [][]tokenevents.StagedEvent{first, second} {
			runID, err := d.StartImport(ctx, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			st, err := d.OpenSource(ctx, runID, fmt.Sprint("k", i), 64)
			if err != nil {
				t.Fatal(err)
			}
			batch := &tokenevents.Batch{SourceID: st.ID, File: "f", Events: append([]tokenevents.StagedEvent(nil), events...),
				Marks: []tokenevents.StageMark{{Partition: 0, UptoRow: int64(len(events)) - 1, Events: int64(len(events))}}}
			for j := range batch.Events {
				batch.Events[j].Seq, batch.Events[j].Row = int64(j), int64(j)
			}
			if err := d.StageBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			c, err := d.MergePartition(ctx, runID, st.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		want := []tokenevents.MergeCounts{
			{Staged: 4, New: 4, NewTokens: 4},
			{Staged: 7, Duplicates: 1, New: 3, Updated: 2, Unchanged: 1, NewTokens: 2},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("join %d: counts %+v, want %+v", choice, got, want)
		}
		db := testdb.Open(t, dsn)
		dumps = append(dumps, fmt.Sprint(
			queryRows(t, db, `SELECT account_id, token_value, event, status FROM token_events ORDER BY 1, 2, 3`),
			queryRows(t, db, `SELECT account_id, token_value, id FROM tokens ORDER BY 1, 2`)))
		d.Close()
	}
	if dumps[0] != dumps[1] {
		t.Errorf("probing stored\n%s\nreading the range stored\n%s", dumps[0], dumps[1])
	}
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

func TestReadRangeChoice(t *testing.T) {
	for _, tc := range []struct {
		lo, hi string
		staged int64
		stored float64
		read   bool
	}{
		{"00", "ff", 1000, 0, true},        // nothing stored
		{"00", "ff", 1000, 1e6, false},     // a small file into a big table
		{"04", "07ff", 1000, 64_000, true}, // 1/64 of 64 k stored: 1 k in range
		{"04", "07ff", 100, 64_000, false}, // 1 k in range, 100 staged
		{"0400" + strings.Repeat("0", 36), "0400" + strings.Repeat("0", 36), 1, 1e9, true}, // one token: its range is tiny
		{strings.Repeat("0", 40), "", 10, 1e6, false},                                      // hi missing: the whole space
	} {
		r := stagedRanges{Lo: tc.lo, Hi: tc.hi, Staged: tc.staged, StoredTotal: tc.stored}
		if got := r.readRange(); got != tc.read {
			t.Errorf("%+v: readRange = %v, want %v (span %g)", tc, got, tc.read, hexSpan(tc.lo, tc.hi))
		}
	}
	if s := hexSpan("00", "ff"); s != 1 {
		t.Errorf("hexSpan of everything = %g", s)
	}
}

// TestStagedTimestamps: timestamps go through the stage as microseconds
// and come out as they went in (rounded to the nearest microsecond),
// before 1970, at fractions and far in the future.
func TestStagedTimestamps(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runID, err := d.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.OpenSource(ctx, runID, "k", 64)
	if err != nil {
		t.Fatal(err)
	}
	times := []struct{ in, want string }{
		{"2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"},
		{"2024-03-01T10:00:00.123456Z", "2024-03-01T10:00:00.123456Z"},
		{"2024-03-01T10:00:00.1234565Z", "2024-03-01T10:00:00.123457Z"},
		{"2024-03-01T10:00:00.0000004Z", "2024-03-01T10:00:00Z"},
		{"1969-12-31T23:59:58.5Z", "1969-12-31T23:59:58.5Z"},
		{"1900-01-01T00:00:00.000001Z", "1900-01-01T00:00:00.000001Z"},
		{"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
	}
	batch := &tokenevents.Batch{SourceID: st.ID, File: "f",
		Marks: []tokenevents.StageMark{{Partition: 0, UptoRow: int64(len(times)) - 1, Events: int64(len(times))}}}
	for i, tc := range times {
		at, err := time.Parse(time.RFC3339Nano, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		batch.Events = append(batch.Events, tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: "P00000001",
			TokenType: "sha1:email", TokenValue: fmt.Sprintf("%040x", i), Event: "e", Status: "OPT_OUT",
			CreatedAt: at, ExpiresAt: at, Metadata: []byte(`{}`)}, Seq: int64(i), Row: int64(i)})
	}
	if err := d.StageBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := d.MergePartition(ctx, runID, st.ID, 0); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, dsn)
	for i, tc := range times {
		var created, expires time.Time
		if err := db.QueryRow(`SELECT created_at, expires_at FROM token_events WHERE token_value = $1`,
			fmt.Sprintf("%040x", i)).Scan(&created, &expires); err != nil {
			t.Fatal(err)
		}
		for _, got := range []time.Time{created, expires} {
			if s := got.UTC().Format(time.RFC3339Nano); s != tc.want {
				t.Errorf("%s came back as %s, want %s", tc.in, s, tc.want)
			}
		}
	}
}

// TestAfterImport: after an import both token tables have fresh planner
// numbers and no BRIN range left to summarise.
func TestAfterImport(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
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
	d, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	db := testdb.Open(t, dsn)
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	run := func(status string) {
		t.Helper()
		runID, err := d.StartImport(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		st, err := d.OpenSource(ctx, runID, "k-"+status, 64)
		if err != nil {
			t.Fatal(err)
		}
		batch := &tokenevents.Batch{SourceID: st.ID, File: "f",
			Events: []tokenevents.StagedEvent{{Event: tokenevents.Event{AccountID: "P00000001", TokenType: "sha1:email",
				TokenValue: strings.Repeat("0", 40), Event: "e", Status: status, CreatedAt: at, Metadata: []byte(`{}`)}}},
			Marks: []tokenevents.StageMark{{Partition: 0, UptoRow: 0, Events: 1}}}
		testdb.Must(t, d.StageBatch(ctx, batch), "stage")
		testdb.Must(t, d.StagingDone(ctx, st.ID), "staging done")
		if _, err := d.MergePartition(ctx, runID, st.ID, 0); err != nil {
			t.Fatal(err)
		}
		testdb.Must(t, d.FinishFile(ctx, runID, st.ID, tokenevents.ImportFile{Name: "f", ContentDigest: status,
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
	got := queryRows(t, db, `SELECT created_us, expires_us FROM import_stage ORDER BY seq`)
	want := []string{"[-1500000 1893456000123456]", "[1709287200000000 <nil>]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("staged rows after the migration: %q, want %q", got, want)
	}
}
