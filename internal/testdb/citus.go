package testdb

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// CitusDSN is the coordinator of the Citus cluster the tests use as their
// third backend (TOKENEVENTS_TEST_CITUS_DSN; .ci/run starts one with
// ../shared/citus/cluster.sh). Its database must have the citus extension
// and the workers added, as cluster.sh leaves the postgres database.
func CitusDSN() string { return os.Getenv("TOKENEVENTS_TEST_CITUS_DSN") }

// IsCitus reports whether target (a --db value from NewCitus) names a
// database of the Citus cluster.
func IsCitus(target string) bool {
	c, err := url.Parse(CitusDSN())
	if err != nil || CitusDSN() == "" {
		return false
	}
	u, err := url.Parse(target)
	return err == nil && u.Host == c.Host
}

// NewCitusPristine makes t a database on the Citus cluster that no store
// has opened, and drops it when t ends.
func NewCitusPristine(t testing.TB) string {
	t.Helper()
	base := citusBase(t)
	dsn := createCitus(t, base)
	t.Cleanup(func() { dropCitus(base, dsn) })
	return dsn
}

// citusBase is the parsed TOKENEVENTS_TEST_CITUS_DSN; without one the test
// is skipped, except under CI=true, where it fails.
func citusBase(t testing.TB) *url.URL {
	t.Helper()
	if CitusDSN() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Citus backend is required in CI: set TOKENEVENTS_TEST_CITUS_DSN (.ci/run starts a cluster)")
		}
		t.Skip("no Citus cluster (set TOKENEVENTS_TEST_CITUS_DSN; ../shared/citus/cluster.sh start)")
	}
	base, err := url.Parse(CitusDSN())
	if err != nil {
		t.Fatalf("TOKENEVENTS_TEST_CITUS_DSN: %v", err)
	}
	return base
}

// NewCitus gives t an empty database on the Citus cluster and returns the
// coordinator's DSN for it. Without TOKENEVENTS_TEST_CITUS_DSN the test is
// skipped, except under CI=true, where it fails.
//
// A database of the cluster costs seconds to make (one on the coordinator
// and on every worker, each with the extension) and more to migrate (the
// store distributes a thousand shards), so a test process keeps the ones
// its tests are done with and hands them to later tests emptied: every
// table's rows deleted and the run ids restarted, the schema left as the
// store migrated it. Databases left by test processes that are gone are
// dropped. Backend.Pristine (NewCitusPristine) is a database no store has
// opened.
func NewCitus(t testing.TB) string {
	t.Helper()
	base := citusBase(t)
	citusPool.sweep.Do(func() { dropStale(t, base) })
	var dsn string
	for dsn == "" {
		citusPool.mu.Lock()
		if n := len(citusPool.free); n > 0 {
			dsn = citusPool.free[n-1]
			citusPool.free = citusPool.free[:n-1]
		}
		citusPool.mu.Unlock()
		if dsn == "" {
			dsn = createCitus(t, base)
			break
		}
		if err := emptyCitus(dsn); err != nil {
			t.Logf("a pooled Citus database could not be emptied (%v); making another", err)
			dropCitus(base, dsn)
			dsn = ""
		}
	}
	t.Cleanup(func() {
		citusPool.mu.Lock()
		citusPool.free = append(citusPool.free, dsn)
		citusPool.mu.Unlock()
	})
	return dsn
}

// citusPool holds this test process's Citus databases that no test uses.
var citusPool struct {
	mu    sync.Mutex
	free  []string
	sweep sync.Once
}

// citusPrefix starts the name of every test database on the cluster; the
// process id follows, so that a later process can tell what is left over.
const citusPrefix = "tokenevents_citus_"

// createCitus makes a database on every node of the cluster, with the
// extension, and the workers added to the coordinator's metadata.
func createCitus(t testing.TB, base *url.URL) string {
	t.Helper()
	coord := openAt(t, base, base.Host, base.Path)
	defer coord.Close()
	workers, err := citusWorkers(coord)
	if err != nil || len(workers) == 0 {
		t.Fatalf("Citus workers at %s: %v (found %d)", CitusDSN(), err, len(workers))
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s%d_%s", citusPrefix, os.Getpid(), hex.EncodeToString(b))
	for _, host := range append([]string{base.Host}, workers...) {
		admin := openAt(t, base, host, base.Path)
		_, err := admin.Exec("CREATE DATABASE " + name) // name is ours, not input
		_ = admin.Close()
		if err != nil {
			t.Fatalf("create test database on %s: %v", host, err)
		}
		db := openAt(t, base, host, "/"+name)
		_, err = db.Exec(`CREATE EXTENSION citus`)
		_ = db.Close()
		if err != nil {
			t.Fatalf("citus extension on %s: %v", host, err)
		}
	}
	db := openAt(t, base, base.Host, "/"+name)
	defer db.Close()
	coordHost, coordPort := splitHost(base.Host)
	if _, err := db.Exec(`SELECT citus_set_coordinator_host($1, $2)`, coordHost, coordPort); err != nil {
		t.Fatalf("citus coordinator: %v", err)
	}
	for _, w := range workers {
		h, p := splitHost(w)
		if _, err := db.Exec(`SELECT citus_add_node($1, $2)`, h, p); err != nil {
			t.Fatalf("citus worker %s: %v", w, err)
		}
	}
	return dsnAt(base, base.Host, "/"+name)
}

// emptyCitus deletes every row of a pooled database but its migrations,
// and restarts the run ids. Rows go by DELETE, not TRUNCATE: a test
// leaves a few rows, and a TRUNCATE of a thousand shards takes seconds.
func emptyCitus(dsn string) error {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT format('%I.%I', n.nspname, c.relname), EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'tokenevents_internal') AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname <> 'schema_migrations'`)
	if err != nil {
		return err
	}
	var deletes, local []string
	for rows.Next() {
		var table string
		var distributed bool
		if err := rows.Scan(&table, &distributed); err != nil {
			rows.Close()
			return err
		}
		if distributed {
			deletes = append(deletes, "DELETE FROM "+table) // names from the catalog
		} else {
			local = append(local, table)
		}
	}
	rows.Close()
	stmts := deletes
	if len(local) > 0 {
		stmts = append(stmts, "TRUNCATE "+strings.Join(local, ", ")+" RESTART IDENTITY")
	}
	if len(stmts) == 0 {
		return nil
	}
	_, err = db.Exec("BEGIN; " + strings.Join(stmts, "; ") + "; COMMIT")
	return err
}

// dropStale drops the test databases of processes that no longer run.
func dropStale(t testing.TB, base *url.URL) {
	coord := openAt(t, base, base.Host, base.Path)
	defer coord.Close()
	rows, err := coord.Query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, citusPrefix+"%")
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var name string
		if rows.Scan(&name) != nil {
			continue
		}
		pid, _, _ := strings.Cut(strings.TrimPrefix(name, citusPrefix), "_")
		if n, err := strconv.Atoi(pid); err == nil && syscall.Kill(n, 0) != nil {
			stale = append(stale, name)
		}
	}
	rows.Close()
	for _, name := range stale {
		dropCitus(base, dsnAt(base, base.Host, "/"+name))
	}
}

// dropCitus drops a test database on every node, as far as it can.
func dropCitus(base *url.URL, dsn string) {
	u, err := url.Parse(dsn)
	if err != nil {
		return
	}
	name := strings.TrimPrefix(u.Path, "/")
	coord, err := sql.Open("postgres", dsnAt(base, base.Host, base.Path))
	if err != nil {
		return
	}
	defer coord.Close()
	workers, _ := citusWorkers(coord) // as far as it can
	hosts := append([]string{base.Host}, workers...)
	for _, h := range hosts {
		if db, err := sql.Open("postgres", dsnAt(base, h, base.Path)); err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") // a name of ours, from the catalog
			_ = db.Close()
		}
	}
}

// WorkerDSNs returns the DSN of target's database on each worker node.
func WorkerDSNs(t testing.TB, target string) []string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	workers, err := citusWorkers(Open(t, target))
	if err != nil {
		t.Fatalf("Citus workers: %v", err)
	}
	var out []string
	for _, w := range workers {
		out = append(out, dsnAt(u, w, u.Path))
	}
	return out
}

// citusWorkers lists the active worker nodes of the coordinator db is
// connected to, as host:port.
func citusWorkers(db *sql.DB) ([]string, error) {
	rows, err := db.Query(`SELECT node_name || ':' || node_port FROM citus_get_active_worker_nodes() ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func splitHost(hostport string) (string, int) {
	h, p, _ := strings.Cut(hostport, ":")
	var port int
	_, _ = fmt.Sscan(p, &port)
	return h, port
}

func dsnAt(base *url.URL, host, path string) string {
	u := *base
	u.Host, u.Path = host, path
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func openAt(t testing.TB, base *url.URL, host, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsnAt(base, host, path))
	if err != nil {
		t.Fatal(err)
	}
	return db
}
