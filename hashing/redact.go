package hashing

import (
	"strings"
	"unicode/utf8"
)

// RedactEmail hides all but the first character of the local part and of the
// domain, keeping the top-level domain: "kari@example.no" → "k***@e***.no".
// It accepts any input, valid or not, and never returns more than it hides.
func RedactEmail(s string) string {
	s = Trim(s)
	if s == "" {
		return ""
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return firstRune(s) + "***"
	}
	out := firstRune(local) + "***@"
	if dot := strings.LastIndexByte(domain, '.'); dot > 0 {
		return out + firstRune(domain[:dot]) + "***" + domain[dot:]
	}
	return out + firstRune(domain) + "***"
}

// RedactPhone keeps the first three and the last two characters of a phone
// number and masks the rest: "+4791234567" → "+47******67". Short inputs are
// masked whole.
func RedactPhone(s string) string {
	s = Trim(s)
	r := []rune(s)
	if len(r) <= 6 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-5) + string(r[len(r)-2:])
}

func firstRune(s string) string {
	if s == "" {
		return ""
	}
	if !utf8.ValidString(s) {
		return "?"
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r)
}
