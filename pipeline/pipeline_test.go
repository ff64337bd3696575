package pipeline_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/fixtures"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/sql/store"
)

func openStore(t *testing.T, target string) store.Store { return teststore.Open(t, target) }

// importWith runs one import of paths into store with opts.
func importWith(ctx context.Context, t *testing.T, store tokenevents.ImportStore, opts pipeline.Options, paths ...string) (pipeline.Summary, error) {
	t.Helper()
	if opts.RejectsPath == "" {
		opts.RejectsPath = filepath.Join(t.TempDir(), "rejects.csv")
	}
	im, err := pipeline.NewImporter(opts, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	files, err := im.Preflight(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return im.Run(ctx, store, files)
}

func generate(t *testing.T, c fixtures.Config) string {
	t.Helper()
	var buf bytes.Buffer
	if err := fixtures.Generate(&buf, c); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLastOccurrenceWins repeats a few keys many times with changing
// statuses and metadata, and checks that the last occurrence in input order
// is what is stored, whatever the chunk, batch and writer layout.
func TestLastOccurrenceWins(t *testing.T) {
	var b strings.Builder
	b.WriteString("email,created_at,status,store_id\n")
	const keys, rows = 7, 300
	last := map[int]string{}
	for i := 0; i < rows; i++ {
		k := (i * 5) % keys
		status := []string{"OPT_OUT", "OPT_IN", "PAUSED"}[(i*i)%3]
		fmt.Fprintf(&b, "user%d@example.no,2024-01-01T10:00:00Z,%s,S%d\n", k, status, i)
		last[k] = fmt.Sprintf("%s|{\"store_id\":\"S%d\"}", status, i)
	}
	path := filepath.Join(t.TempDir(), "dups.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	layouts := []struct {
		name                          string
		workers, writers, chunk, rows int
	}{
		{"one batch", 2, 1, 1000, 100000},
		{"within batches", 2, 2, 50, 100000},
		{"across batches", 3, 3, 2, 3},
		{"across batches one writer", 4, 1, 1, 1},
	}
	testdb.EachBackend(t, func(t *testing.T, b testdb.Backend) {
		for _, l := range layouts {
			t.Run(l.name, func(t *testing.T) {
				dsn := b.New(t)
				store := openStore(t, dsn)
				sum, err := importWith(context.Background(), t, store, pipeline.Options{
					Account: "P00000001", Event: "e", Workers: l.workers, Writers: l.writers, ChunkRows: l.chunk, BatchRows: l.rows,
				}, path)
				if err != nil {
					t.Fatal(err)
				}
				if sum.Events != rows || sum.EventsNew != keys || sum.Duplicates != rows-keys || sum.EventsUpdated != 0 || sum.EventsUnchanged != 0 {
					t.Errorf("summary %+v", sum)
				}
				got := testdb.Dump(t, testdb.Open(t, dsn))
				if len(got) != keys {
					t.Fatalf("%d events stored, want %d", len(got), keys)
				}
				for k := 0; k < keys; k++ {
					want := fmt.Sprintf("|%s", last[k])
					found := false
					for _, g := range got {
						if strings.Contains(g, sha1hex(fmt.Sprintf("user%d@example.no", k))) {
							found = true
							if !strings.HasSuffix(strings.Replace(g, "|-|", "|", 1), want) {
								t.Errorf("key %d: stored %s, want ...%s", k, g, want)
							}
						}
					}
					if !found {
						t.Errorf("key %d not stored", k)
					}
				}
			})
		}
	})
}

// failingStore lets a number of staging batches (or, with inMerge, of
// partition merges) through, then fails every one: with cancel set it
// cancels the run's context instead, as a SIGINT would.
type failingStore struct {
	tokenevents.ImportStore
	allow   int64
	inMerge bool
	n       atomic.Int64
	cancel  context.CancelFunc
}

var errCrash = errors.New("simulated crash")

func (f *failingStore) fail(ctx context.Context) error {
	if f.n.Add(1) <= f.allow {
		return nil
	}
	if f.cancel != nil {
		f.cancel()
		return ctx.Err()
	}
	return errCrash
}

func (f *failingStore) StageBatch(ctx context.Context, b *tokenevents.Batch) error {
	if !f.inMerge {
		if err := f.fail(ctx); err != nil {
			return err
		}
	}
	return f.ImportStore.StageBatch(ctx, b)
}

func (f *failingStore) MergePartition(ctx context.Context, runID, sourceID int64, p int) (tokenevents.MergeCounts, error) {
	if f.inMerge {
		if err := f.fail(ctx); err != nil {
			return tokenevents.MergeCounts{}, err
		}
	}
	return f.ImportStore.MergePartition(ctx, runID, sourceID, p)
}

// TestInterruptedRunResumes stops runs part-way (cancelled, or failing
// writes) and runs them again: the end state must equal one clean run's, the
// second run must skip what the first committed, and a third run must find
// the file done.
func TestInterruptedRunResumes(t *testing.T) {
	path := generate(t, fixtures.Config{Rows: 6000, Seed: 7, Phones: true, Accounts: 3, DupRate: 0.1, BadRate: 0.002})
	opts := pipeline.Options{Workers: 3, Writers: 2, BatchRows: 300, ChunkRows: 64}
	testdb.EachBackend(t, func(t *testing.T, b testdb.Backend) {
		cleanDSN := b.New(t)
		cleanSum, err := importWith(context.Background(), t, openStore(t, cleanDSN), opts, path)
		if err != nil {
			t.Fatal(err)
		}
		want := testdb.Dump(t, testdb.Open(t, cleanDSN))
		if len(want) < 5000 {
			t.Fatalf("clean run stored only %d events", len(want))
		}

		for _, mode := range []string{"cancelled while staging", "crashed while staging", "cancelled while merging", "crashed while merging"} {
			t.Run(mode, func(t *testing.T) {
				dsn := b.New(t)
				store := openStore(t, dsn)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				fs := &failingStore{ImportStore: store, allow: 9, inMerge: strings.HasSuffix(mode, "merging")}
				if strings.HasPrefix(mode, "cancelled") {
					fs.cancel = cancel
				}
				sum, err := importWith(ctx, t, fs, opts, path)
				if err == nil {
					t.Fatal("interrupted run reported success")
				}
				if fs.cancel == nil && !errors.Is(err, errCrash) || fs.cancel != nil && !errors.Is(err, context.Canceled) {
					t.Fatalf("error %v", err)
				}
				partial := testdb.Dump(t, testdb.Open(t, dsn))
				if fs.inMerge && (len(partial) == 0 || len(partial) >= len(want)) {
					t.Fatalf("run interrupted while merging stored %d of %d events", len(partial), len(want))
				}
				if !fs.inMerge && len(partial) != 0 {
					t.Fatalf("run interrupted while staging stored %d events", len(partial))
				}
				if sum.Outcome == pipeline.OutcomeDone {
					t.Errorf("outcome %s", sum.Outcome)
				}

				sum, err = importWith(context.Background(), t, store, opts, path)
				if err != nil {
					t.Fatal(err)
				}
				if fs.inMerge {
					if sum.RowsRead != 0 || sum.EventsNew == 0 {
						t.Errorf("resumed merge read the file again or merged nothing: %+v", sum)
					}
				} else {
					if sum.EventsResumed == 0 {
						t.Error("the second run skipped nothing: the ledger was not used")
					}
					if sum.Events != cleanSum.Events || sum.RowsRead != cleanSum.RowsRead || sum.EventsNew != cleanSum.EventsNew || sum.Duplicates != cleanSum.Duplicates {
						t.Errorf("second run %+v\nclean run %+v", sum, cleanSum)
					}
				}
				got := testdb.Dump(t, testdb.Open(t, dsn))
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("resumed state differs from a clean run: %d vs %d events", len(got), len(want))
				}
				db := testdb.Open(t, dsn)
				for _, q := range []string{`SELECT count(*) FROM import_ledger`, `SELECT count(*) FROM import_sources`, `SELECT count(*) FROM import_stage`} {
					if n := testdb.Count(t, db, q); n != 0 {
						t.Errorf("%s: %d rows left after the file was done", q, n)
					}
				}
				sum, err = importWith(context.Background(), t, store, opts, path)
				if err != nil || sum.FilesSkipped != 1 {
					t.Errorf("third run: skipped %d, err %v", sum.FilesSkipped, err)
				}
			})
		}
	})
}

// TestReimportWritesNothing imports a file, then imports it again with
// --force: every event is unchanged and no row version changes, although
// the file repeats keys with other statuses across many batches.
func TestReimportWritesNothing(t *testing.T) {
	path := generate(t, fixtures.Config{Rows: 3000, Seed: 3, Phones: true, DupRate: 0.05})
	testdb.Each(t, func(t *testing.T, dsn string) {
		store := openStore(t, dsn)
		opts := pipeline.Options{BatchRows: 300}
		first, err := importWith(context.Background(), t, store, opts, path)
		if err != nil {
			t.Fatal(err)
		}
		db := testdb.Open(t, dsn)
		// Row versions: PostgreSQL's xmin and ctid of every row, in key
		// order (on Citus rows of different shards share ctids); SQLite's
		// write log (every insert, update or delete of an event appends to
		// it) and the tokens' ids.
		q := [2]string{`SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY account_id, token_value, token_type, event, created_at) FROM token_events`,
			`SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY account_id, token_value, token_type) FROM tokens`}
		if testdb.IsSQLite(dsn) {
			q = [2]string{`SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'token_writes'), 0)`,
				`SELECT group_concat(id) FROM tokens`}
		}
		versions := func() string {
			var s, s2 string
			if err := db.QueryRow(q[0]).Scan(&s); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(q[1]).Scan(&s2); err != nil {
				t.Fatal(err)
			}
			return s + s2
		}
		before := versions()
		opts.Force = true
		again, err := importWith(context.Background(), t, store, opts, path)
		if err != nil {
			t.Fatal(err)
		}
		if again.EventsNew != 0 || again.EventsUpdated != 0 || again.TokensNew != 0 {
			t.Errorf("re-import wrote: %+v", again)
		}
		if again.EventsUnchanged+again.Duplicates != again.Events || again.EventsUnchanged != first.EventsNew {
			t.Errorf("re-import counts %+v vs first %+v", again, first)
		}
		if versions() != before {
			t.Error("re-import rewrote rows")
		}
		opts.Force = false
		skipped, err := importWith(context.Background(), t, store, opts, path)
		if err != nil || skipped.FilesSkipped != 1 || skipped.RowsRead != 0 {
			t.Errorf("unchanged file not skipped: %+v %v", skipped, err)
		}
	})
}

// TestReimportAcrossBatches: a key repeated with different values in
// different staging batches of one file is merged once, as its last
// occurrence, so a --force re-import writes nothing at all.
func TestReimportAcrossBatches(t *testing.T) {
	data := "email,created_at,status\n" +
		"a@example.no,2024-01-01,OPT_IN\n" +
		"b@example.no,2024-01-01,OPT_OUT\n" +
		"a@example.no,2024-01-01,OPT_OUT\n"
	path := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	testdb.Each(t, func(t *testing.T, dsn string) {
		store := openStore(t, dsn)
		opts := pipeline.Options{Account: "P00000001", Event: "e", Writers: 1, ChunkRows: 1, BatchRows: 1}
		first, err := importWith(context.Background(), t, store, opts, path)
		if err != nil {
			t.Fatal(err)
		}
		if first.EventsNew != 2 || first.Duplicates != 1 {
			t.Errorf("first import %+v", first)
		}
		opts.Force = true
		again, err := importWith(context.Background(), t, store, opts, path)
		if err != nil {
			t.Fatal(err)
		}
		if again.EventsUpdated != 0 || again.Duplicates != 1 || again.EventsUnchanged != 2 || again.EventsNew != 0 {
			t.Errorf("summary %+v", again)
		}
		got := testdb.Dump(t, testdb.Open(t, dsn))
		if len(got) != 2 || !strings.Contains(got[0]+got[1], sha1hex("a@example.no")+"|e|2024-01-01T00:00:00.000000|OPT_OUT") {
			t.Errorf("stored %q", got)
		}
	})
}

// TestSurvivesTerminatedConnections terminates the importer's database
// connections at set points while it writes — before its 3rd and 12th
// staged batch and before its 2nd and 9th partition merge — so that every
// run loses connections in both phases: transient errors are retried and
// the end state equals a clean run's. PostgreSQL only: the embedded store
// has no connections to lose.
func TestSurvivesTerminatedConnections(t *testing.T) {
	path := generate(t, fixtures.Config{Rows: 20000, Seed: 11, Phones: true, DupRate: 0.05})
	opts := pipeline.Options{BatchRows: 400, ChunkRows: 128}

	cleanDSN := testdb.New(t)
	if _, err := importWith(context.Background(), t, openStore(t, cleanDSN), opts, path); err != nil {
		t.Fatal(err)
	}
	want := testdb.Dump(t, testdb.Open(t, cleanDSN))

	dsn := testdb.New(t)
	admin := testdb.Open(t, dsn)
	v := &killer{ImportStore: openStore(t, dsn+"&application_name=victim"), t: t, admin: admin,
		stageAt: map[int64]bool{3: true, 12: true}, mergeAt: map[int64]bool{2: true, 9: true}}
	sum, err := importWith(context.Background(), t, v, opts, path)
	if err != nil {
		t.Fatalf("import failed after %d terminated connections: %v", v.killed.Load(), err)
	}
	if v.killed.Load() < 4 {
		t.Fatalf("only %d connections were terminated at the 4 points: the test proves nothing", v.killed.Load())
	}
	got := testdb.Dump(t, testdb.Open(t, dsn))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("state after retries differs from a clean run (%d vs %d events)", len(got), len(want))
	}
	t.Logf("%d connections terminated; summary %+v", v.killed.Load(), sum)
}

// killer is an import store whose connections are terminated from outside
// before chosen calls of StageBatch and MergePartition.
type killer struct {
	tokenevents.ImportStore
	t                *testing.T
	admin            *sql.DB
	stageAt, mergeAt map[int64]bool
	stages, merges   atomic.Int64
	killed           atomic.Int64
}

func (k *killer) kill() {
	var n int64
	if err := k.admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'victim'`).Scan(&n); err != nil {
		k.t.Error(err)
	}
	k.killed.Add(n)
}

func (k *killer) StageBatch(ctx context.Context, b *tokenevents.Batch) error {
	if k.stageAt[k.stages.Add(1)] {
		k.kill()
	}
	return k.ImportStore.StageBatch(ctx, b)
}

func (k *killer) MergePartition(ctx context.Context, runID, sourceID int64, partition int) (tokenevents.MergeCounts, error) {
	if k.mergeAt[k.merges.Add(1)] {
		k.kill()
	}
	return k.ImportStore.MergePartition(ctx, runID, sourceID, partition)
}

// TestInterruptedCustomersImportResumes: a customers import (SPEC §7)
// stopped while staging or while merging partitions (their links and
// customers), then run again, ends in the state of one clean run.
func TestInterruptedCustomersImportResumes(t *testing.T) {
	var buf bytes.Buffer
	if err := fixtures.GenerateCustomers(&buf, fixtures.Config{Rows: 4000, Seed: 9, Accounts: 2, DupRate: 0.2, BadRate: 0.01}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := pipeline.Options{Customers: true, Workers: 3, Writers: 2, BatchRows: 300, ChunkRows: 64,
		MaxRejects: pipeline.RejectLimit{Count: -1, Percent: 100}}
	testdb.EachBackend(t, func(t *testing.T, b testdb.Backend) {
		cleanDSN := b.New(t)
		clean, err := importWith(context.Background(), t, openStore(t, cleanDSN), opts, path)
		if err != nil {
			t.Fatal(err)
		}
		want := testdb.DumpCustomers(t, testdb.Open(t, cleanDSN))
		if clean.CustomersNew < 1000 || clean.LinksNew < 1000 {
			t.Fatalf("clean run: %+v", clean)
		}
		for _, mode := range []string{"crashed while staging", "cancelled while staging", "crashed while merging", "cancelled while merging"} {
			t.Run(mode, func(t *testing.T) {
				dsn := b.New(t)
				store := openStore(t, dsn)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				fs := &failingStore{ImportStore: store, allow: 5, inMerge: strings.HasSuffix(mode, "merging")}
				if strings.HasPrefix(mode, "cancelled") {
					fs.cancel = cancel
				}
				if sum, err := importWith(ctx, t, fs, opts, path); err == nil || sum.Outcome == pipeline.OutcomeDone {
					t.Fatalf("interrupted run: %+v, %v", sum, err)
				}
				if _, err := importWith(context.Background(), t, store, opts, path); err != nil {
					t.Fatal(err)
				}
				got := testdb.DumpCustomers(t, testdb.Open(t, dsn))
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Fatalf("resumed state differs from a clean run: %d vs %d rows", len(got), len(want))
				}
			})
		}
	})
}
