package hashing

import (
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The fast path gives exactly libphonenumber's answer for the forms exports
// are made of — an optional + or 00, digits, and spaces, dashes, dots or
// parentheses — by running the library's own decisions (country code
// extraction, the default country code rule, national prefix detection,
// region selection and number type) on automata compiled from the library's
// own metadata. Whenever an input needs more than that (letters,
// extensions, a national prefix to strip, a leading zero, a non-geographic
// or unusual country code), and whenever the number is not valid, it steps
// aside and the library itself answers, with its own error. A differential
// fuzz test holds it to the library.

// numberDesc is one PhoneNumberDesc: possible lengths and its pattern.
type numberDesc struct {
	lengths []int32
	re      *digitDFA
}

func (d *numberDesc) matches(nsn []byte) bool {
	if len(d.lengths) > 0 && !containsLen(d.lengths, len(nsn)) {
		return false
	}
	return d.re.full(nsn)
}

func containsLen(ls []int32, n int) bool {
	for _, l := range ls {
		if int(l) == n {
			return true
		}
	}
	return false
}

// regionRules is what validation needs of one region's metadata.
type regionRules struct {
	id             string
	leading        *digitDFA // leading digits that pick this region among those sharing its code; nil: none
	general        numberDesc
	types          []numberDesc // mobile, fixed line, then the rarer types: any match makes a known type
	localLengths   []int32
	prefixParsing  *digitDFA // national prefix for parsing; nil: none
	internationalP string    // international (IDD) prefix pattern, as written
	idd            *digitDFA // the same, compiled; nil: none
	transforms     bool      // has a national prefix transform rule (digits are rewritten, not only stripped)
}

// known is getNumberTypeHelper(nsn) != UNKNOWN.
func (r *regionRules) known(nsn []byte) bool {
	if !r.general.matches(nsn) {
		return false
	}
	for i := range r.types {
		if r.types[i].matches(nsn) {
			return true
		}
	}
	return false
}

// tooLong is testNumberLength(nsn, metadata, UNKNOWN) == TOO_LONG.
func (r *regionRules) tooLong(nsn []byte) bool {
	ls := r.general.lengths
	if len(ls) == 0 || ls[0] == -1 || containsLen(r.localLengths, len(nsn)) || int(ls[0]) == len(nsn) {
		return false
	}
	return len(nsn) > int(ls[len(ls)-1])
}

// maxCode bounds country calling codes (at most three digits).
const maxCode = 1000

var fastRules struct {
	once    sync.Once
	regions map[string]*regionRules // by region id
	// By country code, so that the fast path looks up no map: the regions
	// in the library's order (nil: not handled), the main region, and
	// whether the library knows the code at all.
	byCode [maxCode][]*regionRules
	mainOf [maxCode]*regionRules
	isCode [maxCode]bool
}

func loadFastRules() {
	fastRules.regions = map[string]*regionRules{}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return // no fast path; the library answers everything
	}
	for _, m := range coll.GetMetadata() {
		r, ok := buildRegion(m)
		if ok {
			fastRules.regions[m.GetId()] = r
		}
	}
	for cc := 1; cc < maxCode; cc++ {
		ids := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(ids) == 0 {
			continue
		}
		fastRules.isCode[cc] = true
		fastRules.mainOf[cc] = fastRules.regions[phonenumbers.GetRegionCodeForCountryCode(cc)]
		var rs []*regionRules
		for _, id := range ids {
			r := fastRules.regions[id]
			if r == nil {
				rs = nil // a region we could not compile: leave the code to the library
				break
			}
			rs = append(rs, r)
		}
		fastRules.byCode[cc] = rs
	}
}

func buildRegion(m *phonenumbers.PhoneMetadata) (*regionRules, bool) {
	r := &regionRules{id: m.GetId(), internationalP: m.GetInternationalPrefix(), transforms: m.GetNationalPrefixTransformRule() != ""}
	desc := func(d *phonenumbers.PhoneNumberDesc) (numberDesc, bool) {
		re, err := compileDigitDFA(d.GetNationalNumberPattern())
		return numberDesc{lengths: d.GetPossibleLength(), re: re}, err == nil
	}
	var ok bool
	if r.general, ok = desc(m.GetGeneralDesc()); !ok {
		return nil, false
	}
	r.localLengths = m.GetGeneralDesc().GetPossibleLengthLocalOnly()
	// The most common types first: known stops at the first match.
	for _, d := range []*phonenumbers.PhoneNumberDesc{m.GetMobile(), m.GetFixedLine(), m.GetPremiumRate(), m.GetTollFree(),
		m.GetSharedCost(), m.GetVoip(), m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail()} {
		nd, ok := desc(d)
		if !ok {
			return nil, false
		}
		r.types = append(r.types, nd)
	}
	if l := m.GetLeadingDigits(); l != "" {
		re, err := compileDigitDFA(l)
		if err != nil {
			return nil, false
		}
		r.leading = re
	}
	if p := m.GetInternationalPrefix(); p != "" {
		re, err := compileDigitDFA(p)
		if err != nil {
			return nil, false
		}
		r.idd = re
	}
	if p := m.GetNationalPrefixForParsing(); p != "" {
		re, err := compileDigitDFA(p)
		if err != nil {
			return nil, false
		}
		r.prefixParsing = re
	}
	return r, true
}

// validFor is IsValidNumber for a country code and national significant
// number: the region is chosen as GetRegionCodeForNumber chooses it.
func validFor(regions []*regionRules, nsn []byte) bool {
	if len(regions) == 1 {
		return regions[0].known(nsn)
	}
	for _, r := range regions {
		if r.leading != nil {
			if r.leading.prefix(nsn) {
				return r.known(nsn)
			}
		} else if r.known(nsn) {
			return true
		}
	}
	return false
}

// fastPhone is the fast path of one default region.
type fastPhone struct {
	region *regionRules
	cc     int
	ccStr  string
	idd00  bool // the region's international prefix is exactly 00
}

func newFastPhone(region string) *fastPhone {
	fastRules.once.Do(loadFastRules)
	r := fastRules.regions[region]
	if r == nil {
		return nil
	}
	cc := phonenumbers.GetCountryCodeForRegion(region)
	return &fastPhone{region: r, cc: cc, ccStr: strconv.Itoa(cc), idd00: r.internationalP == "00"}
}

// fastVerdict is the fast path's answer.
type fastVerdict int

const (
	fastUnsure  fastVerdict = iota // not a handled form: the library answers
	fastValid                      // a valid number, in E.164
	fastInvalid                    // a handled form the library parses, but not a valid number
)

// normalize returns the E.164 form and fastValid when the input is one of
// the handled forms and a valid number, fastInvalid when it is a handled
// form that is not (the library would parse it and find it invalid: a
// fifth of the phone numbers of some exports are such, and the library
// takes ~20 µs over each), else fastUnsure.
func (f *fastPhone) normalize(s string) (string, fastVerdict) {
	if f == nil || len(s) > 100 {
		return "", fastUnsure
	}
	// The digits go in after room for a "+" and a country code, so that
	// the E.164 form is written in place and allocated once.
	const room = 4
	var buf [room + 32]byte
	n := room
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(buf) {
				return "", fastUnsure
			}
			buf[n] = c
			n++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c == '+' && !plus && n == room:
			plus = true
		default:
			return "", fastUnsure
		}
	}
	d := buf[room:n]
	if len(d) < 3 {
		return "", fastUnsure
	}
	intl := plus
	if !plus && f.idd00 && len(d) > 2 && d[0] == '0' && d[1] == '0' {
		if d[2] == '0' {
			return "", fastUnsure
		}
		d, intl = d[2:], true
	}
	// The library reads a number that starts with the region's
	// international prefix as international; "00" is handled above, other
	// prefixes (Finland's 99x, for one) are the library's.
	if !intl && !f.idd00 && f.region.idd != nil && f.region.idd.prefix(d) {
		return "", fastUnsure
	}
	var cc, ccLen int
	var nsn []byte
	var regions []*regionRules
	if intl {
		if len(d) <= 2 || d[0] == '0' {
			return "", fastUnsure
		}
		for l, v := 1, 0; l <= 3 && l <= len(d); l++ {
			if v = v*10 + int(d[l-1]-'0'); fastRules.isCode[v] {
				cc, ccLen, nsn = v, l, d[l:]
				break
			}
		}
		if cc == 0 {
			return "", fastUnsure
		}
		regions = fastRules.byCode[cc]
		if len(regions) == 0 || regions[0].id == "001" {
			return "", fastUnsure
		}
	} else {
		cc, ccLen, nsn, regions = f.cc, 0, d, fastRules.byCode[f.cc]
		if len(regions) == 0 {
			return "", fastUnsure
		}
		// libphonenumber reads a national number that starts with the
		// region's own country code as international when that makes it
		// valid, or when it is too long without.
		if len(d) > len(f.ccStr) && string(d[:len(f.ccStr)]) == f.ccStr {
			pot := d[len(f.ccStr):]
			if f.region.prefixParsing != nil && f.region.prefixParsing.prefix(pot) {
				return "", fastUnsure
			}
			if (!f.region.general.re.full(d) && f.region.general.re.full(pot)) || f.region.tooLong(d) {
				nsn, ccLen = pot, len(f.ccStr)
			}
		}
	}
	// The national prefix of the number's main region would be considered
	// for stripping, and a leading zero is kept as a separate field: both
	// are the library's to handle.
	main := fastRules.mainOf[cc]
	if main == nil || len(nsn) < 2 || len(nsn) > 17 || nsn[0] == '0' ||
		main.prefixParsing != nil && main.prefixParsing.prefix(nsn) {
		return "", fastUnsure
	}
	if !validFor(regions, nsn) {
		// Where the library may rewrite the digits (Norfolk Island's
		// five-digit numbers gain a 3), what it makes of them is its own.
		if main.transforms {
			return "", fastUnsure
		}
		return "", fastInvalid
	}
	// The E.164 form ends where nsn ends in buf. The country code's digits
	// are already just before nsn (ccLen of them) when the input carried
	// it; else it is written there, into the room kept for it.
	at := n - len(nsn) - ccLen
	if ccLen == 0 {
		at -= len(f.ccStr)
		copy(buf[at:], f.ccStr)
	}
	at--
	buf[at] = '+'
	return string(buf[at:n]), fastValid
}
