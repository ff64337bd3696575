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

func (d *numberDesc) matches(nsn string) bool {
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
	types          []numberDesc // premium … voicemail, fixed line, mobile: any match makes a known type
	localLengths   []int32
	prefixParsing  *digitDFA // national prefix for parsing; nil: none
	internationalP string    // international (IDD) prefix pattern, as written
}

// known is getNumberTypeHelper(nsn) != UNKNOWN.
func (r *regionRules) known(nsn string) bool {
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
func (r *regionRules) tooLong(nsn string) bool {
	ls := r.general.lengths
	if len(ls) == 0 || ls[0] == -1 || containsLen(r.localLengths, len(nsn)) || int(ls[0]) == len(nsn) {
		return false
	}
	return len(nsn) > int(ls[len(ls)-1])
}

var fastRules struct {
	once    sync.Once
	regions map[string]*regionRules // by region id
	byCode  map[int][]*regionRules  // in the library's order; nil entries: not handled
}

func loadFastRules() {
	fastRules.regions = map[string]*regionRules{}
	fastRules.byCode = map[int][]*regionRules{}
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
	for cc := 1; cc < 1000; cc++ {
		ids := phonenumbers.GetRegionCodesForCountryCode(cc)
		if len(ids) == 0 {
			continue
		}
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
	r := &regionRules{id: m.GetId(), internationalP: m.GetInternationalPrefix()}
	desc := func(d *phonenumbers.PhoneNumberDesc) (numberDesc, bool) {
		re, err := compileDigitDFA(d.GetNationalNumberPattern())
		return numberDesc{lengths: d.GetPossibleLength(), re: re}, err == nil
	}
	var ok bool
	if r.general, ok = desc(m.GetGeneralDesc()); !ok {
		return nil, false
	}
	r.localLengths = m.GetGeneralDesc().GetPossibleLengthLocalOnly()
	for _, d := range []*phonenumbers.PhoneNumberDesc{m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(), m.GetFixedLine(), m.GetMobile()} {
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
func validFor(regions []*regionRules, nsn string) bool {
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

// normalize returns the E.164 form and true when the input is one of the
// handled forms and a valid number; false sends it to the library.
func (f *fastPhone) normalize(s string) (string, bool) {
	if f == nil || len(s) > 100 {
		return "", false
	}
	var buf [32]byte
	digits := buf[:0]
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if len(digits) == len(buf) {
				return "", false
			}
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c == '+' && !plus && len(digits) == 0:
			plus = true
		default:
			return "", false
		}
	}
	d := string(digits)
	if len(d) < 3 {
		return "", false
	}
	intl := plus
	if !plus && f.idd00 && len(d) > 2 && d[0] == '0' && d[1] == '0' {
		if d[2] == '0' {
			return "", false
		}
		d, intl = d[2:], true
	}
	var cc int
	var ccStr, nsn string
	var regions []*regionRules
	if intl {
		if len(d) <= 2 || d[0] == '0' {
			return "", false
		}
		for l := 1; l <= 3 && l <= len(d); l++ {
			n, _ := strconv.Atoi(d[:l])
			if len(phonenumbers.GetRegionCodesForCountryCode(n)) > 0 {
				cc, ccStr, nsn = n, d[:l], d[l:]
				break
			}
		}
		if cc == 0 {
			return "", false
		}
		regions = fastRules.byCode[cc]
		if len(regions) == 0 || regions[0].id == "001" {
			return "", false
		}
	} else {
		cc, ccStr, nsn, regions = f.cc, f.ccStr, d, fastRules.byCode[f.cc]
		if len(regions) == 0 {
			return "", false
		}
		// libphonenumber reads a national number that starts with the
		// region's own country code as international when that makes it
		// valid, or when it is too long without.
		if len(d) > len(f.ccStr) && d[:len(f.ccStr)] == f.ccStr {
			pot := d[len(f.ccStr):]
			if f.region.prefixParsing != nil && f.region.prefixParsing.prefix(pot) {
				return "", false
			}
			if (!f.region.general.re.full(d) && f.region.general.re.full(pot)) || f.region.tooLong(d) {
				nsn = pot
			}
		}
	}
	// The national prefix of the number's main region would be considered
	// for stripping, and a leading zero is kept as a separate field: both
	// are the library's to handle.
	main := fastRules.regions[phonenumbers.GetRegionCodeForCountryCode(cc)]
	if main == nil || len(nsn) < 2 || len(nsn) > 17 || nsn[0] == '0' ||
		main.prefixParsing != nil && main.prefixParsing.prefix(nsn) {
		return "", false
	}
	if !validFor(regions, nsn) {
		return "", false
	}
	return "+" + ccStr + nsn, true
}
