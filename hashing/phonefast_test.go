package hashing

import (
	"errors"
	"fmt"

	"github.com/nyaruka/phonenumbers"
	"math/rand/v2"
	"testing"
)

var fastRegions = []string{"NO", "SE", "DK", "FI", "GB", "DE", "US", "FR", "IT", "BR"}

// checkSame requires the fast path, when it answers, to answer as
// libphonenumber does.
func checkSame(t *testing.T, p *Phones, s string) bool {
	t.Helper()
	p.fastOnce.Do(func() { p.fast = newFastPhone(p.region) })
	got, v := p.fast.normalize(s)
	want, err := p.slow(s)
	switch v {
	case fastUnsure:
		return false
	case fastInvalid:
		if !errors.Is(err, ErrPhoneInvalid) {
			t.Fatalf("region %s, %q: fast path: not a valid number; libphonenumber %q (%v)", p.region, s, want, err)
		}
	default:
		if err != nil || got != want {
			t.Fatalf("region %s, %q: fast path %q, libphonenumber %q (%v)", p.region, s, got, want, err)
		}
	}
	return true
}

// TestPhoneFastPathMatchesLibrary runs every form the export generator
// writes, and many random ones, through both paths.
func TestPhoneFastPathMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	forms := []string{"+47 %s", "0047 %s", "%s", "47%s", "(+47) %s", "+46 %s", "0046%s", "0%s", "+%s", "00%s", "+45 %s", "+44 %s", "+1 %s"}
	for _, region := range fastRegions {
		p, err := NewPhones(region)
		if err != nil {
			t.Fatal(err)
		}
		if newFastPhone(region) == nil {
			t.Fatalf("no fast path for %s", region)
		}
		fast, total := 0, 0
		for i := 0; i < 20000; i++ {
			n := fmt.Sprintf("%0*d", 6+r.IntN(7), r.Int64N(1e12))
			if r.IntN(2) == 0 {
				n = fmt.Sprint([]string{"9", "4", "2", "7", "8", "1", "5", "6", "3"}[r.IntN(9)]) + n[1:]
			}
			if r.IntN(3) == 0 && len(n) > 5 {
				n = n[:3] + " " + n[3:5] + "-" + n[5:]
			}
			s := fmt.Sprintf(forms[r.IntN(len(forms))], n)
			total++
			if checkSame(t, p, s) {
				fast++
			}
		}
		t.Logf("%s: fast path answered %d of %d", region, fast, total)
	}
	// Valid numbers of every type of many regions, in several forms.
	for _, region := range fastRegions {
		p, _ := NewPhones(region)
		fast, total := 0, 0
		for _, other := range fastRegions {
			for typ := phonenumbers.FIXED_LINE; typ <= phonenumbers.VOICEMAIL; typ++ {
				ex := phonenumbers.GetExampleNumberForType(other, typ)
				if ex == nil {
					continue
				}
				e164 := phonenumbers.Format(ex, phonenumbers.E164)
				nat := fmt.Sprint(ex.GetNationalNumber())
				for i := 0; i < 30; i++ {
					tail := fmt.Sprintf("%03d", r.IntN(1000))
					v := nat[:max(1, len(nat)-3)] + tail[3-min(3, len(nat)-1):]
					cc := e164[:len(e164)-len(nat)]
					for _, form := range []string{cc + v, "00" + cc[1:] + " " + v, v, "0" + v, cc[1:] + v, cc + " " + v[:2] + " " + v[2:]} {
						total++
						if checkSame(t, p, form) {
							fast++
						}
					}
				}
			}
		}
		t.Logf("%s: fast path answered %d of %d valid-looking numbers", region, fast, total)
	}

	// The generator's Norwegian and Swedish mobiles must take the fast path.
	p, _ := NewPhones("NO")
	for _, s := range []string{"+47 912 34 567", "0047 91234567", "912 34 567", "91234567", "+4791234567", "(+47) 912-34-567", "4791234567", "+46 70 123 45 67", "0046701234567", "+46701234567"} {
		if !checkSame(t, p, s) {
			t.Errorf("%q did not take the fast path", s)
		}
	}
	// Nor may the numbers of noisy exports that are not valid: Norwegian
	// numbers in the unassigned 43 range, written in the same forms.
	for _, s := range []string{"+47 432 12 345", "0047 43212345", "432 12 345", "43212345", "(+47) 432-12-345", "4743212345", "+46 70 123 45"} {
		if _, v := p.fast.normalize(s); v != fastInvalid || !checkSame(t, p, s) {
			t.Errorf("%q: fast path verdict %d, want not valid", s, v)
		}
	}
}

// FuzzPhoneFastPath is the differential fuzz test: any input, any of a few
// regions; wherever the fast path answers, libphonenumber must agree.
func FuzzPhoneFastPath(f *testing.F) {
	for _, s := range []string{"+47 912 34 567", "0047 91234567", "912 34 567", "4791234567", "(+47) 912-34-567", "+46 70 123 45 67", "070-123 45 67", "+44 7911 123456", "+1 650 253 0000"} {
		for i := range fastRegions {
			f.Add(s, uint8(i))
		}
	}
	phones := map[string]*Phones{}
	for _, r := range fastRegions {
		phones[r], _ = NewPhones(r)
	}
	f.Fuzz(func(t *testing.T, s string, region uint8) {
		p := phones[fastRegions[int(region)%len(fastRegions)]]
		checkSame(t, p, s)
	})
}

func BenchmarkNormalizePhoneFast(b *testing.B) {
	p, _ := NewPhones("NO")
	for i := 0; b.Loop(); i++ {
		if _, err := p.Normalize(benchPhones[i%len(benchPhones)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFastRulesLoad: the fast path's rules compile from the library's
// metadata for nearly every region (246 today; a library upgrade that
// breaks the compiler would silently send every number down the slow
// path), and the regions the product's users live in answer on the fast
// path, with the library's answer. How long loading takes is the
// benchmark's business, not a test's.
func TestFastRulesLoad(t *testing.T) {
	fastRules.once.Do(loadFastRules)
	if n := len(fastRules.regions); n < 230 {
		t.Errorf("fast rules compiled for %d regions, want at least 230", n)
	}
	codes := 0
	for _, rs := range fastRules.byCode {
		if rs != nil {
			codes++
		}
	}
	if codes < 200 {
		t.Errorf("%d country codes have a fast path, want at least 200", codes)
	}
	for region, number := range map[string]string{"NO": "+47 912 34 567", "SE": "+46 70 123 45 67", "DK": "20 12 34 56",
		"GB": "+44 7400 123456", "DE": "+49 1512 3456789", "US": "(201) 555-0123"} {
		p, err := NewPhones(region)
		if err != nil {
			t.Fatal(err)
		}
		if !checkSame(t, p, number) {
			t.Errorf("region %s: %q does not take the fast path", region, number)
		}
	}
}

// BenchmarkNormalizePhoneInvalid: numbers of a noisy export that are not
// valid, answered by the fast path (fast) and by the library (library).
func BenchmarkNormalizePhoneInvalid(b *testing.B) {
	p, _ := NewPhones("NO")
	invalid := []string{"+47 432 12 345", "0047 43212345", "432 12 345", "43212345", "(+47) 432-12-345", "4743212345"}
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := p.Normalize(invalid[i%len(invalid)]); !errors.Is(err, ErrPhoneInvalid) {
				b.Fatal(err)
			}
		}
	})
	b.Run("library", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := p.slow(invalid[i%len(invalid)]); !errors.Is(err, ErrPhoneInvalid) {
				b.Fatal(err)
			}
		}
	})
}
