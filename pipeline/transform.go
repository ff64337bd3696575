package pipeline

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/hashing"
)

// Reject is one line of the rejects file. Value is already redacted unless
// the run asked for raw values.
type Reject struct {
	File   string
	Line   int64
	Column string
	Reason string
	Value  string
}

// routedEvent is an event with what routing and batching need.
type routedEvent struct {
	tokenevents.StagedEvent
	line int64 // input line, for errors
	size int   // approximate bytes, for batch caps
}

// chunkResult is what a worker makes of a chunk of records.
type chunkResult struct {
	seq              int64
	rows             int64
	lastRow          int64
	rowsRejected     int64
	fieldsRejected   int64
	expiredOnArrival int64
	events           []routedEvent
	customers        []tokenevents.StagedCustomer
	links            []tokenevents.StagedLink
	rejects          []Reject
}

// transformer turns records into events. One per worker: it holds scratch
// buffers and is not safe for concurrent use.
type transformer struct {
	rng    *rand.ChaCha8 // token ids: a cryptographically strong stream, seeded once
	file   string
	cols   *columns
	opts   *Options
	phones *hashing.Phones
	meta   []metaPair
	buf    []byte
	// interned copies of short values (accounts, statuses, event texts):
	// an event must not keep its record's text alive, and most files
	// repeat a handful of these values on every row.
	interned map[string]string
}

func newTransformer(file string, cols *columns, o *Options) (*transformer, error) {
	p, err := hashing.NewPhones(o.Region)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, err
	}
	return &transformer{rng: rand.NewChaCha8(seed), file: file, cols: cols, opts: o, phones: p,
		interned: make(map[string]string)}, nil
}

// intern returns a copy of s that shares nothing with the record.
func (t *transformer) intern(s string) string {
	if v, ok := t.interned[s]; ok {
		return v
	}
	if len(t.interned) >= 4096 {
		clear(t.interned)
	}
	v := strings.Clone(s)
	t.interned[v] = v
	return v
}

// cell returns the trimmed value of field f, "" when absent.
func (t *transformer) cell(rec *Record, f field) string {
	i := t.cols.idx[f]
	if i < 0 || i >= len(rec.Fields) {
		return ""
	}
	return hashing.Trim(rec.Fields[i])
}

// reject records a problem with a row. Identifier values are redacted
// unless --rejects-raw; other values are shown as they are, but anything
// that looks like an e-mail address is redacted too, in case columns were
// shifted.
func (t *transformer) reject(res *chunkResult, rec *Record, f field, col int, reason string, value string) {
	if !t.opts.RejectsRaw {
		switch {
		case f == fEmail:
			value = hashing.RedactEmail(value)
		case f == fPhone:
			value = hashing.RedactPhone(value)
		case containsAt(value):
			value = hashing.RedactEmail(value)
		}
	}
	if len(value) > 200 {
		value = value[:200]
		for i := 0; i < 3 && len(value) > 0 && !utf8.ValidString(value); i++ { // do not cut a character in two
			value = value[:len(value)-1]
		}
	}
	if tokenevents.TextProblem(value, true) != "" {
		// Control characters and bytes that are not UTF-8 are shown
		// escaped (Go syntax), so the rejects file stays plain text.
		value = strconv.Quote(value)
	}
	res.rejects = append(res.rejects, Reject{File: t.file, Line: rec.Line, Column: t.cols.name(col),
		Reason: reason, Value: strings.Clone(value)})
}

func containsAt(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '@' {
			return true
		}
	}
	return false
}

// token is one identifier found in a row.
type token struct {
	typ, value string
}

// rowCheck collects a row's problems: each is a reject line, and one of
// them rejects the row whole.
type rowCheck struct {
	t   *transformer
	res *chunkResult
	rec *Record
	bad bool
}

func (c *rowCheck) fail(f field, reason, value string) {
	c.t.reject(c.res, c.rec, f, c.t.cols.idx[f], reason, value)
	c.bad = true
}

// text checks a free-text or identifier-like value against its byte limit
// and the text rule; it reports whether the value passed.
func (c *rowCheck) text(f field, v string, limit int, allowTab bool) bool {
	if len(v) > limit {
		c.fail(f, fmt.Sprintf("%s is longer than %d bytes (%d)", f, limit, len(v)), v)
		return false
	}
	if p := tokenevents.TextProblem(v, allowTab); p != "" {
		c.fail(f, f.String()+" "+p, v)
		return false
	}
	return true
}

// timestamp reads field f: parsed in --timezone unless it has an offset,
// rounded to the microsecond and within the storable range.
func (c *rowCheck) timestamp(f field, s string) (time.Time, bool) {
	v, err := parseTime(s, c.t.opts.Location)
	if err == nil {
		v, err = tokenevents.StorableTime(v)
	}
	if err != nil {
		c.fail(f, f.String()+": "+err.Error(), s)
		return time.Time{}, false
	}
	return v, true
}

// readable counts a record as read and rejects it if it could not be
// read; it reports whether the record goes on to be transformed.
func (t *transformer) readable(res *chunkResult, rec *Record) bool {
	res.rows++
	res.lastRow = rec.Row
	if rec.Err != nil {
		t.reject(res, rec, -1, rec.ErrField, rec.Err.Error(), "")
		res.rowsRejected++
		return false
	}
	return true
}

// transform processes one record. A row-level problem rejects the whole row;
// a bad identifier next to a good one is reported and the row goes on.
func (t *transformer) transform(res *chunkResult, rec *Record) {
	if !t.readable(res, rec) {
		return
	}
	c := rowCheck{t: t, res: res, rec: rec}
	ev, ok := t.eventFields(&c)
	toks, n, badIDs := t.identifiers(res, rec)
	if n == 0 {
		if badIDs == 0 {
			t.reject(res, rec, -1, -1, "no identifier: email, phone_number and token_value are all empty", "")
		}
		c.bad = true
	}
	metadata, mok := t.metadata(&c)
	if c.bad || !ok || !mok {
		res.rowsRejected++
		return
	}
	res.fieldsRejected += int64(badIDs)
	ev.Metadata = metadata
	if id := t.cell(rec, fCustomerID); id != "" {
		// An events file's customer_id links the row's tokens to that
		// customer, as a customers row without status would.
		if t.customerID(&c, id) {
			t.link(res, rec, ev.AccountID, t.intern(id), t.opts.RunStart, toks[:n], false)
		} else {
			res.fieldsRejected++
		}
	}
	for _, tk := range toks[:n] {
		e := ev
		e.TokenType, e.TokenValue = tk.typ, tk.value
		if e.ExpiresAt.Valid && !e.ExpiresAt.Time.After(e.CreatedAt) {
			res.expiredOnArrival++
		}
		re := routedEvent{
			StagedEvent: tokenevents.StagedEvent{Event: e, Partition: partitionOf(tk.value), Row: rec.Row},
			line:        rec.Line,
			size:        96 + len(e.AccountID) + len(tk.typ) + len(tk.value) + len(e.Event) + len(e.Status) + len(metadata),
		}
		_, _ = t.rng.Read(re.TokenID[:])
		re.TokenID[6] = re.TokenID[6]&0x0f | 0x40 // version 4
		re.TokenID[8] = re.TokenID[8]&0x3f | 0x80 // RFC 4122 variant
		res.events = append(res.events, re)
	}
}

// eventFields reads and checks what every event of the row shares:
// account, event text, status and the two instants.
func (t *transformer) eventFields(c *rowCheck) (tokenevents.Event, bool) {
	var e tokenevents.Event
	rec := c.rec
	account := c.account()
	event := t.cell(rec, fEvent)
	if event == "" {
		event = t.opts.Event
	}
	if event == "" {
		c.fail(fEvent, "event is empty", "")
	} else {
		c.text(fEvent, event, tokenevents.MaxEventBytes, true)
	}
	status := t.cell(rec, fStatus)
	if status == "" {
		status = t.opts.Status
	}
	if len(status) > tokenevents.MaxStatusBytes {
		c.fail(fStatus, fmt.Sprintf("status is longer than %d bytes (%d)", tokenevents.MaxStatusBytes, len(status)), status)
	} else if !tokenevents.ValidStatus(status) {
		c.fail(fStatus, "status must match ^[A-Z][A-Z0-9_]*$", status)
	}
	createdOK := true
	if s := t.cell(rec, fCreatedAt); s != "" {
		e.CreatedAt, createdOK = c.timestamp(fCreatedAt, s)
	} else if t.opts.CreatedAt.Valid {
		e.CreatedAt = t.opts.CreatedAt.Time
	} else {
		c.fail(fCreatedAt, "created_at is empty", "")
		createdOK = false
	}
	if s := t.cell(rec, fExpiresAt); s != "" {
		e.ExpiresAt.Time, e.ExpiresAt.Valid = c.timestamp(fExpiresAt, s)
	} else if t.opts.ExpiresAfter > 0 && createdOK {
		var err error
		if e.ExpiresAt.Time, err = tokenevents.StorableTime(e.CreatedAt.Add(t.opts.ExpiresAfter)); err != nil {
			c.fail(fCreatedAt, "created_at + --expires-after: "+err.Error(), "")
		}
		e.ExpiresAt.Valid = err == nil
	}
	if c.bad {
		return e, false
	}
	e.AccountID, e.Event, e.Status = account, t.intern(event), t.intern(status)
	return e, true
}

// account reads and checks the row's account (or --account), interned.
func (c *rowCheck) account() string {
	account := c.t.cell(c.rec, fAccount)
	if account == "" {
		account = c.t.opts.Account
	}
	if !tokenevents.ValidAccountID(account) {
		c.fail(fAccount, "account_id must match ^[PT][0-9]{8}$", account)
		return ""
	}
	return c.t.intern(account)
}

// identifiers hashes the row's e-mail, phone number and pre-hashed token.
// A bad one is listed in the rejects and counted in badIDs.
func (t *transformer) identifiers(res *chunkResult, rec *Record) (toks [3]token, n, badIDs int) {
	if s := t.cell(rec, fEmail); s != "" {
		if v, err := hashing.HashEmail(s); err != nil {
			t.reject(res, rec, fEmail, t.cols.idx[fEmail], "email: "+err.Error(), s)
			badIDs++
		} else {
			toks[n] = token{tokenevents.TokenTypeEmail, v}
			n++
		}
	}
	if s := t.cell(rec, fPhone); s != "" {
		if v, err := t.phones.Hash(s); err != nil {
			t.reject(res, rec, fPhone, t.cols.idx[fPhone], "phone_number: "+err.Error(), s)
			badIDs++
		} else {
			toks[n] = token{tokenevents.TokenTypePhone, v}
			n++
		}
	}
	if tt, tv := t.cell(rec, fTokenType), t.cell(rec, fTokenValue); tt != "" || tv != "" {
		typ, err1 := hashing.NormalizeTokenType(tt)
		val, err2 := hashing.NormalizeTokenValue(tv)
		switch {
		case len(tt) > tokenevents.MaxTokenTypeBytes:
			t.reject(res, rec, fTokenType, t.cols.idx[fTokenType],
				fmt.Sprintf("token_type is longer than %d bytes (%d)", tokenevents.MaxTokenTypeBytes, len(tt)), tt)
			badIDs++
		case err1 != nil:
			t.reject(res, rec, fTokenType, t.cols.idx[fTokenType], "token_type: "+err1.Error(), tt)
			badIDs++
		case err2 != nil:
			t.reject(res, rec, fTokenValue, t.cols.idx[fTokenValue], "token_value: "+err2.Error(), tv)
			badIDs++
		default:
			toks[n] = token{t.intern(typ), val}
			n++
		}
	}
	return toks, n, badIDs
}

// metadata builds the row's metadata object from store_id and the
// --metadata columns, each value and the whole object within its limit.
func (t *transformer) metadata(c *rowCheck) ([]byte, bool) {
	ok := true
	t.meta = t.meta[:0]
	if s := t.cell(c.rec, fStoreID); s != "" {
		if c.text(fStoreID, s, tokenevents.MaxMetadataValueBytes, true) {
			t.meta = append(t.meta, metaPair{"store_id", s})
		} else {
			ok = false
		}
	}
	for _, m := range t.cols.meta {
		s := hashing.Trim(c.rec.Fields[m.idx])
		if s == "" {
			continue
		}
		if len(s) > tokenevents.MaxMetadataValueBytes {
			t.reject(c.res, c.rec, -1, m.idx, fmt.Sprintf("metadata value is longer than %d bytes (%d)",
				tokenevents.MaxMetadataValueBytes, len(s)), s)
			ok = false
		} else if p := tokenevents.TextProblem(s, true); p != "" {
			t.reject(c.res, c.rec, -1, m.idx, "metadata value "+p, s)
			ok = false
		} else {
			t.meta = append(t.meta, metaPair{m.key, s})
		}
	}
	if !ok || c.bad {
		return nil, false
	}
	t.buf = encodeMetadata(t.buf[:0], t.meta)
	if len(t.buf) > tokenevents.MaxMetadataBytes {
		t.reject(c.res, c.rec, -1, -1, fmt.Sprintf("metadata is longer than %d bytes (%d)", tokenevents.MaxMetadataBytes, len(t.buf)), "")
		return nil, false
	}
	return append([]byte(nil), t.buf...), true
}

// partitionOf maps a hex token value to a partition: a contiguous range of
// values, so that merging one partition visits one region of each index.
// SHA-1 values are uniform, so the partitions are even.
func partitionOf(hexValue string) int {
	if len(hexValue) < 2 {
		return 0
	}
	return int(tokenevents.HexNibble(hexValue[0])<<4|tokenevents.HexNibble(hexValue[1])) * Partitions / 256
}
