package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestEveryQueryParses prepares every embedded query against the migrated
// schema, so that a typo fails here rather than in the middle of a run.
func TestEveryQueryParses(t *testing.T) {
	d := openTemp(t)
	entries, err := fs.ReadDir(queryFS, "queries")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := d.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, temp := range []string{"merge_last_table", "merge_links_table", "merge_customers_table"} {
		if _, err := conn.ExecContext(context.Background(), query(temp)); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		stmt, err := conn.PrepareContext(context.Background(), query(name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		_ = stmt.Close()
	}
	if len(entries) < 10 {
		t.Errorf("only %d queries found", len(entries))
	}
}

func TestTimestamps(t *testing.T) {
	want := time.Date(2024, 3, 1, 10, 15, 0, 123456000, time.UTC)
	if got := ts(want.In(time.FixedZone("x", 3600))); got != "2024-03-01T10:15:00.123456Z" {
		t.Errorf("ts = %v", got)
	}
	if tsOpt(time.Time{}) != nil {
		t.Error("zero time is not NULL")
	}
	for _, s := range []string{"2024-03-01T10:15:00.123456Z", "2024-03-01T11:15:00.123456+01:00",
		"2024-03-01 10:15:00.123456+00:00", "2024-03-01 10:15:00.123456"} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", s, got, err)
		}
	}
	if got, err := ParseTime("2024-03-01"); err != nil || !got.Equal(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date: %v %v", got, err)
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("nonsense accepted")
	}
}

// TestOneImportAtATime: a second store's import waits until the first
// store's run ends, as PostgreSQL's advisory lock makes it.
func TestOneImportAtATime(t *testing.T) {
	ctx := context.Background()
	a := openTemp(t)
	b, err := Open(ctx, a.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runA, err := a.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan int64)
	go func() {
		id, err := b.StartImport(ctx, []byte(`{}`))
		if err != nil {
			t.Error(err)
		}
		started <- id
	}()
	select {
	case <-started:
		t.Fatal("a second import started while the first ran")
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.FinishImport(ctx, runA, "done", []byte(`{}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-started:
		if err := b.FinishImport(ctx, id, "done", []byte(`{}`), time.Now()); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second import did not start after the first ended")
	}
}

// TestAbandonedStageDropped: a run's start drops the staged rows of sources
// that no longer exist and keeps those of a source waiting to resume.
func TestAbandonedStageDropped(t *testing.T) {
	ctx := context.Background()
	d := openTemp(t)
	if _, err := d.db.ExecContext(ctx, `INSERT INTO import_sources (id, source_key, run_id) VALUES (7, 'waiting', 1)`); err != nil {
		t.Fatal(err)
	}
	for _, src := range []int{3, 7, 9} {
		if _, err := d.db.ExecContext(ctx, `INSERT INTO import_stage (source_id, partition, seq, ord, token_id, account_id,
			token_type, token_value, event, created_at, status, metadata) VALUES (?, 0, 0, 0, 'x', 'P00000001', 'sha1:email',
			'00', 'e', '2024-01-01T00:00:00.000000Z', 'OPT_OUT', '{}')`, src); err != nil {
			t.Fatal(err)
		}
	}
	runID, err := d.StartImport(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer d.FinishImport(ctx, runID, "done", []byte(`{}`), time.Now())
	var left []int
	if err := d.db.SelectContext(ctx, &left, `SELECT source_id FROM import_stage ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != 7 {
		t.Errorf("stage holds sources %v, want [7]", left)
	}
}
