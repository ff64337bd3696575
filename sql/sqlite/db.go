// Package sqlite is the embedded store: one SQLite file, through the pure-Go
// driver modernc.org/sqlite, with the same behaviour as the PostgreSQL store
// (SPEC §5). Its schema migrations and non-trivial queries are embedded .sql
// files.
//
// SQLite lets one transaction write at a time. The store therefore funnels
// its own writes through one mutex (other processes wait on the database's
// busy timeout), writes in large transactions, and keeps the parallel work
// of an import — reading, normalising, hashing — in the pipeline.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the driver

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/sql/schema"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

//go:embed queries/*.sql
var queryFS embed.FS

// query returns an embedded query by file name (without .sql).
func query(name string) string { return schema.Query(queryFS, name) }

// DB is an SQLite store.
type DB struct {
	db   *sqlx.DB
	path string
	log  *slog.Logger
	// writeMu serialises this process's write transactions, which SQLite
	// would otherwise make wait on each other by polling.
	writeMu sync.Mutex
	// locks held during an import or reconcile run.
	importLock, reconcileLock *fileLock
	// file is the database file as opened: a write transaction commits
	// only while the path still names it.
	file os.FileInfo
	// lockTimeout bounds the wait for another run's lock file.
	lockTimeout time.Duration
}

// ErrFileGone is returned by a write when the database file was removed
// or replaced since it was opened: what the run wrote went to a file no
// one will open again, so the run must not report success.
var ErrFileGone = errors.New("the database file was removed or replaced while the run was writing to it")

// checkFile reports ErrFileGone when the path no longer names the file
// that was opened.
func (d *DB) checkFile() error {
	if d.file == nil {
		return nil
	}
	now, err := os.Stat(d.path)
	if err != nil || !os.SameFile(d.file, now) {
		return fmt.Errorf("%s: %w", d.path, ErrFileGone)
	}
	return nil
}

// Options configure Open.
type Options struct {
	// NoMigrate makes Open fail instead of applying pending migrations.
	NoMigrate bool
	Logger    *slog.Logger
	// LockTimeout bounds the wait for another import's or reconcile's
	// lock (WaitForever or 0, the zero Options' default: as long as it
	// takes); NoWait: do not wait.
	LockTimeout time.Duration
	NoWait      bool
}

// timeLayout is how timestamps are stored: UTC, microseconds, fixed width,
// so that text order is time order (PostgreSQL keeps microseconds too).
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// ts formats a timestamp for storage. Year 1 is a real instant here
// (Go's zero time): columns where a missing instant is NULL use tsOpt or
// tsNull. Instants from input passed tokenevents.StorableTime, so the
// layout's truncation to microseconds drops nothing.
func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// tsOpt formats a timestamp whose zero value means "none" (a status valid
// forever, a customer not deleted) as NULL.
func tsOpt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// tsNull formats an optional instant; absent is NULL.
func tsNull(t tokenevents.NullTime) any {
	if !t.Valid {
		return nil
	}
	return ts(t.Time)
}

// parseTS reads a stored timestamp; NULL is the zero time.
func parseTS(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return ParseTime(s.String)
}

// parseNullTS reads a stored optional instant; NULL is absent.
func parseNullTS(s sql.NullString) (tokenevents.NullTime, error) {
	if !s.Valid || s.String == "" {
		return tokenevents.NullTime{}, nil
	}
	t, err := ParseTime(s.String)
	return tokenevents.NullTime{Time: t, Valid: err == nil}, err
}

// ParseTime reads a timestamp as stored by this package, or as people and
// other tools write them into the file: any RFC 3339 form, the driver's own
// "2006-01-02 15:04:05.999999999-07:00" for a time.Time bound directly,
// SQLite's "2006-01-02 15:04:05" (UTC) and a bare date (UTC midnight).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t2, err2 := time.Parse(layout, s); err2 == nil {
				return t2.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("stored timestamp: %w", err)
	}
	return t.UTC(), nil
}

// DSN is the driver's connection string for the file at path: WAL so that
// readers never wait for the writer, synchronous=NORMAL (a commit is durable
// at the next checkpoint; a crash loses at most the last transactions, which
// the import ledger redoes), write transactions that take the write lock at
// BEGIN, and a page cache (8 MB per connection; more bought no speed) for a merge's
// working set. Sorts and temporary tables spill to temporary files, so that
// memory stays bounded whatever the size of a partition.
func DSN(path string) string {
	q := url.Values{}
	q.Set("_busy_timeout", "60000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite") // a time.Time bound by another Go program: 2006-01-02 15:04:05.999999999-07:00
	q.Add("_pragma", "cache_size(-8192)")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if need be) the database file at path and brings its
// schema up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, tokenevents.UsageErrorf("sqlite: empty database path")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sqldb, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection writes at a time (writeMu); one more serves reads
	// meanwhile. Each has its own page cache.
	sqldb.SetMaxOpenConns(2)
	sqldb.SetMaxIdleConns(2)
	d := &DB{db: sqlx.NewDb(sqldb, "sqlite"), path: path, log: opts.Logger, lockTimeout: tokenevents.WaitForever}
	if opts.NoWait {
		d.lockTimeout = 0
	} else if opts.LockTimeout > 0 {
		d.lockTimeout = opts.LockTimeout
	}
	if err := d.db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open %s: %w", path, err), d.db.Close())
	}
	if err := d.migrate(ctx, opts.NoMigrate); err != nil {
		return nil, errors.Join(err, d.db.Close())
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open %s: %w", path, err), d.db.Close())
	}
	d.file = fi
	return d, nil
}

// Close releases the run locks if held and closes the database.
func (d *DB) Close() error {
	return errors.Join(d.releaseImportLock(), d.releaseReconcileLock(), d.db.Close())
}

// write runs fn in a write transaction, committed when fn succeeds.
func (d *DB) write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	if err := d.checkFile(); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// migrate applies pending migrations in one write transaction, which also
// keeps two processes started at once from applying them twice.
func (d *DB) migrate(ctx context.Context, noMigrate bool) error {
	ms, err := schema.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	err = d.write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
			return err
		}
		var current int
		if err := tx.GetContext(ctx, &current, `SELECT coalesce(max(version), 0) FROM schema_migrations`); err != nil {
			return err
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			if noMigrate {
				return fmt.Errorf("%w: database schema is at version %d, this binary needs %d (run once without --no-migrate)",
					tokenevents.ErrUsage, current, ms[len(ms)-1].Version)
			}
			if _, err := tx.ExecContext(ctx, m.Body); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, ts(time.Now())); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			d.log.Info("applied migration", "migration", m.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
