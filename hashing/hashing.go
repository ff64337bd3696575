// Package hashing normalises plain customer identifiers and hashes them into
// tokens. The same input must give the same token in every release: the
// vectors in testdata/vectors.csv pin the behaviour, and changing any of them
// is a breaking change for every stored token.
//
// Plain identifiers are never returned inside an error: errors describe what
// is wrong, not the value, so callers can log them safely.
package hashing

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"

	"github.com/tokenevents/tokenevents"
)

// Errors returned by the normalisers. They never contain the input.
var (
	ErrEmpty         = errors.New("empty")
	ErrInvalidUTF8   = errors.New("not valid UTF-8 (check --encoding)")
	ErrEmailAt       = errors.New("e-mail must contain exactly one @")
	ErrEmailLocal    = errors.New("e-mail local part must be 1 to 64 bytes")
	ErrEmailDomain   = errors.New("e-mail domain must contain a dot")
	ErrEmailSpace    = errors.New("e-mail contains white space or control characters")
	ErrPhoneParse    = errors.New("phone number cannot be parsed")
	ErrPhoneInvalid  = errors.New("phone number is not a valid number")
	ErrTokenType     = errors.New("token_type must be a sha1:* type")
	ErrTokenValueHex = errors.New("token_value must be 40 hex digits")
	ErrRegionUnknown = errors.New("unknown region")
)

// SHA1Hex returns the lower-case hex SHA-1 of s.
func SHA1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// isTrimmed reports the characters trimmed at both ends of identifiers:
// Unicode white space (including NBSP), zero-width characters and the BOM.
func isTrimmed(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r)
}

// Trim removes white space, zero-width characters and BOMs at both ends.
func Trim(s string) string { return strings.TrimFunc(s, isTrimmed) }

// NormalizeEmail returns the canonical form of a plain e-mail address:
// Unicode NFC, trimmed, lower-cased, and checked (exactly one @, a local part
// of 1-64 bytes, a domain with a dot, no white space or control characters).
func NormalizeEmail(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidUTF8
	}
	if isASCII(s) {
		// NFC is the identity on ASCII; skipping it keeps the common case fast.
		s = strings.ToLower(Trim(s))
	} else {
		s = strings.ToLower(Trim(norm.NFC.String(s)))
	}
	if s == "" {
		return "", ErrEmpty
	}
	at := strings.IndexByte(s, '@')
	if at < 0 || strings.IndexByte(s[at+1:], '@') >= 0 {
		return "", ErrEmailAt
	}
	if at == 0 || at > 64 {
		return "", ErrEmailLocal
	}
	if !strings.Contains(s[at+1:], ".") {
		return "", ErrEmailDomain
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", ErrEmailSpace
		}
	}
	return s, nil
}

// HashEmail normalises s and returns its token value.
func HashEmail(s string) (string, error) {
	n, err := NormalizeEmail(s)
	if err != nil {
		return "", err
	}
	return SHA1Hex(n), nil
}

// Phones normalises phone numbers with libphonenumber rules for one default
// region. It is safe for concurrent use.
type Phones struct {
	region   string
	fastOnce sync.Once
	fast     *fastPhone // built on first use; nil: every number goes to the library
}

// NewPhones returns a phone normaliser for the default region, an ISO 3166
// two-letter code such as "NO".
func NewPhones(region string) (*Phones, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, ErrRegionUnknown
	}
	return &Phones{region: region}, nil
}

// Normalize returns the E.164 form of a valid phone number.
func (p *Phones) Normalize(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrInvalidUTF8
	}
	s = Trim(s)
	if s == "" {
		return "", ErrEmpty
	}
	// The fast path's automata take a moment to build: only runs that
	// meet a phone number pay for them.
	p.fastOnce.Do(func() { p.fast = newFastPhone(p.region) })
	switch e164, v := p.fast.normalize(s); v {
	case fastValid:
		return e164, nil
	case fastInvalid:
		return "", ErrPhoneInvalid
	}
	return p.slow(s)
}

// slow asks libphonenumber itself.
func (p *Phones) slow(s string) (string, error) {
	num, err := phonenumbers.Parse(s, p.region)
	if err != nil {
		return "", ErrPhoneParse
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", ErrPhoneInvalid
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// Hash normalises s and returns its token value.
func (p *Phones) Hash(s string) (string, error) {
	n, err := p.Normalize(s)
	if err != nil {
		return "", err
	}
	return SHA1Hex(n), nil
}

// NormalizeTokenType checks a pre-hashed token type: trimmed, lower-cased,
// and of the form sha1:NAME.
func NormalizeTokenType(s string) (string, error) {
	t := strings.ToLower(Trim(s))
	if t == "" {
		return "", ErrEmpty
	}
	rest, ok := strings.CutPrefix(t, tokenevents.TokenTypeSHA1Prefix)
	if !ok || rest == "" {
		return "", ErrTokenType
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "", ErrTokenType
		}
	}
	return t, nil
}

// NormalizeTokenValue checks a pre-hashed SHA-1 value: 40 hex digits, upper
// case accepted, returned lower case.
func NormalizeTokenValue(s string) (string, error) {
	v := Trim(s)
	if v == "" {
		return "", ErrEmpty
	}
	if len(v) != 40 {
		return "", ErrTokenValueHex
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", ErrTokenValueHex
		}
	}
	return strings.ToLower(v), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
