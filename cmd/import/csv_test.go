package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

// The logical rows every variant below encodes. Expected tokens are computed
// here with crypto/sha1 from hand-normalised values, not with package hashing.
var variantRows = [][]string{
	{"email", "phone", "created_at", "store_id", "note"},
	{" Kari@Example.NO ", "+47 912 34 567", "2024-03-01 10:00:00", "S1", "first"},
	{"ola@example.no", "", "2024-03-02", "S2", "has, comma; semi|pipe\ttab"},
	{"ØYSTEIN@blåbær.no", "0047 41234567", "2024-03-03T08:00:00+01:00", "S3", "two\nlines"},
	{"", "912 34 567", "2024-03-04T00:00:00Z", "S1", `say "hi"`},
}

var variantWant = []string{
	"T00000001|sha1:email|" + sha1hex("kari@example.no") + "|till|2024-03-01T10:00:00.000000|OPT_OUT|-|{\"store_id\":\"S1\"}",
	"T00000001|sha1:email|" + sha1hex("ola@example.no") + "|till|2024-03-02T00:00:00.000000|OPT_OUT|-|{\"store_id\":\"S2\"}",
	"T00000001|sha1:email|" + sha1hex("øystein@blåbær.no") + "|till|2024-03-03T07:00:00.000000|OPT_OUT|-|{\"store_id\":\"S3\"}",
	"T00000001|sha1:phone_number|" + sha1hex("+4741234567") + "|till|2024-03-03T07:00:00.000000|OPT_OUT|-|{\"store_id\":\"S3\"}",
	"T00000001|sha1:phone_number|" + sha1hex("+4791234567") + "|till|2024-03-01T10:00:00.000000|OPT_OUT|-|{\"store_id\":\"S1\"}",
	"T00000001|sha1:phone_number|" + sha1hex("+4791234567") + "|till|2024-03-04T00:00:00.000000|OPT_OUT|-|{\"store_id\":\"S1\"}",
}

// encodeCSV writes rows with RFC 4180 quoting.
func encodeCSV(rows [][]string, delim, eol string) string {
	var b strings.Builder
	for _, r := range rows {
		for i, f := range r {
			if i > 0 {
				b.WriteString(delim)
			}
			if strings.ContainsAny(f, delim+"\"\r\n") {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteString(eol)
	}
	return b.String()
}

func TestCSVVariants(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		cp1252, err := charmap.Windows1252.NewEncoder().String(encodeCSV(variantRows, ";", "\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		latin1, err := charmap.ISO8859_1.NewEncoder().String(encodeCSV(variantRows, "\t", "\n"))
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			file  string
			data  string
			stdin bool
			args  []string
		}{
			{name: "comma LF", file: "a.csv", data: encodeCSV(variantRows, ",", "\n")},
			{name: "semicolon CRLF BOM", file: "a.csv", data: "\ufeff" + encodeCSV(variantRows, ";", "\r\n")},
			{name: "tab", file: "a.tsv", data: encodeCSV(variantRows, "\t", "\n")},
			{name: "pipe txt", file: "a.txt", data: encodeCSV(variantRows, "|", "\n")},
			{name: "delimiter flag", file: "a.csv", data: encodeCSV(variantRows, "|", "\n"), args: []string{"--delimiter", "|"}},
			{name: "gzip", file: "a.csv.gz", data: "gz:" + encodeCSV(variantRows, ",", "\r\n")},
			{name: "windows-1252", file: "a.csv", data: cp1252, args: []string{"--encoding", "windows-1252"}},
			{name: "iso-8859-1 gzip", file: "a.txt.gz", data: "gz:" + latin1, args: []string{"--encoding", "iso-8859-1"}},
			{name: "stdin", data: encodeCSV(variantRows, ";", "\n"), stdin: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dsn := be.New(t)
				dir := t.TempDir()
				args := append([]string{"--account", "T00000001", "--event", "till", "--rejects", filepath.Join(dir, "rej.csv")}, tt.args...)
				stdin := ""
				if tt.stdin {
					stdin = tt.data
					args = append(args, "-")
				} else {
					data := []byte(tt.data)
					if s, ok := strings.CutPrefix(tt.data, "gz:"); ok {
						data = gzipBytes(t, []byte(s))
					}
					args = append(args, writeFile(t, dir, tt.file, data))
				}
				r := runImport(t, dsn, stdin, args...)
				if r.code != 0 {
					t.Fatalf("exit %d\n%s", r.code, r.stderr)
				}
				if r.sum.RowsRead != 4 || r.sum.RowsRejected != 0 || r.sum.Events != 6 || r.sum.EventsNew != 6 {
					t.Errorf("summary %+v", r.sum)
				}
				assertEvents(t, dsn, variantWant)
				if _, err := os.Stat(filepath.Join(dir, "rej.csv")); !os.IsNotExist(err) {
					t.Errorf("rejects file created with no rejects")
				}
			})
		}
	})
}

// TestLineNumbersAfterQuotedBreaks checks that a reject names the line where
// its record starts, counting the line breaks inside quoted fields.
func TestLineNumbersAfterQuotedBreaks(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		data := "email,created_at,note\r\n" +
			"a@example.no,2024-01-01,\"one\r\ntwo\r\nthree\"\r\n" +
			"bad-address,2024-01-01,x\r\n" +
			"b@example.no,\"2024-01-02\",\"multi\nline\"\r\n" +
			"c@example.no,someday,x\r\n"
		rej := filepath.Join(dir, "rej.csv")
		r := runImport(t, dsn, "", "--account", "P12345678", "--event", "e", "--max-rejects", "10",
			"--rejects", rej, writeFile(t, dir, "in.csv", []byte(data)))
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		b, err := os.ReadFile(rej)
		if err != nil {
			t.Fatal(err)
		}
		want := "file,line,column,reason,value\n" +
			dir + "/in.csv,5,email,email: e-mail must contain exactly one @,b***\n" +
			dir + `/in.csv,8,created_at,"created_at: not a timestamp (want RFC 3339, YYYY-MM-DD HH:MM:SS[.fraction] or YYYY-MM-DD)",someday` + "\n"
		if string(b) != want {
			t.Errorf("rejects:\n%s\nwant:\n%s", b, want)
		}
	})
}

func TestMappingAliasesAndTimezone(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		data := "Kunde,E-post,MSISDN,Hendelse,Tid,Utløper,Butikk,Kanal,Status\n" +
			"P00000042,kari@example.no,91234567,nei takk,2024-07-01 12:00:00,2025-07-01,S9,till,OPT_OUT\n" +
			"P00000042,,+46701234567,nei takk,2024-01-15T12:00:00,,S9,web,OPT_IN\n"
		r := runImport(t, dsn, "", "--map", "account_id=kunde", "--map", "email=E-post", "--map", "event=Hendelse",
			"--map", "created_at=TID", "--map", "expires_at=Utløper", "--map", "store_id=Butikk",
			"--metadata", "Kanal", "--timezone", "Europe/Oslo", writeFile(t, dir, "in.csv", []byte(data)))
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		want := []string{
			"P00000042|sha1:email|" + sha1hex("kari@example.no") + "|nei takk|2024-07-01T10:00:00.000000|OPT_OUT|2025-06-30T22:00:00.000000|{\"kanal\":\"till\",\"store_id\":\"S9\"}",
			"P00000042|sha1:phone_number|" + sha1hex("+46701234567") + "|nei takk|2024-01-15T11:00:00.000000|OPT_IN|-|{\"kanal\":\"web\",\"store_id\":\"S9\"}",
			"P00000042|sha1:phone_number|" + sha1hex("+4791234567") + "|nei takk|2024-07-01T10:00:00.000000|OPT_OUT|2025-06-30T22:00:00.000000|{\"kanal\":\"till\",\"store_id\":\"S9\"}",
		}
		assertEvents(t, dsn, want)
	})
}

func TestDefaultsFromFlags(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		data := "phone\n+4791234567\n"
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "till", "--status", "OPT_IN",
			"--created-at", "2024-05-01 08:00", "--timezone", "Europe/Oslo", "--expires-after", "24h",
			writeFile(t, dir, "in.csv", []byte(data)))
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		want := "P00000001|sha1:phone_number|" + sha1hex("+4791234567") + "|till|2024-05-01T06:00:00.000000|OPT_IN|2024-05-02T06:00:00.000000|{}"
		if got := testdb.Dump(t, testdb.Open(t, dsn)); len(got) != 1 || got[0] != want {
			t.Errorf("stored %q, want %q", got, want)
		}
	})
}

func TestPreHashedTokens(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		up := strings.ToUpper(sha1hex("x"))
		data := "token_type,token_value,created_at\nSHA1:EMAIL," + up + ",2024-01-01\nsha1:customer_ref," + sha1hex("y") + ",2024-01-01\nmd5:email," + sha1hex("z") + ",2024-01-01\n"
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "1",
			"--rejects", filepath.Join(dir, "rej.csv"), writeFile(t, dir, "in.csv", []byte(data)))
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		got := testdb.Dump(t, testdb.Open(t, dsn))
		want := []string{
			"P00000001|sha1:customer_ref|" + sha1hex("y") + "|e|2024-01-01T00:00:00.000000|OPT_OUT|-|{}",
			"P00000001|sha1:email|" + sha1hex("x") + "|e|2024-01-01T00:00:00.000000|OPT_OUT|-|{}",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if r.sum.RowsRejected != 1 {
			t.Errorf("rows rejected %d, want 1 (md5)", r.sum.RowsRejected)
		}
	})
}

// TestAwkwardTextSurvives sends event texts and metadata with tabs,
// backslashes, quotes and non-ASCII letters through the whole path (CSV
// quoting, COPY escaping, JSON) and reads them back unchanged. Line breaks
// are control characters, which SPEC §10 keeps out of stored text: those
// rows are rejected (their quoted line breaks read correctly, as the line
// numbers of the rows after them show).
func TestAwkwardTextSurvives(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		events := []string{"tab\there", `back\slash \N`, `"quoted"`, "blåbær ÆØÅ", "trailing\\", "line\nbreak", "cr\r\nlf"}
		const stored = 5
		var b strings.Builder
		b.WriteString("email,event,created_at,store_id\n")
		for i, e := range events {
			fmt.Fprintf(&b, "u%d@example.no,\"%s\",2024-01-01,\"%s\"\n", i, strings.ReplaceAll(e, `"`, `""`), strings.ReplaceAll(e, `"`, `""`))
		}
		rejects := filepath.Join(dir, "rej.csv")
		r := runImport(t, dsn, "", "--account", "P00000001", "--max-rejects", "2", "--rejects", rejects,
			writeFile(t, dir, "in.csv", []byte(b.String())))
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if got := rejectsText(t, rejects); !strings.Contains(got, "| 7 | event | event contains a control character |") ||
			!strings.Contains(got, "| 10 | event | event contains a control character |") {
			t.Errorf("rejects:\n%s", got)
		}
		db := testdb.Open(t, dsn)
		for i, e := range events[:stored] {
			want := e
			var got, store string
			if err := db.QueryRow(`SELECT event, metadata->>'store_id' FROM token_events WHERE token_value = $1`,
				sha1hex(fmt.Sprintf("u%d@example.no", i))).Scan(&got, &store); err != nil {
				t.Fatal(err)
			}
			if got != want || store != want {
				t.Errorf("event %q stored as %q, store_id as %q", want, got, store)
			}
		}
	})
}
