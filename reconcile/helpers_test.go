package reconcile_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
	"github.com/tokenevents/tokenevents/pipeline"
	"github.com/tokenevents/tokenevents/reconcile"
	"github.com/tokenevents/tokenevents/sql/sqlite"
	"github.com/tokenevents/tokenevents/sql/store"
)

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// env is one test database with a store open on it.
type env struct {
	t     *testing.T
	dsn   string // as --db names it
	store store.Store
	db    *sql.DB
}

// newEnv opens a store on the database target names (from testdb).
func newEnv(t *testing.T, target string) *env {
	t.Helper()
	return &env{t: t, dsn: target, store: openStore(t, target), db: testdb.Open(t, target)}
}

func openStore(t *testing.T, target string) store.Store { return teststore.Open(t, target) }

// db2 is a second fresh database of the same backend as db.
func db2(t *testing.T, db string) string {
	return testdb.NewLike(t, db)
}

// stableTokenIDs replaces the random token ids with ones derived from the
// token (md5 of account, type and value, as a UUID), for golden files.
func (e *env) stableTokenIDs() {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT account_id, token_type, token_value FROM tokens`)
	if err != nil {
		e.t.Fatal(err)
	}
	var keys [][3]string
	for rows.Next() {
		var k [3]string
		if err := rows.Scan(&k[0], &k[1], &k[2]); err != nil {
			e.t.Fatal(err)
		}
		keys = append(keys, k)
	}
	_ = rows.Close()
	for _, k := range keys {
		h := hex.EncodeToString(func() []byte { s := md5.Sum([]byte(k[0] + k[1] + k[2])); return s[:] }())
		id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		e.exec(`UPDATE tokens SET id = $1 WHERE account_id = $2 AND token_type = $3 AND token_value = $4`, id, k[0], k[1], k[2])
	}
}

// row is one pre-hashed event for importCSV.
type row struct {
	account, token, event, status string
	created, expires              time.Time
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// importRows imports rows through the real importer, as a CSV of
// pre-hashed tokens.
func (e *env) importRows(rows []row) {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("account_id,token_type,token_value,event,status,created_at,expires_at\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,sha1:email,%s,%s,%s,%s,%s\n", r.account, sha1hex(r.token), r.event, r.status, ts(r.created), ts(r.expires))
	}
	path := filepath.Join(e.t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	im, err := pipeline.NewImporter(pipeline.Options{RejectsPath: filepath.Join(e.t.TempDir(), "rej.csv"), Force: true}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	files, err := im.Preflight(context.Background(), []string{path})
	if err != nil {
		e.t.Fatal(err)
	}
	if sum, err := im.Run(context.Background(), e.store, files); err != nil || sum.RowsRejected != 0 {
		e.t.Fatalf("import: %v %+v", err, sum)
	}
}

// execWrite runs q, which changes tokens or customers, as a program other
// than the importer must, so that the next incremental reconcile sees the
// change (change tracking, 007_write_sequence.sql): on PostgreSQL, in a
// transaction that takes a number of the write sequence first, which
// "{stamp}" in q's SET list stores; the embedded store's triggers stamp
// rows themselves.
func (e *env) execWrite(q string, args ...any) {
	e.t.Helper()
	if testdb.IsSQLite(e.dsn) {
		e.exec(strings.ReplaceAll(q, "{stamp}", ""), args...)
		return
	}
	tx, err := e.db.Begin()
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var seq int64
	if err := tx.QueryRow(`SELECT tokenevents_internal.next_write_seq()`).Scan(&seq); err != nil {
		e.t.Fatal(err)
	}
	q = strings.ReplaceAll(q, "{stamp}", fmt.Sprintf(", written_seq = $%d", len(args)+1))
	if _, err := tx.Exec(q, append(args, seq)...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// reconcileAt runs a reconcile and returns its summary and report rows.
func (e *env) reconcileAt(asOf time.Time, full, dry bool, accounts ...string) (reconcile.Summary, []tokenevents.Change) {
	e.t.Helper()
	report := filepath.Join(e.t.TempDir(), "report.jsonl")
	sum, err := reconcile.Run(context.Background(), e.store, reconcile.Options{
		ReconcileOptions: tokenevents.ReconcileOptions{AsOf: asOf, Full: full, DryRun: dry, Workers: 2},
		Accounts:         accounts,
	}, nil)
	if err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
	_ = report
	var changes []tokenevents.Change
	if err := e.store.Report(context.Background(), sum.RunID, func(c tokenevents.Change) error {
		changes = append(changes, c)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return sum, changes
}

// statusRow is a token_statuses row as compared by the tests.
type statusRow struct {
	Account, Type, Value, Status, DecidedBy, Event string
	EventCreated, EventExpires, ValidUntil         time.Time
}

func (s statusRow) String() string {
	return fmt.Sprintf("%s/%s %s by %s [%s %s %s] until %s", s.Account, s.Value[:8], s.Status, s.DecidedBy, s.Event,
		ts(s.EventCreated), ts(s.EventExpires), ts(s.ValidUntil))
}

func (e *env) statuses() map[string]statusRow {
	e.t.Helper()
	rows, err := e.db.Query(`SELECT account_id, token_type, token_value, status, decided_by, coalesce(event, ''),
		event_created_at, event_expires_at, valid_until FROM token_statuses`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]statusRow{}
	for rows.Next() {
		var s statusRow
		var c, x, v any
		if err := rows.Scan(&s.Account, &s.Type, &s.Value, &s.Status, &s.DecidedBy, &s.Event, &c, &x, &v); err != nil {
			e.t.Fatal(err)
		}
		s.EventCreated, s.EventExpires, s.ValidUntil = e.time(c), e.time(x), e.time(v)
		out[s.Account+"/"+s.Value] = s
	}
	return out
}

// time reads a scanned timestamp of either backend; NULL is the zero time.
func (e *env) time(v any) time.Time {
	e.t.Helper()
	switch x := v.(type) {
	case nil:
		return time.Time{}
	case time.Time:
		return x.UTC()
	case string:
		t, err := sqlite.ParseTime(x)
		if err != nil {
			e.t.Fatal(err)
		}
		return t
	}
	e.t.Fatalf("timestamp of type %T", v)
	return time.Time{}
}
