package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokenevents/tokenevents/hashing"
	"github.com/tokenevents/tokenevents/internal/testdb"
	"github.com/tokenevents/tokenevents/internal/teststore"
	"github.com/tokenevents/tokenevents/pipeline"
)

// importFixture imports one of the repository's fixtures.
func importFixture(t *testing.T, dsn string, o pipeline.Options, path string) {
	t.Helper()
	if _, err := teststore.Import(t, teststore.Open(t, dsn), o, path); err != nil {
		t.Fatal(err)
	}
}

// TestLoyaltyStatuses: customer precedence and deletion in the status rule
// from files to report and lookup (SPEC §2, §7), on both stores; the
// incremental reconcile picks up changed customers and links, and a full
// run at the same instant then finds nothing more.
func TestLoyaltyStatuses(t *testing.T) {
	testdb.EachBackend(t, func(t *testing.T, be testdb.Backend) {
		dsn := be.New(t)
		loyalty := pipeline.Options{Customers: true, Map: map[string]string{"account_id": "Account ID", "customer_id": "Member No",
			"email": "E-mail", "phone_number": "Mobile", "deleted_at": "Deleted", "updated_at": "Last changed"}}
		importFixture(t, dsn, pipeline.Options{}, "../../fixtures/store-optouts.csv")
		report := func(asOf string, extra ...string) map[string]string {
			t.Helper()
			code, stdout, stderr := runCmd(t, append([]string{"--db", dsn, "--as-of", asOf, "--report", "-"}, extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
				f := strings.Split(line, ",")
				got[f[2]] = f[5] + " by " + f[6]
			}
			return got
		}
		stored := func(token string) string {
			t.Helper()
			var status, by string
			if err := testdb.Open(t, dsn).QueryRow(`SELECT status, decided_by FROM token_statuses WHERE token_value = $1`,
				token).Scan(&status, &by); err != nil {
				t.Fatalf("token %s: %v", token[:8], err)
			}
			return status + " by " + by
		}
		email := func(s string) string { v, _ := hashing.HashEmail(s); return v }
		phone := func(s string) string { return hashing.SHA1Hex(s) }
		report("2024-05-15")
		importFixture(t, dsn, loyalty, "../../fixtures/loyalty-customers.csv")
		got := report("2024-05-15")
		for token, want := range map[string]string{
			email("kari.nordmann@example.no"): "OPT_IN by customer", // the customer's status beats the opt-out event
			phone("+4791234567"):              "OPT_IN by customer",
		} {
			if got[token] != want {
				t.Errorf("as of 2024-05-15, token %s: %q, want %q (report %v)", token[:8], got[token], want, got)
			}
		}
		if len(got) != 4 {
			t.Errorf("report as of 2024-05-15: %v", got)
		}
		for token, want := range map[string]string{
			email("åse@blåbær.no"):   "OPT_OUT by customer", // same status, now decided by the customer
			email("per@example.com"): "OPT_IN by event",     // the customer is deleted and has no status
		} {
			if s := stored(token); s != want {
				t.Errorf("as of 2024-05-15, token %s stored as %q, want %q", token[:8], s, want)
			}
		}
		importFixture(t, dsn, loyalty, "../../fixtures/loyalty-customers-update.csv")
		got = report("2024-07-01")
		if len(got) != 1 || got[email("ola@example.no")] != "OPT_OUT by customer" {
			t.Errorf("as of 2024-07-01: report %v, want only ola's token, moved to M-1006 (OPT_OUT)", got)
		}
		if s := stored(phone("+46701234567")); s != "OPT_OUT by event" { // M-1004 deleted on 2024-06-01: back to its events
			t.Errorf("åse's phone stored as %q", s)
		}
		if again := report("2024-07-01", "--full"); len(again) != 0 {
			t.Errorf("a full run after the incremental one found more changes: %v", again)
		}

		code, stdout, stderr := runCmd(t, "lookup", "--db", dsn, "--account", "P00000001", "--email", "ola@example.no", "--as-of", "2024-07-01")
		if code != 0 {
			t.Fatalf("lookup: exit %d: %s", code, stderr)
		}
		var resp struct {
			Status   string         `json:"status"`
			Customer map[string]any `json:"customer"`
		}
		if err := json.Unmarshal([]byte(stdout), &resp); err != nil {
			t.Fatalf("lookup JSON: %v\n%s", err, stdout)
		}
		c := resp.Customer
		if resp.Status != "OPT_OUT" || c["type"] != "customer" || c["customer_id"] != "M-1006" || c["status"] != "OPT_OUT" ||
			c["updated_at"] != "2024-06-01T12:00:00Z" || c["created_at"] == nil || c["metadata"] == nil {
			t.Errorf("lookup: %s", stdout)
		}
		if strings.Contains(stdout, "Sofie") || strings.Contains(stdout, "ola@example.no") {
			t.Errorf("lookup shows personal data: %s", stdout)
		}
	})
}
