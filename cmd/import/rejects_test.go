package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

const rejectsInput = "email,phone,created_at,status,expires_at\n" +
	"kari@example.no,+4791234567,2024-01-01,OPT_OUT,\n" + // line 2: fine
	"kari.nordmann@example,+4741234567,2024-01-01,OPT_OUT,\n" + // 3: bad e-mail, good phone
	"ola@example.no,,2024-13-01,OPT_OUT,\n" + // 4: bad created_at
	"per@example.no,,2024-01-01,opt out,\n" + // 5: bad status
	",,2024-01-01,OPT_OUT,\n" + // 6: no identifier
	"broken@example,12345,2024-01-01,OPT_OUT,\n" + // 7: both identifiers bad
	"anne@example.no,,2024-01-01,OPT_OUT,never\n" + // 8: bad expires_at
	"too,many,fields,here,x,y\n" // 9: field count

func readRejects(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestRejectsRedactedAndCounted(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		in := writeFile(t, dir, "in.csv", []byte(rejectsInput))
		rej := filepath.Join(dir, "rejects.csv")
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "100%", "--rejects", rej, in)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if r.sum.RowsRead != 8 || r.sum.RowsRejected != 6 || r.sum.RowsImported != 2 || r.sum.FieldsRejected != 1 || r.sum.Events != 3 {
			t.Errorf("summary %+v", r.sum)
		}
		fi, err := os.Stat(rej)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("rejects file mode %v, want 0600", fi.Mode().Perm())
		}
		rows := readRejects(t, rej)
		want := [][]string{
			{"file", "line", "column", "reason", "value"},
			{in, "3", "email", "email: e-mail domain must contain a dot", "k***@e***"},
			{in, "4", "created_at", "created_at: not a timestamp (want RFC 3339, YYYY-MM-DD HH:MM:SS[.fraction] or YYYY-MM-DD)", "2024-13-01"},
			{in, "5", "status", "status must match ^[A-Z][A-Z0-9_]*$", "opt out"},
			{in, "6", "", "no identifier: email, phone_number and token_value are all empty", ""},
			{in, "7", "email", "email: e-mail domain must contain a dot", "b***@e***"},
			{in, "7", "phone", "phone_number: phone number is not a valid number", "*****"},
			{in, "8", "expires_at", "expires_at: not a timestamp (want RFC 3339, YYYY-MM-DD HH:MM:SS[.fraction] or YYYY-MM-DD)", "never"},
			{in, "9", "", "row has 6 fields, the header has 5", ""},
		}
		if got, w := flat(rows), flat(want); got != w {
			t.Errorf("rejects:\n%s\nwant:\n%s", got, w)
		}

		// --rejects-raw shows the values as they were.
		dsn2 := be.New(t)
		raw := filepath.Join(dir, "raw.csv")
		r = runImport(t, dsn2, "", "--account", "P00000001", "--event", "e", "--max-rejects", "100%", "--rejects-raw", "--rejects", raw, in)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if rows := readRejects(t, raw); rows[1][4] != "kari.nordmann@example" || rows[6][4] != "12345" {
			t.Errorf("raw rejects: %q", rows)
		}
	})
}

func flat(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, " | ") + "\n")
	}
	return b.String()
}

// TestNoPlainIdentifiersAnywhere imports identifiers, good and bad, and then
// looks for them in every table, the logs, the summary and the rejects file.
func TestNoPlainIdentifiersAnywhere(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		in := writeFile(t, dir, "in.csv", []byte(rejectsInput))
		rej := filepath.Join(dir, "rejects.csv")
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "10",
			"--log-format", "json", "--rejects", rej, in)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		secrets := []string{"kari@example.no", "kari.nordmann@example", "ola@example.no", "per@example.no",
			"broken@example", "anne@example.no", "4791234567", "4741234567", "91234567", "41234567"}
		rejects, err := os.ReadFile(rej)
		if err != nil {
			t.Fatal(err)
		}
		db := testdb.Open(t, dsn)
		places := map[string]string{
			"stdout": r.stdout, "stderr": r.stderr, "rejects file": string(rejects),
			"database": testdb.DumpTables(t, db),
		}
		for place, text := range places {
			for _, s := range secrets {
				if strings.Contains(strings.ToLower(text), s) {
					t.Errorf("%s contains the plain identifier %q", place, s)
				}
			}
		}
		if !strings.Contains(places["database"], sha1hex("kari@example.no")) {
			t.Error("the dump does not hold the hashed token: the check looks in the wrong place")
		}
	})
}
