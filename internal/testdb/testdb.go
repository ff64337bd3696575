// Package testdb gives each test a fresh database of each backend.
//
// Integration tests run once per entry of Backends, so that a behaviour
// cannot drift between PostgreSQL and the embedded SQLite store. The
// PostgreSQL server is TOKENEVENTS_TEST_DSN, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When it cannot
// be reached the PostgreSQL half is skipped with a message, except under
// CI=true, where it fails: CI must never pass by skipping the database tests.
// The SQLite half needs nothing but a temporary directory.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq" // the drivers under test

	sqlitedrv "modernc.org/sqlite"

	"github.com/tokenevents/tokenevents/sql/sqlite"
)

// Backend is one kind of database the integration tests run against.
type Backend struct {
	Name string
	// New creates an empty database for the test and returns what --db
	// takes to name it. It may have the store's tables already, empty (a
	// Citus database handed on from an earlier test).
	New func(t testing.TB) string
	// Pristine creates a database no store has opened yet, for tests of
	// what a run does to the schema.
	Pristine func(t testing.TB) string
}

// Backends is the table every integration test loops over.
func Backends() []Backend {
	return []Backend{{"postgres", New, New}, {"sqlite", NewSQLite, NewSQLite}, {"citus", NewCitus, NewCitusPristine}}
}

// Each runs fn as a subtest per backend, with a fresh database.
func Each(t *testing.T, fn func(t *testing.T, db string)) {
	EachBackend(t, func(t *testing.T, b Backend) { fn(t, b.New(t)) })
}

// EachBackend runs fn as a subtest per backend, for tests that need more
// than one database of it.
func EachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// NewSQLite returns a new embedded database file in the test's temporary
// directory, as --db names it.
func NewSQLite(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// NewLike creates another empty database of target's backend.
func NewLike(t testing.TB, target string) string {
	switch {
	case IsSQLite(target):
		return NewSQLite(t)
	case IsCitus(target):
		return NewCitus(t)
	}
	return New(t)
}

// IsSQLite reports whether target (a --db value from New or NewSQLite)
// names the embedded store.
func IsSQLite(target string) bool { return strings.HasPrefix(target, "sqlite:") }

// BaseDSN is the administrative connection used to create test databases.
func BaseDSN() string {
	if dsn := os.Getenv("TOKENEVENTS_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// New creates an empty database for t, drops it when t ends, and returns its
// DSN.
func New(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("postgres", BaseDSN())
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI but unreachable at %s: %v", BaseDSN(), err)
		}
		t.Skipf("PostgreSQL unreachable at %s (set TOKENEVENTS_TEST_DSN): %v", BaseDSN(), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tokenevents_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil { // name is ours, not input
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		_ = admin.Close()
	})
	u, err := url.Parse(BaseDSN())
	if err != nil {
		t.Fatalf("TOKENEVENTS_TEST_DSN: %v", err)
	}
	u.Path = "/" + name
	if !strings.Contains(u.RawQuery, "sslmode") {
		q := u.Query()
		q.Set("sslmode", "disable")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open opens a plain connection to target for assertions. Queries written
// with $1-style parameters run on both backends, and name internal tables
// without a schema: on PostgreSQL the connection's search_path includes
// tokenevents_internal.
func Open(t testing.TB, target string) *sql.DB {
	t.Helper()
	driver, dsn := "postgres", withInternalSchema(target)
	if IsSQLite(target) {
		driver, dsn = "sqlite", sqlite.DSN(strings.TrimPrefix(target, "sqlite:"))
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// withInternalSchema adds tokenevents_internal to a PostgreSQL URL's
// search_path (lib/pq sends unknown parameters as run-time settings).
func withInternalSchema(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	q := u.Query()
	q.Set("search_path", "public,tokenevents_internal")
	u.RawQuery = q.Encode()
	return u.String()
}

// Dump returns every row of token_events as text lines in one form for
// both backends (UTC microsecond timestamps, canonical JSON metadata),
// sorted, to compare the states of two databases.
func Dump(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT account_id, token_type, token_value, event, created_at, status, expires_at, metadata
		FROM token_events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var account, typ, value, event, status string
		var created, expires, meta any
		if err := rows.Scan(&account, &typ, &value, &event, &created, &status, &expires, &meta); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{account, typ, value, event, Time(t, created), status, Time(t, expires),
			JSON(t, meta)}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// DumpStatuses returns every row of token_statuses (without token id and
// bookkeeping) as text lines in one form for both backends, sorted.
func DumpStatuses(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT account_id, token_type, token_value, status, decided_by, coalesce(event, '-'),
		event_created_at, event_expires_at, valid_until, reconciled_at FROM token_statuses`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var account, typ, value, status, by, event string
		var created, expires, until, at any
		if err := rows.Scan(&account, &typ, &value, &status, &by, &event, &created, &expires, &until, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{account, typ, value, status, by, event,
			Time(t, created), Time(t, expires), Time(t, until), Time(t, at)}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// Time renders a scanned timestamp (time.Time from PostgreSQL, text from
// SQLite, nil) as UTC with microseconds, or "-".
func Time(t testing.TB, v any) string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return "-"
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000000")
	case string:
		tm, err := sqlite.ParseTime(x)
		if err != nil {
			t.Fatalf("stored timestamp %q: %v", x, err)
		}
		return tm.UTC().Format("2006-01-02T15:04:05.000000")
	case []byte:
		return Time(t, string(x))
	}
	t.Fatalf("timestamp of type %T", v)
	return ""
}

// JSON renders a scanned JSON value canonically (sorted keys, no spaces).
func JSON(t testing.TB, v any) string {
	t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		t.Fatalf("JSON of type %T", v)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("stored JSON %q: %v", b, err)
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// Tables lists the tables of the database (user tables of the public
// schema, or of the SQLite file).
func Tables(t testing.TB, db *sql.DB) []string {
	t.Helper()
	q := `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`
	if _, sqlite := db.Driver().(*sqlitedrv.Driver); sqlite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DumpTables renders every row of every table as text, to search it.
func DumpTables(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, n := range Tables(t, db) {
		rows, err := db.Query(`SELECT * FROM "` + n + `"`) // names from the catalog
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			b.WriteString(n + ":")
			for _, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteString("\n")
		}
		_ = rows.Close()
	}
	return b.String()
}

// Count runs a count query.
func Count(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// Must fails t on err.
func Must(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// DumpCustomers returns every customer and every token's customer link as
// text lines in one form for both backends (without the creation times
// each database sets), sorted.
func DumpCustomers(t testing.TB, db *sql.DB) []string {
	t.Helper()
	var out []string
	rows, err := db.Query(`SELECT account_id, customer_id, status, deleted_at, metadata, updated_at FROM customers`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var account, id string
		var status sql.NullString
		var deleted, meta, updated any
		if err := rows.Scan(&account, &id, &status, &deleted, &meta, &updated); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{"customer", account, id, status.String, Time(t, deleted), JSON(t, meta), Time(t, updated)}, "|"))
	}
	_ = rows.Close()
	rows, err = db.Query(`SELECT account_id, token_type, token_value, customer_id, linked_at FROM tokens WHERE customer_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var account, typ, value, customer string
		var linked any
		if err := rows.Scan(&account, &typ, &value, &customer, &linked); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{"link", account, typ, value, customer, Time(t, linked)}, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
