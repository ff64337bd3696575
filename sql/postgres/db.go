// Package postgres is the PostgreSQL store: schema migrations, the import
// write path and the reconcile queries, each query an embedded .sql file.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/sql/schema"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

//go:embed queries/*.sql
var queryFS embed.FS

// Advisory lock keys. Migrations are serialised between processes started
// at the same time; imports run one at a time per database, because a merge
// truncates the staging partition it has merged.
const (
	migrationLockKey = 0x746f6b656e6576 // "tokenev"
	importLockKey    = 0x746f6b656e6577
)

// query returns an embedded query by file name (without .sql).
func query(name string) string { return schema.Query(queryFS, name) }

// DB is a PostgreSQL store.
type DB struct {
	db    *sqlx.DB
	log   *slog.Logger
	retry RetryPolicy
	// lock is the connection that holds the import lock during a run.
	lock *sqlx.Conn
	// mergeJoin is joinAuto but in tests of either way.
	mergeJoin joinChoice
	// wrote is set once this run may have written tokens or events: the
	// statistics are refreshed after it only then.
	wrote atomic.Bool
	// lockTimeout bounds the wait for another run's lock.
	lockTimeout time.Duration
	// citus is set when the database is a Citus coordinator (citus.go).
	citus bool
	// linksStaged is set once this process staged or merged links: on
	// Citus a file's end then empties the links' stage as well as the
	// events' (emptying one costs a second there: a file per shard).
	linksStaged atomic.Bool
	// shards is how many shards the token tables have (1 on one server):
	// a reconcile range is spread over them, so on Citus a range holds
	// that many times the tokens of a single server's.
	shards int64
}

// waitLock takes an advisory lock on conn (lockQuery with args) after a
// try (tryQuery) failed: it waits up to the lock timeout (WaitForever:
// as long as it takes; 0: not at all) and returns ErrLocked past it.
// lock_timeout bounds advisory lock waits too.
func (d *DB) waitLock(ctx context.Context, conn *sqlx.Conn, lockQuery string, args ...any) error {
	if d.lockTimeout == 0 {
		return tokenevents.ErrLocked
	}
	if d.lockTimeout > 0 {
		ms := strconv.FormatInt(max(1, d.lockTimeout.Milliseconds()), 10)
		if _, err := conn.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, false)`, ms); err != nil {
			return err
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT set_config('lock_timeout', '0', false)`)
		}()
	}
	_, err := conn.ExecContext(ctx, lockQuery, args...)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
		return tokenevents.ErrLocked
	}
	return err
}

// Options configure Open.
type Options struct {
	// NoMigrate makes Open fail instead of applying pending migrations.
	NoMigrate bool
	// MaxConns caps open connections (0: 8).
	MaxConns int
	Retry    RetryPolicy
	Logger   *slog.Logger
	// ApplicationName is shown to a DBA in pg_stat_activity, unless the
	// connection string names one already.
	ApplicationName string
	// LockTimeout bounds the wait for another import's or reconcile's
	// lock (WaitForever, the zero Options' default, or 0: do not wait).
	LockTimeout time.Duration
	// NoWait is LockTimeout 0, which the zero value cannot say.
	NoWait bool
}

// withApplicationName adds application_name to a connection string that
// has none (a URL's query, or a key=value pair).
func withApplicationName(dsn, name string) string {
	if name == "" {
		return dsn
	}
	return withParam(dsn, "application_name", name)
}

// withParam adds a run-time parameter to a connection string that does not
// set it (a URL's query, or a key=value pair); lib/pq sends it when it
// connects.
func withParam(dsn, key, value string) string {
	if strings.Contains(dsn, key) {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn // Open reports it
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn + " " + key + "=" + value)
}

// lockTimeout is the effective timeout of Options: zero means forever
// unless noWait.
func lockTimeout(t time.Duration, noWait bool) time.Duration {
	switch {
	case noWait:
		return 0
	case t <= 0:
		return tokenevents.WaitForever
	}
	return t
}

// configurationError reports whether a failure to connect is the caller's
// configuration, not a passing fault: the database does not exist, or the
// server refuses the role or its password (SQLSTATE classes 3D and 28).
func configurationError(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && (pe.Code.Class() == "3D" || pe.Code.Class() == "28")
}

// ResolveDSN picks the connection string: the flag, else DATABASE_URL, else
// an empty string that makes lib/pq read the PG* variables. Unless the
// caller chose an sslmode, it asks for "prefer" as libpq does (lib/pq's own
// default is "require", which local servers without TLS refuse).
func ResolveDSN(flagValue string) string {
	dsn := flagValue
	if dsn == "" {
		dsn = os.Getenv("DATABASE_URL")
	}
	if os.Getenv("PGSSLMODE") != "" || strings.Contains(dsn, "sslmode") {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("sslmode", "prefer")
			u.RawQuery = q.Encode()
			return u.String()
		}
		return dsn
	}
	if dsn == "" {
		return "sslmode=prefer"
	}
	return dsn + " sslmode=prefer"
}

// Open connects, checks the connection and brings the schema up to date
// under an advisory lock. A malformed DSN is a usage error.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	dsn = withApplicationName(dsn, opts.ApplicationName)
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	sqldb, err := openPool(dsn, opts.MaxConns)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry = DefaultRetry
	}
	d := &DB{db: sqlx.NewDb(sqldb, "postgres"), log: opts.Logger, retry: opts.Retry, lockTimeout: lockTimeout(opts.LockTimeout, opts.NoWait), shards: 1}
	err = d.retry.Do(ctx, d.log, "connect", func() error { return d.db.PingContext(ctx) })
	if configurationError(err) {
		return nil, errors.Join(fmt.Errorf("%w: connect: %v", tokenevents.ErrUsage, err), d.db.Close())
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("connect: %w", err), d.db.Close())
	}
	if err := d.migrate(ctx, opts.NoMigrate); err != nil {
		return nil, errors.Join(err, d.db.Close())
	}
	if d.citus {
		// Each statement of the merge and the reconcile, and each COPY,
		// reaches every shard placement of a worker over a connection of
		// its own; Citus keeps one per worker after a transaction unless
		// told otherwise, and opening the others again cost 0.25 s of a
		// 0.3 s COPY of 10,000 staged events. Keep as many as a worker has
		// shards, by default.
		citusDSN := withParam(withParam(dsn, "citus.max_cached_conns_per_worker", citusCachedConns),
			"citus.max_adaptive_executor_pool_size", citusTasksPerWorker)
		pool, err := openPool(citusDSN, opts.MaxConns)
		if err != nil {
			return nil, errors.Join(err, d.db.Close())
		}
		if err := d.db.Close(); err != nil {
			return nil, errors.Join(err, pool.Close())
		}
		d.db = sqlx.NewDb(pool, "postgres")
	}
	return d, nil
}

// citusCachedConns is how many connections to each worker a session of the
// store keeps between transactions on Citus: the shards of a worker under
// citus/distribute.sql's default of four per worker.
const citusCachedConns = "4"

// citusTasksPerWorker is how many of a statement's shard tasks a session
// runs at once on each worker (Citus's default is 16). The tools already
// run statements side by side — --writers partition merges, --workers
// reconcile ranges — so one task per worker and statement keeps each
// worker as busy as those flags say, rather than that many times over:
// on the 2-core test machine 8 tasks at once made a reconcile decision
// take 1.9 s against 1.0 s one at a time. A connection string that sets
// citus.max_adaptive_executor_pool_size keeps its own value.
const citusTasksPerWorker = "1"

// openPool makes the connection pool for dsn, at most maxConns open.
func openPool(dsn string, maxConns int) (*sql.DB, error) {
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: database address: %v", tokenevents.ErrUsage, err)
	}
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	return sqldb, nil
}

// Close releases the import lock if held and closes the connection pool.
func (d *DB) Close() error {
	return errors.Join(d.unlockAll(context.Background()), d.db.Close())
}

// migrate applies pending migrations, each in its own transaction, while
// holding a session advisory lock so concurrent starts apply them once.
func (d *DB) migrate(ctx context.Context, noMigrate bool) (err error) {
	ms, err := schema.Load(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	conn, err := d.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		_, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
		err = errors.Join(err, uerr)
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.GetContext(ctx, &current, `SELECT coalesce(max(version), 0) FROM schema_migrations`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		if noMigrate {
			return fmt.Errorf("%w: database schema is at version %d, this binary needs %d (run once without --no-migrate)",
				tokenevents.ErrUsage, current, ms[len(ms)-1].Version)
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, m.Body); err != nil {
			return errors.Join(fmt.Errorf("migrate %s: %w", m.Name, err), tx.Rollback())
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return errors.Join(fmt.Errorf("migrate %s: %w", m.Name, err), tx.Rollback())
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
		d.log.Info("applied migration", "migration", m.Name)
	}
	if d.citus, err = detectCitus(ctx, conn); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if d.citus {
		return d.distribute(ctx, conn, noMigrate)
	}
	return nil
}

// pqStrings passes a []string as a PostgreSQL text array.
func pqStrings(s []string) any { return pq.Array(s) }
