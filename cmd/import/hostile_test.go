package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/pipeline"
)

// Tests of SPEC §10, "Limits and hostile input": one per failure mode a
// broken point-of-sale export showed, each on both stores.

// optoutRows is a CSV export of n good rows: e-mail u<i>@example.no,
// created on 2024-01-01.
func optoutRows(n int) string {
	var b strings.Builder
	b.WriteString("email,created_at,store_id\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d@example.no,2024-01-01,s%d\n", i, i%7)
	}
	return b.String()
}

// TestUnterminatedQuote: a quote that opens at row 1,900 of 2,000 and never
// closes. The rows before it are imported, the error names the line and
// column where the quote opened, the summary counts the 101 lines not read,
// the outcome is not done and the exit code not 0 — on every run.
func TestUnterminatedQuote(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		lines := strings.SplitAfter(optoutRows(2000), "\n")
		lines[1900] = "u1899@example.no,2024-01-01,\"s-broken\n" // line 1901: the quote is at column 29
		in := writeFile(t, dir, "broken.csv", []byte(strings.Join(lines, "")))
		for run := range 2 { // the second run reads the file again: it is never taken for done
			r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", in)
			if r.code != exitFailed {
				t.Fatalf("run %d: exit %d, want %d\n%s", run, r.code, exitFailed, r.stderr)
			}
			if !strings.Contains(r.stderr, "broken.csv:1901:29: a quoted field opens here and is never closed") {
				t.Errorf("run %d: stderr does not name line 1901, column 29:\n%s", run, r.stderr)
			}
			s := r.sum
			if s.Outcome != pipeline.OutcomeFailed || s.FilesFailed != 1 || s.RowsRead != 1899 || s.RowsImported != 1899 ||
				s.LinesUnread != 101 || s.BytesUnread == 0 {
				t.Errorf("run %d: summary %+v", run, s)
			}
			if n := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM token_events`); n != 1899 {
				t.Errorf("run %d: %d events stored, want the 1899 rows before the quote", run, n)
			}
		}
	})
}

// TestPoisonRows: values past a limit or with a NUL byte are rejects with
// their line and column, in every store alike; the good rows of the file
// land, and running the file again is recognised as done.
func TestPoisonRows(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		var meta []string
		for i := range 17 {
			meta = append(meta, fmt.Sprintf("m%d", i))
		}
		header := "email,event,status,created_at,store_id,token_type,token_value," + strings.Join(meta, ",") + "\n"
		row := func(email, event, status, store, typ, value, metaValue string) string {
			cells := []string{email, event, status, "2024-01-01", store, typ, value}
			for range meta {
				cells = append(cells, metaValue)
			}
			for i, c := range cells {
				cells[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			return strings.Join(cells, ",") + "\n"
		}
		good := func(i int) string { return fmt.Sprintf("g%d@example.no", i) }
		data := header +
			row(good(1), "e", "OPT_OUT", "", "", "", "") + // line 2
			row(good(2), strings.Repeat("x", 3000), "OPT_OUT", "", "", "", "") + // 3: event past 1024 bytes
			row(good(3), "nul\x00", "OPT_OUT", "", "", "", "") + // 4
			row(good(4), "e", "OPT_OUT", "s\x00", "", "", "") + // 5: NUL in store_id
			row(good(5), "e", "OPT_OUT", strings.Repeat("s", 4097), "", "", "") + // 6
			row(good(6), "e", "S"+strings.Repeat("X", 64), "", "", "", "") + // 7: status past 64 bytes
			row("", "e", "OPT_OUT", "", "sha1:"+strings.Repeat("t", 60), sha1hex("x"), "") + // 8: token_type past 64
			row(good(8), "e", "OPT_OUT", "", "", "", strings.Repeat("m", 4000)) + // 9: metadata past 64 KiB
			row(good(9), "bell\a", "OPT_OUT", "", "", "", "") + // 10: a control character
			row(good(10), "tab\there", "OPT_OUT", "", "", "", "ok") + // 11: tabs are free text
			row(good(11), strings.Repeat("é", 512), "OPT_OUT", strings.Repeat("s", 4096), "", "", "") // 12: at the limits
		in := writeFile(t, dir, "poison.csv", []byte(data))
		rej := filepath.Join(dir, "rej.csv")
		args := []string{"--account", "P00000001", "--max-rejects", "100%", "--rejects", rej, "--metadata", strings.Join(meta, ","), in}
		r := runImport(t, dsn, "", args...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if r.sum.RowsImported != 3 || r.sum.RowsRejected != 8 || r.sum.EventsNew != 3 {
			t.Errorf("summary %+v", r.sum)
		}
		got := rejectsText(t, rej)
		for _, want := range []string{
			"| 3 | event | event is longer than 1024 bytes (3000) |",
			"| 4 | event | event contains a NUL byte |",
			"| 5 | store_id | store_id contains a NUL byte |",
			"| 6 | store_id | store_id is longer than 4096 bytes (4097) |",
			"| 7 | status | status is longer than 64 bytes (65) |",
			"| 8 | token_type | token_type is longer than 64 bytes (65) |",
			"| 9 |  | metadata is longer than 65536 bytes",
			"| 10 | event | event contains a control character |",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("rejects lack %q:\n%.2000s", want, got)
			}
		}
		if n := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM token_events`); n != 3 {
			t.Errorf("%d events stored, want 3", n)
		}
		if r := runImport(t, dsn, "", args...); r.code != 0 || r.sum.FilesSkipped != 1 {
			t.Errorf("second run: exit %d, %+v", r.code, r.sum)
		}
	})
}

// TestInstantsAtTheEdges: year 1 is an instant, not "absent"; fractions
// below a microsecond round the same way in every store; instants that
// round out of year 1..9999 are rejected; expiry at creation is counted.
func TestInstantsAtTheEdges(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		in := writeFile(t, dir, "edges.csv", []byte("email,created_at,expires_at\n"+
			"a@example.no,0001-01-01 00:00:00,0001-01-01 00:00:00\n"+
			"b@example.no,0001-01-01T00:00:00Z,\n"+
			"c@example.no,9999-12-31T23:59:59.999999Z,\n"+
			"d@example.no,2024-03-01T10:00:00.1234565Z,2024-03-01T10:00:00.0000004Z\n"+
			"e@example.no,9999-12-31T23:59:59.9999995Z,\n"+
			"f@example.no,2024-01-01,2023-12-31\n"))
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "100%",
			"--rejects", filepath.Join(dir, "rej.csv"), in)
		if r.code != 0 || r.sum.RowsRejected != 1 || r.sum.EventsExpiredOnArrival != 3 {
			t.Fatalf("exit %d, %+v\n%s", r.code, r.sum, r.stderr)
		}
		assertEvents(t, dsn, []string{
			"P00000001|sha1:email|" + sha1hex("a@example.no") + "|e|0001-01-01T00:00:00.000000|OPT_OUT|0001-01-01T00:00:00.000000|{}",
			"P00000001|sha1:email|" + sha1hex("b@example.no") + "|e|0001-01-01T00:00:00.000000|OPT_OUT|-|{}",
			"P00000001|sha1:email|" + sha1hex("c@example.no") + "|e|9999-12-31T23:59:59.999999|OPT_OUT|-|{}",
			"P00000001|sha1:email|" + sha1hex("d@example.no") + "|e|2024-03-01T10:00:00.123457|OPT_OUT|2024-03-01T10:00:00.000000|{}",
			"P00000001|sha1:email|" + sha1hex("f@example.no") + "|e|2024-01-01T00:00:00.000000|OPT_OUT|2023-12-31T00:00:00.000000|{}",
		})
		// --created-at takes year 1 too.
		in2 := writeFile(t, dir, "flag.csv", []byte("email\ng@example.no\n"))
		if r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--created-at", "0001-01-01", in2); r.code != 0 {
			t.Fatalf("--created-at 0001-01-01: exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestLongRecords: a record past --max-record-bytes is a reject naming
// the column where it passed the limit, the rest of the file imports, and
// a wide column the import does not use costs nothing.
func TestLongRecords(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		wide := strings.Repeat("w", 600<<10)
		data := "email,created_at,notes\n" +
			"a@example.no,2024-01-01," + wide + "\n" +
			"b@example.no,2024-01-01," + wide + wide + "\n" + // 1.2 MB: past the default 1 MiB
			"c@example.no,2024-01-01,\"" + wide + "\n" + wide + "\"\n" + // quoted, with a line break
			"d@example.no,2024-01-01,short\n"
		in := writeFile(t, dir, "long.csv", []byte(data))
		rej := filepath.Join(dir, "rej.csv")
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", "--max-rejects", "100%", "--rejects", rej, in)
		if r.code != 0 || r.sum.RowsRead != 4 || r.sum.RowsRejected != 2 || r.sum.EventsNew != 2 {
			t.Fatalf("exit %d, %+v\n%s", r.code, r.sum, r.stderr)
		}
		got := rejectsText(t, rej)
		for _, want := range []string{"| 3 | notes | record is longer than --max-record-bytes 1048576 |",
			"| 4 | notes | record is longer than --max-record-bytes 1048576 |"} {
			if !strings.Contains(got, want) {
				t.Errorf("rejects lack %q:\n%s", want, got)
			}
		}
	})
}

// TestNotARegularFile: a directory or a named pipe given as FILE is a
// usage error found before anything is written; a pipe is read as -.
func TestNotARegularFile(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "fifo.csv")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ path, want string }{
			{dir, "is a directory, not a regular file"},
			{fifo, "is a named pipe (FIFO), not a regular file"},
			{"/dev/null", "is a device, not a regular file"},
		} {
			dsn := be.Pristine(t)
			done := make(chan result, 1)
			go func() { done <- runImport(t, dsn, "", "--account", "P00000001", "--event", "e", tc.path) }()
			select {
			case r := <-done:
				if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("%s: exit %d, want %d with %q:\n%s", tc.path, r.code, exitUsage, tc.want, r.stderr)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the import hangs", tc.path)
			}
			if tables := testdb.Tables(t, testdb.Open(t, dsn)); len(tables) != 0 {
				t.Errorf("%s: a usage error created tables %v", tc.path, tables)
			}
		}
	})
}

// TestInterruptBlockedStdin: standard input that never delivers a byte
// (a pipe whose writer is silent) does not keep a cancelled run alive.
func TestInterruptBlockedStdin(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		defer pr.Close()
		if _, err := pw.WriteString("email,created_at\na@example.no,2024-01-01\n"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var stderr bytes.Buffer
		go func() {
			done <- run(ctx, []string{"--db", dsn, "--account", "P00000001", "--event", "e", "-"}, pr, &bytes.Buffer{}, &stderr)
		}()
		// One pool for the polls: a pool per poll kept its connection to
		// the test's end, and past the server's max_connections the run
		// itself could not connect.
		db := testdb.Open(t, dsn)
		waitFor(t, func() bool { // the run has started; its next read blocks
			var n int64
			err := db.QueryRow(`SELECT count(*) FROM import_runs`).Scan(&n)
			return err == nil && n > 0
		})
		start := time.Now()
		cancel()
		select {
		case code := <-done:
			if code == exitOK {
				t.Errorf("an interrupted run exited 0:\n%s", stderr.String())
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to stop", d)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("outcome not interrupted:\n%s", stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a blocked read of standard input ignores cancellation")
		}
	})
}

// waitFor polls cond until it holds, for a run to get somewhere (not a
// timing assertion: the deadline only stops a run that never gets there).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out waiting")
}

// TestDuplicateColumns: no column is silently dropped.
func TestDuplicateColumns(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		tests := []struct {
			name, header string
			args         []string
			want         int
			msg          string
		}{
			{"same name twice", "email,Email ,created_at", nil, exitUsage, `names column "Email" twice (columns 1 and 2)`},
			{"name and alias", "phone,mobile,created_at", nil, exitUsage, "columns mobile, phone all mean phone_number"},
			{"--map picks one", "phone,mobile,created_at", []string{"--map", "phone_number=mobile"}, exitOK, ""},
			{"one column for two fields", "email,created_at", []string{"--map", "phone_number=email"}, exitUsage, "would fill both"},
			{"--metadata of an identifier", "email,created_at,x", []string{"--metadata", "email"}, exitUsage, "plain identifiers"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dsn := be.New(t)
				cols := strings.Count(tt.header, ",") + 1
				row := strings.Repeat("+4791234567,", cols-1) + "2024-01-01"
				if strings.HasPrefix(tt.header, "email") {
					row = "a@example.no," + strings.Repeat("x,", cols-2) + "2024-01-01"
					if cols == 3 && strings.HasSuffix(tt.header, ",x") {
						row = "a@example.no,2024-01-01,x"
					}
				}
				in := writeFile(t, dir, strings.ReplaceAll(tt.name, " ", "_")+".csv", []byte(tt.header+"\n"+row+"\n"))
				r := runImport(t, dsn, "", append(append([]string{"--account", "P00000001", "--event", "e"}, tt.args...), in)...)
				if r.code != tt.want || !strings.Contains(r.stderr, tt.msg) {
					t.Errorf("exit %d, want %d with %q:\n%s", r.code, tt.want, tt.msg, r.stderr)
				}
			})
		}
	})
}

// TestTruncatedGzip: a gzip stream cut short is an error naming the file
// and how far it was read; the rows before the cut are imported and the
// summary says so, and the file is not done.
func TestTruncatedGzip(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		full := gzipBytes(t, []byte(optoutRows(50000)))
		in := writeFile(t, dir, "cut.csv.gz", full[:len(full)/2])
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", in)
		if r.code != exitFailed {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "cut.csv.gz:") || !strings.Contains(r.stderr, "the gzip stream is cut short or corrupt after") {
			t.Errorf("stderr does not say where the stream ended:\n%s", r.stderr)
		}
		s := r.sum
		if s.Outcome != pipeline.OutcomeFailed || s.RowsRead == 0 || s.RowsImported != s.RowsRead || s.RowsRead >= 50000 {
			t.Errorf("summary %+v", s)
		}
		if n := testdb.Count(t, testdb.Open(t, dsn), `SELECT count(*) FROM token_events`); n != s.RowsImported {
			t.Errorf("%d events stored, the summary says %d rows imported", n, s.RowsImported)
		}
	})
}

// TestWideEncodings: UTF-16 and UTF-32 files are a usage error naming the
// encoding, not "no identifier column".
func TestWideEncodings(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		for _, tc := range []struct {
			name string
			bom  []byte
		}{
			{"UTF-16LE", []byte{0xff, 0xfe}}, {"UTF-16BE", []byte{0xfe, 0xff}},
			{"UTF-32LE", []byte{0xff, 0xfe, 0, 0}}, {"UTF-32BE", []byte{0, 0, 0xfe, 0xff}},
		} {
			dsn := be.New(t)
			in := writeFile(t, dir, tc.name+".csv", append(tc.bom, []byte("e\x00m\x00a\x00i\x00l\x00")...))
			r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", in)
			if r.code != exitUsage || !strings.Contains(r.stderr, "the file is "+tc.name) {
				t.Errorf("%s: exit %d:\n%s", tc.name, r.code, r.stderr)
			}
		}
	})
}

// TestEmbeddedFileRemoved: the embedded database file deleted while an
// import writes to it fails the run instead of reporting done.
func TestEmbeddedFileRemoved(t *testing.T) {
	for _, replace := range []bool{false, true} {
		t.Run(map[bool]string{false: "removed", true: "replaced"}[replace], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "te.db")
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(context.Background(), []string{"--db", path, "--json", "--account", "P00000001", "--event", "e",
					"--batch-rows", "10", "-"}, pr, &stdout, &stderr)
			}()
			rows := strings.SplitAfter(optoutRows(200), "\n")
			if _, err := pw.WriteString(strings.Join(rows[:50], "")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { _, err := os.Stat(path); return err == nil }) // opened, migrated, staging
			time.Sleep(300 * time.Millisecond)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if replace {
				if err := os.WriteFile(path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pw.WriteString(strings.Join(rows[50:], "")); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			select {
			case code := <-done:
				if code != exitFailed || !strings.Contains(stderr.String(), "removed or replaced") {
					t.Errorf("exit %d, want %d naming the removed file:\n%s", code, exitFailed, stderr.String())
				}
				if strings.Contains(stdout.String(), `"outcome":"done"`) {
					t.Errorf("reported done: %s", stdout.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the import did not end")
			}
		})
	}
}
