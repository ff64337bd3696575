package pipeline

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
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
	seq            int64
	rows           int64
	lastRow        int64
	rowsRejected   int64
	fieldsRejected int64
	events         []routedEvent
	rejects        []Reject
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
	return &transformer{rng: rand.NewChaCha8(seed), file: file, cols: cols, opts: o, phones: p}, nil
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
	if !utf8.ValidString(value) {
		value = "(not valid UTF-8)"
	}
	if len(value) > 200 {
		value = value[:200]
	}
	res.rejects = append(res.rejects, Reject{File: t.file, Line: rec.Line, Column: t.cols.name(col), Reason: reason, Value: value})
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

// transform processes one record. A row-level problem rejects the whole row;
// a bad identifier next to a good one is reported and the row goes on.
func (t *transformer) transform(res *chunkResult, rec *Record) {
	res.rows++
	res.lastRow = rec.Row
	if rec.Err != nil {
		t.reject(res, rec, -1, -1, "malformed row: "+rec.Err.Error(), "")
		res.rowsRejected++
		return
	}
	if len(rec.Fields) != t.cols.distinct {
		t.reject(res, rec, -1, -1, fmt.Sprintf("row has %d fields, the header has %d", len(rec.Fields), t.cols.distinct), "")
		res.rowsRejected++
		return
	}
	bad := false
	rowErr := func(f field, reason, value string) {
		t.reject(res, rec, f, t.cols.idx[f], reason, value)
		bad = true
	}

	account := t.cell(rec, fAccount)
	if account == "" {
		account = t.opts.Account
	}
	if !tokenevents.ValidAccountID(account) {
		rowErr(fAccount, "account_id must match ^[PT][0-9]{8}$", account)
	}
	event := t.cell(rec, fEvent)
	if event == "" {
		event = t.opts.Event
	}
	if event == "" {
		rowErr(fEvent, "event is empty", "")
	} else if !utf8.ValidString(event) {
		rowErr(fEvent, hashing.ErrInvalidUTF8.Error(), event)
	}
	status := t.cell(rec, fStatus)
	if status == "" {
		status = t.opts.Status
	}
	if !tokenevents.ValidStatus(status) {
		rowErr(fStatus, "status must match ^[A-Z][A-Z0-9_]*$", status)
	}
	var created time.Time
	if s := t.cell(rec, fCreatedAt); s != "" {
		var err error
		if created, err = parseTime(s, t.opts.Location); err != nil {
			rowErr(fCreatedAt, "created_at: "+err.Error(), s)
		}
	} else if !t.opts.CreatedAt.IsZero() {
		created = t.opts.CreatedAt
	} else {
		rowErr(fCreatedAt, "created_at is empty", "")
	}
	var expires time.Time
	if s := t.cell(rec, fExpiresAt); s != "" {
		var err error
		if expires, err = parseTime(s, t.opts.Location); err != nil {
			rowErr(fExpiresAt, "expires_at: "+err.Error(), s)
		}
	} else if t.opts.ExpiresAfter > 0 && !created.IsZero() {
		expires = created.Add(t.opts.ExpiresAfter)
	}

	var toks [3]token
	n, badIDs := 0, 0
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
		case err1 != nil:
			t.reject(res, rec, fTokenType, t.cols.idx[fTokenType], "token_type: "+err1.Error(), tt)
			badIDs++
		case err2 != nil:
			t.reject(res, rec, fTokenValue, t.cols.idx[fTokenValue], "token_value: "+err2.Error(), tv)
			badIDs++
		default:
			toks[n] = token{typ, val}
			n++
		}
	}
	if n == 0 {
		if badIDs == 0 {
			t.reject(res, rec, -1, -1, "no identifier: email, phone_number and token_value are all empty", "")
		}
		bad = true
	}
	if bad {
		res.rowsRejected++
		return
	}
	res.fieldsRejected += int64(badIDs)

	t.meta = t.meta[:0]
	if s := t.cell(rec, fStoreID); s != "" {
		t.meta = append(t.meta, metaPair{"store_id", s})
	}
	for _, m := range t.cols.meta {
		if m.idx < len(rec.Fields) {
			if s := hashing.Trim(rec.Fields[m.idx]); s != "" {
				t.meta = append(t.meta, metaPair{m.key, s})
			}
		}
	}
	t.buf = encodeMetadata(t.buf[:0], t.meta)
	metadata := append([]byte(nil), t.buf...)
	for _, tk := range toks[:n] {
		ev := routedEvent{
			StagedEvent: tokenevents.StagedEvent{
				Event: tokenevents.Event{
					AccountID: account, TokenType: tk.typ, TokenValue: tk.value, Event: event,
					Status: status, CreatedAt: created, ExpiresAt: expires, Metadata: metadata,
				},
				Partition: partitionOf(tk.value),
				Row:       rec.Row,
			},
			line: rec.Line,
			size: 96 + len(account) + len(tk.typ) + len(tk.value) + len(event) + len(status) + len(metadata),
		}
		_, _ = t.rng.Read(ev.TokenID[:])
		ev.TokenID[6] = ev.TokenID[6]&0x0f | 0x40 // version 4
		ev.TokenID[8] = ev.TokenID[8]&0x3f | 0x80 // RFC 4122 variant
		res.events = append(res.events, ev)
	}
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
