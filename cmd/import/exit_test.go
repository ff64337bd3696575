package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

func TestExitCodes(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		noCreated := writeFile(t, dir, "nocreated.csv", []byte("email\nkari@example.no\n"))
		noID := writeFile(t, dir, "noid.csv", []byte("name,created_at\nKari,2024-01-01\n"))
		bad := writeFile(t, dir, "bad.csv", []byte("email,created_at\nnope,2024-01-01\nkari@example.no,2024-01-01\n"))
		corrupt := writeFile(t, dir, "corrupt.csv.gz", append(gzipBytes(t, []byte("email,created_at\n"+strings.Repeat("kari@example.no,2024-01-01\n", 5000)))[:200], 0, 0))
		empty := writeFile(t, dir, "empty.csv", nil)
		base := []string{"--account", "P00000001", "--event", "e", "--rejects", filepath.Join(dir, "rej.csv")}

		tests := []struct {
			name      string
			args      []string
			dsn       string // "" = a fresh test database
			want      int
			wantErr   string
			nothingDB bool // the database must have no events afterwards
		}{
			{name: "ok", args: []string{good}, want: 0},
			{name: "unknown flag", args: []string{"--nope", good}, want: 2, nothingDB: true},
			{name: "no files", args: nil, want: 2, wantErr: "no input files", nothingDB: true},
			{name: "missing file", args: []string{filepath.Join(dir, "missing.csv")}, want: 2, nothingDB: true},
			{name: "no created_at", args: []string{good, noCreated}, want: 2, wantErr: "no created_at column", nothingDB: true},
			{name: "no identifier", args: []string{noID}, want: 2, wantErr: "no identifier column", nothingDB: true},
			{name: "empty file", args: []string{empty}, want: 2, wantErr: "header row is required", nothingDB: true},
			{name: "bad account flag", args: []string{"--account", "X1", good}, want: 2, nothingDB: true},
			{name: "bad map", args: []string{"--map", "email=Epost", good}, want: 2, wantErr: "no such column", nothingDB: true},
			{name: "bad status flag", args: []string{"--status", "opt-out", good}, want: 2, nothingDB: true},
			{name: "too many rejects", args: []string{bad}, want: 3, wantErr: "too many rejected rows"},
			{name: "rejects within limit", args: []string{"--max-rejects", "1", bad}, want: 0},
			{name: "corrupt gzip", args: []string{corrupt}, want: 1, wantErr: "corrupt.csv.gz"},
			{name: "database unreachable", args: []string{good}, dsn: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", want: 1},
			{name: "bad database URL", args: []string{good}, dsn: "postgres://%zz", want: 2},
			{name: "empty sqlite path", args: []string{good}, dsn: "sqlite:", want: 2},
			{name: "sqlite file in a missing directory", args: []string{good}, dsn: filepath.Join(dir, "missing", "x.db"), want: 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dsn := tt.dsn
				switch {
				case dsn == "" && tt.nothingDB:
					dsn = be.Pristine(t) // a usage error must leave it so
				case dsn == "":
					dsn = be.New(t)
				}
				var out, errb bytes.Buffer
				args := append(append([]string{"--db", dsn, "--retries", "1"}, base...), tt.args...)
				code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
				if code != tt.want {
					t.Fatalf("exit %d, want %d\n%s", code, tt.want, errb.String())
				}
				if tt.wantErr != "" && !strings.Contains(errb.String(), tt.wantErr) {
					t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errb.String())
				}
				if tt.nothingDB && tt.dsn == "" {
					db := testdb.Open(t, dsn)
					if tables := testdb.Tables(t, db); len(tables) != 0 {
						t.Errorf("a usage error created tables %v", tables)
					}
				}
			})
		}
	})
}

func TestNoMigrateRefuses(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.Pristine(t)
		dir := t.TempDir()
		good := writeFile(t, dir, "good.csv", []byte("email,created_at\nkari@example.no,2024-01-01\n"))
		r := runImport(t, dsn, "", "--no-migrate", "--account", "P00000001", "--event", "e", good)
		if r.code != 2 || !strings.Contains(r.stderr, "--no-migrate") {
			t.Fatalf("exit %d, want 2 naming --no-migrate:\n%s", r.code, r.stderr)
		}
		if tables := testdb.Tables(t, testdb.Open(t, dsn)); len(tables) > 1 || len(tables) == 1 && tables[0] != "schema_migrations" {
			t.Errorf("--no-migrate created tables %v", tables)
		}
		r = runImport(t, dsn, "", "--account", "P00000001", "--event", "e", good)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		r = runImport(t, dsn, "", "--no-migrate", "--force", "--account", "P00000001", "--event", "e", good)
		if r.code != 0 {
			t.Fatalf("--no-migrate on a migrated database: exit %d: %s", r.code, r.stderr)
		}
	})
}
