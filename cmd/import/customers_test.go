package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/internal/testdb"
)

// loyaltyMap maps the loyalty fixture's column names.
var loyaltyMap = []string{"--customers", "--max-rejects", "20%", "--map", "account_id=Account ID", "--map", "customer_id=Member No",
	"--map", "email=E-mail", "--map", "phone_number=Mobile", "--map", "deleted_at=Deleted", "--map", "updated_at=Last changed"}

// personal is what the loyalty fixtures hold that no store, log, summary
// or rejects file may: names, streets, dates of birth, plain identifiers.
var personal = []string{"Nordmann", "Hansen", "Storgata", "Kirkeveien", "1985-04-12", "1979-11-02", "Sofie",
	"kari.nordmann@example.no", "KARI.NORDMANN", "ola@example.no", "41234567", "912 34 567", "lars@example"}

// TestLoyaltyMigration tells the story of SPEC §7 on both stores: store
// opt-outs, then the loyalty export (customers with several rows, bad
// identifiers beside good ones, a row without a customer id, a deleted
// customer), then a later export that moves a token, deletes a customer
// and carries a row older than what is stored. It checks the summaries,
// the rejects, the stored customers and links, that no name or plain
// identifier is stored, logged or reported, and that replaying the first
// export changes nothing.
func TestLoyaltyMigration(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		dir := t.TempDir()
		var logs strings.Builder
		check := func(r result) {
			t.Helper()
			logs.WriteString(r.stdout + r.stderr)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
		}
		check(runImport(t, dsn, "", "--log-level", "debug", "../../fixtures/store-optouts.csv"))
		rej := filepath.Join(dir, "rej.csv")
		first := runImport(t, dsn, "", append(append([]string{"--log-level", "debug", "--rejects", rej}, loyaltyMap...),
			"../../fixtures/loyalty-customers.csv")...)
		check(first)
		s := first.sum
		if s.RowsRead != 7 || s.RowsRejected != 1 || s.FieldsRejected != 1 || s.CustomersNew != 5 || s.CustomersUnchanged != 1 ||
			s.LinksNew != 8 || s.LinksMoved != 0 || s.TokensNew != 1 {
			t.Errorf("first export: %+v", s)
		}
		rejects := rejectsText(t, rej)
		for _, want := range []string{"| 7 | E-mail | email: e-mail domain must contain a dot | l***@e***",
			"| 8 | Member No | customer_id is empty |"} {
			if !strings.Contains(rejects, want) {
				t.Errorf("rejects lack %q:\n%s", want, rejects)
			}
		}
		update := runImport(t, dsn, "", append([]string{"--log-level", "debug"}, append(loyaltyMap, "../../fixtures/loyalty-customers-update.csv")...)...)
		check(update)
		if s := update.sum; s.CustomersNew != 1 || s.CustomersUpdated != 1 || s.CustomersUnchanged != 1 ||
			s.LinksMoved != 1 || s.LinksNew != 0 || s.LinksUnchanged != 3 {
			t.Errorf("update export: %+v", s)
		}
		db := testdb.Open(t, dsn)
		customers := strings.Join(testdb.DumpCustomers(t, db), "\n")
		for _, want := range []string{
			"customer|P00000001|M-1001|OPT_IN|-|{}|2024-05-01T09:00:00.000000",                              // the older row was not applied
			"customer|P00000001|M-1003||2024-04-01T00:00:00.000000|{}|2024-05-01T09:00:00.000000",           // status not set, deleted
			"customer|P00000001|M-1004|OPT_OUT|2024-06-01T00:00:00.000000|{}|2024-06-01T12:00:00.000000",    // deleted by the update
			"link|P00000001|sha1:email|" + sha1hex("ola@example.no") + "|M-1006|2024-06-01T12:00:00.000000", // moved
			"link|P00000001|sha1:phone_number|" + sha1hex("+4741234567") + "|M-1002|2024-05-01T09:00:00.000000",
		} {
			if !strings.Contains(customers, want) {
				t.Errorf("stored customers and links lack %q:\n%s", want, customers)
			}
		}
		all := testdb.DumpTables(t, db) + logs.String() + rejects
		for _, p := range personal {
			if strings.Contains(all, p) {
				t.Errorf("%q reached the database, a log, a summary or the rejects", p)
			}
		}

		// Replaying the first export (older than what it would overwrite)
		// changes nothing.
		state := func() string {
			return strings.Join(testdb.DumpCustomers(t, db), "\n") + strings.Join(testdb.Dump(t, db), "\n")
		}
		before := state()
		replay := runImport(t, dsn, "", append(append([]string{"--force"}, loyaltyMap...), "../../fixtures/loyalty-customers.csv")...)
		check(replay)
		if s := replay.sum; s.CustomersNew+s.CustomersUpdated+s.LinksNew+s.LinksMoved+s.TokensNew != 0 {
			t.Errorf("replay wrote: %+v", s)
		}
		if after := state(); after != before {
			t.Errorf("replaying an older export changed customers, links or events:\n%s\nwas:\n%s", after, before)
		}
		// Every file is done: nothing is left staged (on Citus the merges
		// leave their rows and the file's end empties the stages).
		for _, stage := range []string{"import_stage", "import_stage_links", "import_stage_customers"} {
			if n := testdb.Count(t, db, `SELECT count(*) FROM `+stage); n != 0 {
				t.Errorf("%s: %d rows left after the files were done", stage, n)
			}
		}
	})
}

// TestEventsFileLinksCustomers: an events file's customer_id links the
// row's tokens and creates the customer, status not set.
func TestEventsFileLinksCustomers(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		in := writeFile(t, t.TempDir(), "in.csv", []byte("email,phone,customer_id,created_at\n"+
			"a@example.no,+4791234567,C1,2024-01-01\nb@example.no,,C1,2024-01-01\nc@example.no,,,2024-01-01\n"))
		r := runImport(t, dsn, "", "--account", "P00000001", "--event", "e", in)
		if r.code != 0 || r.sum.EventsNew != 4 || r.sum.CustomersNew != 1 || r.sum.CustomersUnchanged != 1 || r.sum.LinksNew != 3 {
			t.Fatalf("exit %d, %+v\n%s", r.code, r.sum, r.stderr)
		}
		got := strings.Join(testdb.DumpCustomers(t, testdb.Open(t, dsn)), "\n")
		if !strings.Contains(got, "customer|P00000001|C1||-|{}|") || strings.Count(got, "|C1|") != 4 {
			t.Errorf("customers and links:\n%s", got)
		}
	})
}

// TestCustomersUsage: what a customers file must have.
func TestCustomersUsage(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dir := t.TempDir()
		for _, tc := range []struct {
			data string
			args []string
			want string
		}{
			{"email,status\na@example.no,OPT_IN\n", nil, "no customer_id column"},
			{"customer_id,email\nC1,a@example.no\n", []string{"--metadata", "email"}, "plain identifiers"},
			{"customer_id,email\nC1,a@example.no\n", []string{"--account", ""}, "no account_id column"},
		} {
			dsn := be.New(t)
			args := append([]string{"--customers", "--account", "P00000001"}, tc.args...)
			r := runImport(t, dsn, "", append(args, writeFile(t, dir, "c.csv", []byte(tc.data)))...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%q: exit %d, want 2 with %q:\n%s", tc.data, r.code, tc.want, r.stderr)
			}
		}
	})
}

// TestCustomerMetadata: --metadata columns of a customers file are the
// customer's metadata.
func TestCustomerMetadata(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		in := writeFile(t, t.TempDir(), "c.csv", []byte("customer_id,email,status,tier,updated_at\nC1,a@example.no,OPT_IN,gold,2024-05-01\n"))
		if r := runImport(t, dsn, "", "--customers", "--account", "P00000001", "--metadata", "tier", in); r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		got := strings.Join(testdb.DumpCustomers(t, testdb.Open(t, dsn)), "\n")
		if !strings.Contains(got, `customer|P00000001|C1|OPT_IN|-|{"tier":"gold"}|2024-05-01T00:00:00.000000`) {
			t.Errorf("customers:\n%s", got)
		}
	})
}
