package postgres

import (
	"context"
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

// TestMergeFallsBackToUpserts: an event that another writer stored between
// staging and merging makes the plain insert fail with a unique violation;
// the partition is then merged with upserts, with the right counts.
func TestMergeFallsBackToUpserts(t *testing.T) {
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
	if _, err := db.Exec(`INSERT INTO token_events (account_id, token_type, token_value, event, created_at, status, run_id)
		VALUES ('P00000001', 'sha1:email', $1, 'e', $2, 'OPT_IN', 0)`, a, at); err != nil {
		t.Fatal(err)
	}
	c, err := d.MergePartition(ctx, runID, st.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Staged != 2 || c.New != 1 || c.Updated != 1 || c.Unchanged != 0 || c.Duplicates != 0 {
		t.Errorf("counts %+v", c)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM token_events WHERE token_value = $1 AND status = 'OPT_OUT'`, a); n != 1 {
		t.Error("the staged event did not win over the one written meanwhile")
	}
}
