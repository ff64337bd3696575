package hashing

import (
	"fmt"
	"testing"
)

var benchEmails = func() []string {
	var out []string
	for i := 0; i < 1024; i++ {
		out = append(out, fmt.Sprintf("  Kari.Nordmann%d@Example.NO ", i))
	}
	return out
}()

var benchPhones = func() []string {
	forms := []string{"+47 9%02d 34 567", "0047 9%02d34567", "9%02d 34 567", "9%02d34567", "+479%02d34567", "(+47) 9%02d-34-567", "+46 70 1%02d 45 67"}
	var out []string
	for i := 0; i < 1024; i++ {
		out = append(out, fmt.Sprintf(forms[i%len(forms)], i%100))
	}
	return out
}()

func BenchmarkHashEmail(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		if _, err := HashEmail(benchEmails[i%len(benchEmails)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashPhone(b *testing.B) {
	p, _ := NewPhones("NO")
	for i := 0; b.Loop(); i++ {
		if _, err := p.Hash(benchPhones[i%len(benchPhones)]); err != nil {
			b.Fatal(err)
		}
	}
}
