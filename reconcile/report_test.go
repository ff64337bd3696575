package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/reconcile"
)

// readBack is how a data team's tool would read the Parquet report.
type readBack struct {
	AccountID      string     `parquet:"account_id" json:"account_id"`
	TokenType      string     `parquet:"token_type" json:"token_type"`
	TokenValue     string     `parquet:"token_value" json:"token_value"`
	TokenID        string     `parquet:"token_id" json:"token_id"`
	PreviousStatus string     `parquet:"previous_status" json:"previous_status"`
	Status         string     `parquet:"status" json:"status"`
	DecidedBy      string     `parquet:"decided_by" json:"decided_by"`
	Event          *string    `parquet:"event,optional" json:"event"`
	EventCreatedAt *time.Time `parquet:"event_created_at,optional" json:"event_created_at"`
	EventExpiresAt *time.Time `parquet:"event_expires_at,optional" json:"event_expires_at"`
	AsOf           time.Time  `parquet:"as_of" json:"as_of"`
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenEnv imports a small history with stable token ids.
func goldenEnv(t *testing.T, db string) *env {
	e := newEnv(t, db)
	e.importRows([]row{
		{"P00000001", "kari", "declined at till", "OPT_OUT", day(1), day(20)},
		{"P00000001", "ola", "declined at till", "OPT_OUT", day(2), time.Time{}},
		{"P00000001", "ola", "accepted", "OPT_IN", day(3), time.Time{}},
		{"P00000001", "per", "later", "OPT_OUT", day(25), time.Time{}},
		{"T00000002", "kari", "declined at till", "OPT_OUT", day(1), time.Time{}},
	})
	e.stableTokenIDs()
	e.exec(`INSERT INTO customers (account_id, customer_id, status) VALUES ('T00000002', 'c1', 'OPT_IN')`)
	e.execWrite(`UPDATE tokens SET customer_id = 'c1'{stamp} WHERE account_id = 'T00000002'`)
	return e
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reconcile -update to accept):\n%s", name, got)
	}
}

func runReport(t *testing.T, e *env, asOf time.Time, path string) reconcile.Summary {
	t.Helper()
	var stdout bytes.Buffer
	sum, err := reconcile.Run(context.Background(), e.store, reconcile.Options{
		ReconcileOptions: tokenevents.ReconcileOptions{AsOf: asOf, Workers: 2}, Report: path}, &stdout)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestReportFormats writes the same changes as CSV, JSON Lines and Parquet
// and checks them against golden files; the Parquet file is read back.
func TestReportFormats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		for _, ext := range []string{"csv", "jsonl", "parquet"} {
			t.Run(ext, func(t *testing.T) {
				e := goldenEnv(t, db2(t, db))
				path := filepath.Join(t.TempDir(), "report."+ext)
				sum := runReport(t, e, day(10), path)
				if sum.Changed != 3 || sum.Transitions["UNKNOWN→OPT_OUT"] != 1 || sum.Transitions["UNKNOWN→OPT_IN"] != 2 {
					t.Errorf("summary %+v", sum)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if ext != "parquet" {
					golden(t, "report-day10."+ext, b)
					return
				}
				rows, err := parquet.Read[readBack](bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				var cols []string
				f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				for _, field := range f.Schema().Fields() {
					cols = append(cols, field.Name())
				}
				out, _ := json.MarshalIndent(map[string]any{"columns": cols, "rows": rows}, "", "  ")
				golden(t, "report-day10.parquet.json", append(out, '\n'))
			})
		}
	})
}

// TestSecondRunReportsNothing and expiry: the same --as-of again reports
// nothing; a later one reports what expired and what took effect.
func TestSecondRunReportsNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := goldenEnv(t, db)
		runReport(t, e, day(10), filepath.Join(t.TempDir(), "a.csv"))
		path := filepath.Join(t.TempDir(), "b.csv")
		if sum := runReport(t, e, day(10), path); sum.Changed != 0 {
			t.Errorf("second run changed %d", sum.Changed)
		}
		b, _ := os.ReadFile(path)
		golden(t, "report-empty.csv", b)
		path = filepath.Join(t.TempDir(), "c.csv")
		runReport(t, e, day(26), path)
		b, _ = os.ReadFile(path)
		golden(t, "report-day26.csv", b)
	})
}

// TestLookupJSON checks the lookup answer against the seed API's field names.
func TestLookupJSON(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db string) {
		e := goldenEnv(t, db)
		resp, err := reconcile.Lookup(context.Background(), e.store, "T00000002", "sha1:email", sha1hex("kari"), day(10))
		if err != nil {
			t.Fatal(err)
		}
		resp.Token.CreatedAt = time.Time{} // set by the database clock
		if resp.Customer == nil || resp.Customer.Metadata == nil {
			t.Fatalf("no customer object: %+v", resp)
		}
		resp.Customer.CreatedAt = nil // likewise (PostgreSQL's default; the row was written by hand)
		b, _ := json.MarshalIndent(resp, "", "  ")
		golden(t, "lookup-linked.json", append(b, '\n'))

		resp, err = reconcile.Lookup(context.Background(), e.store, "P00000001", "sha1:email", sha1hex("ola"), day(10))
		if err != nil {
			t.Fatal(err)
		}
		resp.Token.CreatedAt = time.Time{}
		b, _ = json.MarshalIndent(resp, "", "  ")
		golden(t, "lookup-events.json", append(b, '\n'))

		missing, err := reconcile.Lookup(context.Background(), e.store, "P00000001", "sha1:email", sha1hex("nobody"), day(10))
		if err != nil {
			t.Fatal(err)
		}
		if missing.Status != "UNKNOWN" || missing.Token != nil || len(missing.Events) != 0 || len(missing.ID) != 36 {
			t.Errorf("unknown token: %+v", missing)
		}
		var generic map[string]any
		_ = json.Unmarshal(b, &generic)
		for _, k := range []string{"id", "token", "status", "events"} {
			if _, ok := generic[k]; !ok {
				t.Errorf("lookup JSON lacks %q", k)
			}
		}
	})
}
