package pipeline

import (
	"sort"
	"strings"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/hashing"
)

// field is an input column the importer understands.
type field int

const (
	fAccount field = iota
	fEmail
	fPhone
	fTokenType
	fTokenValue
	fEvent
	fStatus
	fCreatedAt
	fExpiresAt
	fStoreID
	fCustomerID
	fDeletedAt
	fUpdatedAt
	numFields
)

var fieldByName = map[string]field{
	"account_id": fAccount, "email": fEmail, "phone_number": fPhone, "token_type": fTokenType,
	"token_value": fTokenValue, "event": fEvent, "status": fStatus, "created_at": fCreatedAt,
	"expires_at": fExpiresAt, "store_id": fStoreID, "customer_id": fCustomerID, "deleted_at": fDeletedAt,
	"updated_at": fUpdatedAt,
}

// customerOnly are the fields of a customers file (import --customers)
// that an events file does not read.
var customerOnly = map[field]bool{fDeletedAt: true, fUpdatedAt: true}

// eventOnly are the fields of an events file that a customers file does
// not read.
var eventOnly = map[field]bool{fEvent: true, fCreatedAt: true, fExpiresAt: true, fStoreID: true}

// aliases are other header names that mean a field.
var aliases = map[string]field{"phone": fPhone, "mobile": fPhone, "msisdn": fPhone}

func fieldNames() []string {
	names := make([]string, 0, len(fieldByName))
	for n := range fieldByName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (f field) String() string {
	for n, g := range fieldByName {
		if g == f {
			return n
		}
	}
	return "?"
}

// columns maps fields and metadata keys to column indexes (-1 = absent).
type columns struct {
	idx     [numFields]int
	meta    []metaColumn
	headers []string // as written in the file, trimmed
}

type metaColumn struct {
	key string
	idx int
}

// normHeader is how header names are compared: trimmed and case-folded.
func normHeader(h string) string { return strings.ToLower(hashing.Trim(h)) }

// mapColumns matches a header row against the fields, the SPEC's aliases,
// --map and --metadata, and checks that the run has what it needs. Its
// errors are usage errors: nothing has been written yet.
//
// No column is dropped without a word: two columns with one name, or two
// columns that would both fill one field (a name and an alias, say,
// unless --map picks one), are usage errors.
func mapColumns(header []string, o *Options) (*columns, error) {
	c := &columns{headers: make([]string, len(header))}
	pos := make(map[string]int, len(header))
	for i, h := range header {
		c.headers[i] = hashing.Trim(h)
		n := normHeader(h)
		if p := tokenevents.TextProblem(n, false); p != "" {
			return nil, tokenevents.UsageErrorf("header column %d: the name %s", i+1, p)
		}
		if j, dup := pos[n]; dup {
			return nil, tokenevents.UsageErrorf("the header names column %q twice (columns %d and %d): rename one", c.headers[i], j+1, i+1)
		}
		pos[n] = i
	}
	for i := range c.idx {
		c.idx[i] = -1
	}
	for name, h := range o.Map {
		i, ok := pos[normHeader(h)]
		if !ok {
			return nil, tokenevents.UsageErrorf("--map %s=%s: no such column in the header", name, h)
		}
		c.idx[fieldByName[name]] = i
	}
	if err := c.matchNames(pos, o); err != nil {
		return nil, err
	}
	for _, m := range o.Metadata {
		i, ok := pos[normHeader(m)]
		if !ok {
			return nil, tokenevents.UsageErrorf("--metadata %s: no such column in the header", m)
		}
		if i == c.idx[fEmail] || i == c.idx[fPhone] {
			return nil, tokenevents.UsageErrorf("--metadata %s: that column holds plain identifiers, which are never stored", m)
		}
		c.meta = append(c.meta, metaColumn{key: normHeader(m), idx: i})
	}
	if err := c.checkFields(o); err != nil {
		return nil, err
	}
	return c, nil
}

// checkFields checks that the file has what the run needs, and forgets
// the columns of the other kind of file (an events file's deleted_at is
// just another column).
func (c *columns) checkFields(o *Options) error {
	for f := range c.idx {
		if o.Customers && eventOnly[field(f)] || !o.Customers && customerOnly[field(f)] {
			c.idx[f] = -1
		}
	}
	if o.Customers {
		switch {
		case c.idx[fCustomerID] < 0:
			return tokenevents.UsageErrorf("no customer_id column (or --map customer_id=HEADER): a customers file needs one")
		case (c.idx[fTokenValue] < 0) != (c.idx[fTokenType] < 0):
			return tokenevents.UsageErrorf("token_type and token_value columns go together")
		case c.idx[fAccount] < 0 && o.Account == "":
			return tokenevents.UsageErrorf("no account_id column and no --account")
		}
		return nil
	}
	switch {
	case c.idx[fEmail] < 0 && c.idx[fPhone] < 0 && c.idx[fTokenValue] < 0:
		return tokenevents.UsageErrorf("no identifier column: need email, phone_number (phone, mobile, msisdn) or token_type and token_value (or --map)")
	case (c.idx[fTokenValue] < 0) != (c.idx[fTokenType] < 0):
		return tokenevents.UsageErrorf("token_type and token_value columns go together")
	case c.idx[fCreatedAt] < 0 && !o.CreatedAt.Valid:
		return tokenevents.UsageErrorf("no created_at column and no --created-at")
	case c.idx[fAccount] < 0 && o.Account == "":
		return tokenevents.UsageErrorf("no account_id column and no --account")
	case c.idx[fEvent] < 0 && o.Event == "":
		return tokenevents.UsageErrorf("no event column and no --event")
	}
	return nil
}

// matchNames gives each field not set by --map the column with its name
// or one of its aliases; more than one candidate is a usage error, and so
// is a column that would fill two fields.
func (c *columns) matchNames(pos map[string]int, o *Options) error {
	for name, f := range fieldByName {
		if _, mapped := o.Map[name]; mapped {
			continue
		}
		var found []string
		for _, n := range append([]string{name}, aliasesOf(f)...) {
			if i, ok := pos[n]; ok {
				c.idx[f] = i
				found = append(found, c.headers[i])
			}
		}
		if len(found) > 1 {
			return tokenevents.UsageErrorf("columns %s all mean %s: pick one with --map %s=HEADER", strings.Join(found, ", "), name, name)
		}
	}
	used := map[int]field{}
	for f, i := range c.idx {
		if i < 0 {
			continue
		}
		if g, dup := used[i]; dup {
			return tokenevents.UsageErrorf("column %q would fill both %s and %s (check --map)", c.headers[i], g, field(f))
		}
		used[i] = field(f)
	}
	return nil
}

func aliasesOf(f field) []string {
	var out []string
	for n, g := range aliases {
		if g == f {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// name returns the header of column i for reject reports.
func (c *columns) name(i int) string {
	if i >= 0 && i < len(c.headers) {
		return c.headers[i]
	}
	return ""
}

// positions lists the column indexes the import reads.
func (c *columns) positions() []int {
	var out []int
	seen := map[int]bool{}
	add := func(i int) {
		if i >= 0 && !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, i := range c.idx {
		add(i)
	}
	for _, m := range c.meta {
		add(m.idx)
	}
	return out
}

// columnSelector is a Source that reads only the columns it is told to.
type columnSelector interface {
	useColumns(positions []int) error
}

// selectColumns tells src which columns cols reads, if it cares.
func selectColumns(src Source, cols *columns) error {
	if cs, ok := src.(columnSelector); ok {
		return cs.useColumns(cols.positions())
	}
	return nil
}
