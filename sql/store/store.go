// Package store picks the database a command works on (SPEC §5) and opens
// it: PostgreSQL, the system of record, when one is named; otherwise the
// embedded SQLite file.
package store

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/sql/postgres"
	"github.com/tokenevents/tokenevents/sql/sqlite"
)

// Store is everything the commands need from a database.
type Store interface {
	tokenevents.ImportStore
	tokenevents.ReconcileStore
	tokenevents.RunHistory
	io.Closer
}

// DefaultPath is the embedded database used when no server is named.
const DefaultPath = "tokenevents.db"

// Target is a resolved database choice.
type Target struct {
	// SQLitePath is the embedded database file; empty for PostgreSQL.
	SQLitePath string
	// DSN is the PostgreSQL connection string (may be empty: the PG*
	// variables then apply).
	DSN string
	// Default is set when nothing named a database and the embedded
	// default was chosen.
	Default bool
}

// Resolve picks the database from the --db flag, else DATABASE_URL, else
// PGHOST (PostgreSQL through the PG* variables), else the embedded default
// ./tokenevents.db. "sqlite:PATH", or a path ending in .db, .sqlite or
// .sqlite3, names an SQLite file; anything else is a PostgreSQL address.
func Resolve(flagValue string, getenv func(string) string) (Target, error) {
	v := flagValue
	if v == "" {
		v = getenv("DATABASE_URL")
	}
	switch {
	case v == "" && getenv("PGHOST") != "":
		return Target{DSN: postgres.ResolveDSN("")}, nil
	case v == "":
		return Target{SQLitePath: DefaultPath, Default: true}, nil
	case strings.HasPrefix(v, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(v, "sqlite:"), "//")
		if path == "" {
			return Target{}, tokenevents.UsageErrorf("--db %q: want sqlite:PATH", v)
		}
		return Target{SQLitePath: path}, nil
	case isSQLiteFile(v):
		return Target{SQLitePath: v}, nil
	}
	return Target{DSN: postgres.ResolveDSN(v)}, nil
}

func isSQLiteFile(v string) bool {
	if strings.Contains(v, "://") || strings.Contains(v, "=") {
		return false
	}
	for _, ext := range []string{".db", ".sqlite", ".sqlite3"} {
		if strings.HasSuffix(strings.ToLower(v), ext) {
			return true
		}
	}
	return false
}

// Options configure Open.
type Options struct {
	NoMigrate bool
	// MaxConns caps PostgreSQL connections.
	MaxConns int
	// Retries is how often a transient PostgreSQL failure is tried.
	Retries int
	Logger  *slog.Logger
	// ApplicationName names PostgreSQL connections (tokenevents-import,
	// tokenevents-reconcile) for a DBA's pg_stat_activity.
	ApplicationName string
	// LockTimeout bounds the wait for another run's lock; NoWait: do not
	// wait. The zero Options wait as long as it takes.
	LockTimeout time.Duration
	NoWait      bool
}

// Open opens the target. The embedded default is announced once in the log,
// so that nobody wonders where their data went.
func Open(ctx context.Context, t Target, o Options) (Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if t.SQLitePath != "" {
		if t.Default {
			o.Logger.Info("no --db, DATABASE_URL or PGHOST: using the embedded database", "path", t.SQLitePath)
		}
		return sqlite.Open(ctx, t.SQLitePath, sqlite.Options{NoMigrate: o.NoMigrate, Logger: o.Logger,
			LockTimeout: o.LockTimeout, NoWait: o.NoWait})
	}
	retry := postgres.DefaultRetry
	if o.Retries > 0 {
		retry = retry.WithAttempts(o.Retries)
	}
	return postgres.Open(ctx, t.DSN, postgres.Options{NoMigrate: o.NoMigrate, Logger: o.Logger, MaxConns: o.MaxConns, Retry: retry,
		ApplicationName: o.ApplicationName, LockTimeout: o.LockTimeout, NoWait: o.NoWait})
}
