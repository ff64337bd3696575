package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/hashing"
)

// customerID checks a customer id (SPEC §7): 1 to 128 bytes of printable
// UTF-8 once trimmed. A bad one is listed in the rejects.
func (t *transformer) customerID(c *rowCheck, id string) bool {
	return c.text(fCustomerID, id, tokenevents.MaxCustomerIDBytes, false)
}

// transformCustomer processes one row of a customers file: it upserts
// the customer and links each of its valid identifiers. A row without a
// customer id, or with a bad status, deleted_at or updated_at, is rejected
// whole; a bad identifier beside the customer is listed and the rest goes
// on. Names and other personal columns are never read.
func (t *transformer) transformCustomer(res *chunkResult, rec *Record) {
	if !t.readable(res, rec) {
		return
	}
	c := rowCheck{t: t, res: res, rec: rec}
	cu := tokenevents.StagedCustomer{AccountID: c.account(), Row: rec.Row, Seq: rec.Row, UpdatedAt: t.opts.RunStart}
	id := t.cell(rec, fCustomerID)
	if id == "" {
		c.fail(fCustomerID, "customer_id is empty", "")
	} else {
		t.customerID(&c, id)
	}
	if i := t.cols.idx[fStatus]; i >= 0 {
		cu.StatusSet = true
		cu.Status = t.intern(t.cell(rec, fStatus))
		if cu.Status != "" && (len(cu.Status) > tokenevents.MaxStatusBytes || !tokenevents.ValidStatus(cu.Status)) {
			c.fail(fStatus, fmt.Sprintf("status must match ^[A-Z][A-Z0-9_]*$ and be at most %d bytes", tokenevents.MaxStatusBytes), cu.Status)
		}
	}
	if i := t.cols.idx[fDeletedAt]; i >= 0 {
		cu.DeletedSet = true
		if s := t.cell(rec, fDeletedAt); s != "" {
			cu.DeletedAt.Time, cu.DeletedAt.Valid = c.timestamp(fDeletedAt, s)
		}
	}
	if s := t.cell(rec, fUpdatedAt); s != "" {
		var ok bool
		if cu.UpdatedAt, ok = c.timestamp(fUpdatedAt, s); !ok {
			cu.UpdatedAt = time.Time{}
		}
	}
	toks, n, badIDs := t.identifiers(res, rec)
	meta, mok := t.metadata(&c)
	if c.bad || !mok {
		res.rowsRejected++
		return
	}
	res.fieldsRejected += int64(badIDs)
	// A copy, not a slice of the record (ids are mostly unique: not interned).
	cu.CustomerID = strings.Clone(id)
	if len(t.cols.meta) > 0 {
		cu.Metadata, cu.MetadataSet = meta, true
	}
	cu.Partition = customerPartition(cu.AccountID, id)
	res.customers = append(res.customers, cu)
	t.link(res, rec, cu.AccountID, cu.CustomerID, cu.UpdatedAt, toks[:n], true)
}

// link links tokens to a customer (customerID a string of its own, not a
// slice of the record); withCustomer: the row's customer is already staged
// (a customers file), else it is staged here with nothing set, to be
// created if new (an events file's customer_id).
func (t *transformer) link(res *chunkResult, rec *Record, account, customerID string, at time.Time, toks []token, withCustomer bool) {
	if !withCustomer {
		res.customers = append(res.customers, tokenevents.StagedCustomer{AccountID: account, CustomerID: customerID,
			UpdatedAt: at, Partition: customerPartition(account, customerID), Row: rec.Row, Seq: rec.Row})
	}
	for _, tk := range toks {
		l := tokenevents.StagedLink{AccountID: account, TokenType: tk.typ, TokenValue: tk.value, CustomerID: customerID,
			UpdatedAt: at, Partition: partitionOf(tk.value), Row: rec.Row, Seq: rec.Row}
		_, _ = t.rng.Read(l.TokenID[:])
		l.TokenID[6] = l.TokenID[6]&0x0f | 0x40 // version 4
		l.TokenID[8] = l.TokenID[8]&0x3f | 0x80 // RFC 4122 variant
		res.links = append(res.links, l)
	}
}

// customerPartition routes a customer's rows, all to one partition. Ids
// that differ only in their last three characters — a block of up to a
// thousand consecutive ids, as loyalty systems number their customers — go
// to the same partition, so that a partition's customers lie together in
// customers_pkey instead of all over it: each partition's merge then
// touches its own part of the index, which counts once the index outgrows
// the server's cache. Ids without such structure are spread by the hash as
// any others. Changing this rule changes where staged customers are, so
// it is part of a customers file's options digest (customerRoutingVersion).
func customerPartition(account, id string) int {
	return partitionOf(hashing.SHA1Hex(account + "/" + id[:max(0, len(id)-3)]))
}
