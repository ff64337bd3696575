package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents/fixtures"
	"github.com/tokenevents/tokenevents/internal/testdb"
)

// childArgs, when set in the environment, makes the test binary run the
// importer with these arguments (separated by newlines) instead of the
// tests: TestKilledImportResumes kills it as a separate process.
const childArgs = "TOKENEVENTS_TEST_IMPORT_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgs); args != "" {
		os.Exit(run(context.Background(), strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// importProcess starts the importer as a child process.
func importProcess(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\n"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestKilledImportResumes kills the importer process with SIGKILL — no
// cleanup, as a crash, an OOM kill or a lost client machine — at random
// points of a run, runs it again after each kill, and then to the end: the
// database must hold exactly what one clean run stores, and the file must
// then be done. The kill points, drawn from a seeded generator, are read
// off the import's ledger as it goes: once while staging (after some
// thousands of events), then twice while merging (after some partitions),
// so that each resumed run is killed further on.
func TestKilledImportResumes(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := fixtures.Generate(&buf, fixtures.Config{Rows: 40000, Seed: 31, Phones: true, Accounts: 2, DupRate: 0.05, BadRate: 0.001}); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, dir, "export.csv", buf.Bytes())
	args := []string{"-q", "--rejects", dir + "/rejects.csv", "--batch-rows", "2000", file}
	testdb.EachBackend(t, func(t *testing.T, b testdb.Backend) {
		clean := b.New(t)
		if r := runImport(t, clean, "", args...); r.code != 0 {
			t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
		}
		want := stateOf(t, clean)

		dsn := b.New(t)
		db := testdb.Open(t, dsn)
		seed := uint64(time.Now().UnixNano())
		r := rand.New(rand.NewPCG(seed, 14))
		merged := 4 + r.IntN(20)
		points := []killPoint{
			{"staging", 2000 + r.Int64N(30000), 0},
			{"merging", 0, merged},
			{"merging", 0, merged + 4 + r.IntN(30)},
		}
		for i, p := range points {
			cmd := importProcess(t, append([]string{"--db", dsn}, args...)...)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			if err := p.await(db, done); err != nil {
				t.Fatalf("kill %d (%s, seed %d): %v", i+1, p.phase, seed, err)
			}
			_ = cmd.Process.Kill()
			<-done
			t.Logf("killed while %s: %d events staged, %d partitions merged", p.phase, p.staged(db), p.merged(db))
		}
		last := runImport(t, dsn, "", args...)
		if last.code != 0 {
			t.Fatalf("run after the kills: exit %d\n%s", last.code, last.stderr)
		}
		if got := stateOf(t, dsn); got != want {
			t.Fatalf("after the kills (seed %d) the database differs from a clean run's:\n%s", seed, firstLineDiff(got, want))
		}
		again := runImport(t, dsn, "", args...)
		if again.code != 0 || again.sum.FilesSkipped != 1 {
			t.Fatalf("the file is not done after the resumed run: exit %d, %+v", again.code, again.sum)
		}
	})
}

// killPoint is where TestKilledImportResumes kills a run: once the ledger
// counts at least events staged (and not yet merged) or partitions merged.
type killPoint struct {
	phase  string
	events int64
	parts  int
}

func (p killPoint) staged(db *sql.DB) int64 {
	var n int64
	_ = db.QueryRow(`SELECT coalesce(sum(staged_events), 0) FROM import_ledger`).Scan(&n)
	return n
}

func (p killPoint) merged(db *sql.DB) int {
	var n int
	_ = db.QueryRow(`SELECT count(*) FROM import_ledger WHERE merged`).Scan(&n)
	return n
}

// await polls the ledger until the point is reached; it fails if the run
// ends first.
func (p killPoint) await(db *sql.DB, done <-chan error) error {
	for {
		select {
		case err := <-done:
			return fmt.Errorf("the run ended (%v) before the kill point", err)
		case <-time.After(2 * time.Millisecond):
		}
		if p.events > 0 && p.staged(db) >= p.events || p.parts > 0 && p.merged(db) >= p.parts {
			return nil
		}
	}
}

// stateOf is what an import leaves behind that must not depend on how it
// got there: events, tokens (without their random ids) and nothing staged.
func stateOf(t *testing.T, dsn string) string {
	t.Helper()
	db := testdb.Open(t, dsn)
	var b strings.Builder
	b.WriteString(strings.Join(testdb.Dump(t, db), "\n"))
	rows, err := db.Query(`SELECT account_id || ' ' || token_type || ' ' || token_value FROM tokens ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\ntoken " + s)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM import_stage`); n != 0 {
		fmt.Fprintf(&b, "\nstaged rows left: %d", n)
	}
	return b.String()
}

func firstLineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "got:  " + al[i] + "\nwant: " + bl[i]
		}
	}
	return fmt.Sprintf("got %d lines, want %d", len(al), len(bl))
}
