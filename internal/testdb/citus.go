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

// NewCitus creates an empty database on the Citus cluster for t — on the
// coordinator and on every worker, each with the citus extension, the
// workers added to the coordinator's metadata — drops it on every node when
// t ends, and returns the coordinator's DSN for it. Without
// TOKENEVENTS_TEST_CITUS_DSN the test is skipped, except under CI=true,
// where it fails.
func NewCitus(t testing.TB) string {
	t.Helper()
	if CitusDSN() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Citus backend is required in CI: set TOKENEVENTS_TEST_CITUS_DSN (.ci/run starts a cluster)")
		}
		t.Skip("no Citus cluster (set TOKENEVENTS_TEST_CITUS_DSN; ../shared/citus/cluster.sh start)")
	}
	coord, err := sql.Open("postgres", CitusDSN())
	if err == nil {
		err = coord.Ping()
	}
	if err != nil {
		t.Fatalf("Citus coordinator unreachable at %s: %v", CitusDSN(), err)
	}
	defer coord.Close()
	var workers []string
	rows, err := coord.Query(`SELECT node_name || ':' || node_port FROM citus_get_active_worker_nodes() ORDER BY 1`)
	if err != nil {
		t.Fatalf("Citus workers: %v", err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	if err := rows.Err(); err != nil || len(workers) == 0 {
		t.Fatalf("Citus workers: %v (found %d)", err, len(workers))
	}
	base, err := url.Parse(CitusDSN())
	if err != nil {
		t.Fatalf("TOKENEVENTS_TEST_CITUS_DSN: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "tokenevents_citus_" + hex.EncodeToString(b)
	nodes := append([]string{base.Host}, workers...)
	for _, host := range nodes {
		admin := openAt(t, base, host, base.Path)
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil { // name is ours, not input
			t.Fatalf("create test database on %s: %v", host, err)
		}
		t.Cleanup(func() {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			_ = admin.Close()
		})
		db := openAt(t, base, host, "/"+name)
		if _, err := db.Exec(`CREATE EXTENSION citus`); err != nil {
			t.Fatalf("citus extension on %s: %v", host, err)
		}
		_ = db.Close()
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

// WorkerDSNs returns the DSN of target's database on each worker node.
func WorkerDSNs(t testing.TB, target string) []string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	db := Open(t, target)
	rows, err := db.Query(`SELECT node_name || ':' || node_port FROM citus_get_active_worker_nodes() ORDER BY 1`)
	if err != nil {
		t.Fatalf("Citus workers: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			t.Fatal(err)
		}
		out = append(out, dsnAt(u, w, u.Path))
	}
	return out
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
