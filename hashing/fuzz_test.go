package hashing

import (
	"strings"
	"testing"
)

// FuzzNormalizeEmail checks that normalising never panics, is idempotent,
// and that a valid result satisfies every rule of the SPEC.
func FuzzNormalizeEmail(f *testing.F) {
	for _, in := range vectorInputs {
		if in.kind == "email" {
			f.Add(in.input)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeEmail(s)
		if err != nil {
			if strings.Contains(err.Error(), s) && len(s) > 3 {
				t.Fatalf("error leaks the input: %v", err)
			}
			return
		}
		again, err := NormalizeEmail(n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, n, again, err)
		}
		if strings.Count(n, "@") != 1 || strings.Index(n, "@") > 64 {
			t.Fatalf("accepted %q", n)
		}
		_ = RedactEmail(s)
	})
}

// FuzzNormalizePhone checks that phone normalising never panics and is
// idempotent: an E.164 result normalises to itself.
func FuzzNormalizePhone(f *testing.F) {
	for _, in := range vectorInputs {
		if in.kind == "phone" {
			f.Add(in.input)
		}
	}
	p, err := NewPhones("NO")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := p.Normalize(s)
		_ = RedactPhone(s)
		if err != nil {
			return
		}
		again, err := p.Normalize(n)
		if err != nil || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, n, again, err)
		}
		if !strings.HasPrefix(n, "+") {
			t.Fatalf("not E.164: %q", n)
		}
	})
}
