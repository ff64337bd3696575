// Package testdb gives each test a fresh PostgreSQL database.
//
// The server is TOKENEVENTS_TEST_DSN, default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. When it cannot
// be reached the test is skipped with a message, except under CI=true, where
// it fails: CI must never pass by skipping the database tests.
package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/lib/pq" // the driver under test
)

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

// Open opens a plain connection to dsn for assertions.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// Dump returns every row of the event tables as sorted text lines, to compare
// the states of two databases.
func Dump(t testing.TB, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT concat_ws('|', account_id, token_type, token_value, event,
		to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), status,
		coalesce(to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '-'), metadata::text)
		FROM token_events ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
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
