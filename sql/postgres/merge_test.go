package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

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
	d := openStore(t, dsn, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	ev := func(value, status string) tokenevents.StagedEvent {
		return tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: "P00000001", TokenType: "sha1:email",
			TokenValue: value, Event: "e", Status: status, CreatedAt: at, Metadata: []byte(`{}`)}, TokenID: [16]byte{1}}
	}
	a, b := strings.Repeat("0", 40), strings.Repeat("01", 20)
	runID, sourceID := stageSource(t, d, "k", 0, []tokenevents.StagedEvent{ev(a, "OPT_OUT"), ev(b, "OPT_IN")})
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
	if c := mergeMeetingWriter(t, d, db, writer, runID, sourceID, 0); c.Staged != 2 || c.New != 1 || c.Updated != 1 || c.Unchanged != 0 || c.Duplicates != 0 {
		t.Errorf("counts %+v", c)
	}
	if !strings.Contains(logs.String(), "merging the partition again with upserts") {
		t.Errorf("no fallback to upserts logged: %s", logs.String())
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM token_events WHERE token_value = $1 AND status = 'OPT_OUT'`, a); n != 1 {
		t.Error("the staged event did not win over the one written meanwhile")
	}
}

// mergeMeetingWriter merges a partition while writer holds uncommitted
// rows the merge will meet, commits writer once the merge waits for them,
// and returns the merge's counts.
func mergeMeetingWriter(t *testing.T, d *DB, db *sql.DB, writer *sql.Tx, runID, sourceID int64, partition int) tokenevents.MergeCounts {
	t.Helper()
	type result struct {
		c   tokenevents.MergeCounts
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := d.MergePartition(context.Background(), runID, sourceID, partition)
		done <- result{c, err}
	}()
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
	return r.c
}

// TestStagedRangesEmpty: a partition is merged without probes only when
// nothing is stored, per staged account, between its lowest and highest
// staged token value.
func TestStagedRangesEmpty(t *testing.T) {
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
			var events []tokenevents.StagedEvent
			for _, s := range tc.staged {
				events = append(events, tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: s[0], TokenType: "sha1:email",
					TokenValue: s[1], Event: "e", Status: "OPT_OUT", CreatedAt: time.Now(), Metadata: []byte(`{}`)}})
			}
			_, sourceID := stageSource(t, openStore(t, dsn, Options{}), "k", 1, events)
			db := testdb.Open(t, dsn)
			if tc.stored != "" {
				testdb.Must(t, execErr(db.Exec(tc.stored)), "store")
			}
			var empty bool
			if err := db.QueryRow(query("staged_ranges"), 1, sourceID).Scan(&empty, new(any), new(any), new(any), new(any), new(any)); err != nil {
				t.Fatal(err)
			}
			if empty != tc.empty {
				t.Errorf("empty = %v, want %v", empty, tc.empty)
			}
		})
	}
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
		d := openStore(t, dsn, Options{})
		d.mergeJoin = choice
		var got []tokenevents.MergeCounts
		for i, events := range [][]tokenevents.StagedEvent{first, second} {
			runID, sourceID := stageSource(t, d, fmt.Sprint("k", i), 0, events)
			c, err := d.MergePartition(ctx, runID, sourceID, 0)
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
	}
	if dumps[0] != dumps[1] {
		t.Errorf("probing stored\n%s\nreading the range stored\n%s", dumps[0], dumps[1])
	}
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
// and come out as they went in, from year 1 to year 9999, before 1970 and
// at fractions. Sub-microsecond input is rounded by
// tokenevents.StorableTime before any store sees it, as the importer does.
func TestStagedTimestamps(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d := openStore(t, dsn, Options{})
	times := []struct{ in, want string }{
		{"2024-03-01T10:00:00Z", "2024-03-01T10:00:00Z"},
		{"2024-03-01T10:00:00.123456Z", "2024-03-01T10:00:00.123456Z"},
		{"2024-03-01T10:00:00.1234565Z", "2024-03-01T10:00:00.123457Z"},
		{"2024-03-01T10:00:00.0000004Z", "2024-03-01T10:00:00Z"},
		{"1969-12-31T23:59:58.5Z", "1969-12-31T23:59:58.5Z"},
		{"1900-01-01T00:00:00.000001Z", "1900-01-01T00:00:00.000001Z"},
		{"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"},
	}
	var events []tokenevents.StagedEvent
	for i, tc := range times {
		at, err := time.Parse(time.RFC3339Nano, tc.in)
		if err == nil {
			at, err = tokenevents.StorableTime(at)
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, tokenevents.StagedEvent{Event: tokenevents.Event{AccountID: "P00000001",
			TokenType: "sha1:email", TokenValue: fmt.Sprintf("%040x", i), Event: "e", Status: "OPT_OUT",
			CreatedAt: at, ExpiresAt: tokenevents.At(at), Metadata: []byte(`{}`)}})
	}
	runID, sourceID := stageSource(t, d, "k", 0, events)
	if _, err := d.MergePartition(ctx, runID, sourceID, 0); err != nil {
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

// TestLinkMergeFallsBack: a token and a customer that another writer
// stores while a partition of links and customers is merged into empty key
// ranges make the plain inserts fail; the partition is merged again,
// finding them, with the right counts.
func TestLinkMergeFallsBack(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t)
	d := openStore(t, dsn, Options{})
	at := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	a, b := strings.Repeat("0", 40), strings.Repeat("01", 20)
	runID, err := d.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.OpenSource(ctx, runID, "k", 64)
	if err != nil {
		t.Fatal(err)
	}
	link := func(value, customer string, seq int64) tokenevents.StagedLink {
		return tokenevents.StagedLink{AccountID: "P00000001", TokenType: "sha1:email", TokenValue: value, CustomerID: customer,
			UpdatedAt: at, TokenID: [16]byte{byte(seq + 1)}, Seq: seq, Row: seq}
	}
	batch := &tokenevents.Batch{SourceID: st.ID, File: "f",
		Links: []tokenevents.StagedLink{link(a, "C1", 0), link(b, "C2", 1)},
		Customers: []tokenevents.StagedCustomer{
			{AccountID: "P00000001", CustomerID: "C1", Status: "OPT_IN", StatusSet: true, UpdatedAt: at, Seq: 0, Row: 0},
			{AccountID: "P00000001", CustomerID: "C2", Status: "OPT_OUT", StatusSet: true, UpdatedAt: at, Seq: 1, Row: 1}},
		Marks: []tokenevents.StageMark{{Partition: 0, UptoRow: 1, Links: 2, Customers: 2}}}
	if err := d.StageBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	db := testdb.Open(t, dsn)
	writer, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Rollback() }()
	for _, q := range []string{
		`INSERT INTO tokens (account_id, token_type, token_value, customer_id) VALUES ('P00000001', 'sha1:email', '` + a + `', 'C9')`,
		`INSERT INTO customers (account_id, customer_id, status) VALUES ('P00000001', 'C2', 'OPT_IN')`,
	} {
		if _, err := writer.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c := mergeMeetingWriter(t, d, db, writer, runID, st.ID, 0)
	if c.LinksStaged != 2 || c.LinksNew != 1 || c.LinksMoved != 1 || c.NewTokens != 1 ||
		c.Customers.New != 1 || c.Customers.Updated != 1 {
		t.Errorf("counts %+v", c)
	}
	got := testdb.Count(t, db, `SELECT count(*) FROM tokens t JOIN customers c USING (account_id, customer_id)
		WHERE (t.token_value, c.customer_id, c.status) IN (('`+a+`', 'C1', 'OPT_IN'), ('`+b+`', 'C2', 'OPT_OUT'))`)
	if got != 2 {
		t.Errorf("%d of 2 tokens linked to their staged customer with its staged status", got)
	}
}
