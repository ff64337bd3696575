package pipeline

import (
	"errors"
	"time"
)

var errTime = errors.New("not a timestamp (want RFC 3339, YYYY-MM-DD HH:MM:SS[.fraction] or YYYY-MM-DD)")

// parseTime reads the SPEC's timestamp forms: RFC 3339 (T or space between
// date and time, Z or ±hh:mm / ±hhmm / ±hh offset), YYYY-MM-DD HH:MM[:SS[.f]]
// and YYYY-MM-DD (midnight). A time without an offset is read in loc.
// It is hand-written because it runs for every row: time.Parse with several
// layouts costs several times more.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return time.Time{}, errTime
	}
	y, ok1 := digits(s[0:4])
	mo, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, errTime
	}
	var hh, mm, ss, nsec int
	rest := s[10:]
	if rest != "" {
		if rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ' || len(rest) < 6 || rest[3] != ':' {
			return time.Time{}, errTime
		}
		var ok bool
		if hh, ok = digits(rest[1:3]); !ok || hh > 23 {
			return time.Time{}, errTime
		}
		if mm, ok = digits(rest[4:6]); !ok || mm > 59 {
			return time.Time{}, errTime
		}
		rest = rest[6:]
		if len(rest) >= 3 && rest[0] == ':' {
			if ss, ok = digits(rest[1:3]); !ok || ss > 59 {
				return time.Time{}, errTime
			}
			rest = rest[3:]
			if len(rest) > 1 && (rest[0] == '.' || rest[0] == ',') {
				i, scale := 1, 100000000
				for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
					nsec += int(rest[i]-'0') * scale
					scale /= 10
				}
				if i == 1 {
					return time.Time{}, errTime
				}
				rest = rest[i:]
			}
		}
		if rest != "" {
			off, ok := parseOffset(rest)
			if !ok {
				return time.Time{}, errTime
			}
			loc = time.FixedZone("", off)
			if off == 0 {
				loc = time.UTC
			}
		}
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, nsec, loc)
	if t.Day() != d { // 2024-02-30 and the like
		return time.Time{}, errTime
	}
	return t, nil
}

// parseOffset reads Z, ±hh, ±hhmm or ±hh:mm, optionally after one space.
func parseOffset(s string) (int, bool) {
	if s[0] == ' ' {
		s = s[1:]
	}
	if s == "Z" || s == "z" || s == "UTC" {
		return 0, true
	}
	if len(s) < 3 || s[0] != '+' && s[0] != '-' {
		return 0, false
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	h, ok := digits(s[1:3])
	if !ok || h > 23 {
		return 0, false
	}
	m := 0
	switch rest := s[3:]; {
	case rest == "":
	case len(rest) == 3 && rest[0] == ':':
		m, ok = digits(rest[1:])
	case len(rest) == 2:
		m, ok = digits(rest)
	default:
		return 0, false
	}
	if !ok || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

// ParseTime reads a timestamp in one of the SPEC's forms; one without an
// offset is read in loc. Command-line flags use it too.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	return parseTime(s, loc)
}
