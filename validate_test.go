package tokenevents

import (
	"regexp"
	"testing"
)

// The hand-written checks must answer exactly what the SPEC's patterns do.
var (
	specAccount = regexp.MustCompile(`^[PT][0-9]{8}$`)
	specStatus  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

func TestValidAccountIDAndStatus(t *testing.T) {
	for _, tc := range []struct {
		in              string
		account, status bool
	}{
		{"P00000001", true, true},
		{"T12345678", true, true},
		{"X12345678", false, true},
		{"P1234567", false, true},
		{"P123456789", false, true},
		{"P1234567a", false, false},
		{"p12345678", false, false},
		{"", false, false},
		{"OPT_OUT", false, true},
		{"OPT_IN2", false, true},
		{"_OPT", false, false},
		{"1OPT", false, false},
		{"OPT-OUT", false, false},
		{"OPT OUT", false, false},
		{"Opt_out", false, false},
		{"A", false, true},
		{"ÅPT", false, false},
		{"OPT\n", false, false},
	} {
		if got := ValidAccountID(tc.in); got != tc.account {
			t.Errorf("ValidAccountID(%q) = %v, want %v", tc.in, got, tc.account)
		}
		if got := ValidStatus(tc.in); got != tc.status {
			t.Errorf("ValidStatus(%q) = %v, want %v", tc.in, got, tc.status)
		}
	}
}

func FuzzValidAccountIDAndStatus(f *testing.F) {
	for _, s := range []string{"P00000001", "T1", "OPT_OUT", "", "A_1", "P0000000١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidAccountID(s), specAccount.MatchString(s); got != want {
			t.Errorf("ValidAccountID(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := ValidStatus(s), specStatus.MatchString(s); got != want {
			t.Errorf("ValidStatus(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
