package postgres

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lib/pq"

	"github.com/tokenevents/tokenevents"
)

// copyChunk is about how many bytes of rows go to CopyData at a time.
const copyChunk = 256 << 10

// copyConn is what the staging write needs of lib/pq's connection: a
// transaction, a COPY statement that takes raw rows, and plain statements.
type copyConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
}

// copyData is lib/pq's COPY statement: CopyData sends rows already in COPY
// text format, which spares a driver.Value conversion and re-encoding of
// every field of every row.
type copyData interface {
	CopyData(ctx context.Context, rows string) (driver.Result, error)
}

// stageRaw writes one batch on a raw lib/pq connection: BEGIN, COPY of the
// rows (rows: the batch's events as encodeCopyRows wrote it; others: its
// customers and links), the ledger marks, COMMIT.
func stageRaw(ctx context.Context, dc any, b *tokenevents.Batch, rows, others []byte, split int) (err error) {
	c, ok := dc.(copyConn)
	if !ok {
		return fmt.Errorf("driver %T cannot COPY", dc)
	}
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	if len(b.Events) > 0 {
		if err = copyRows(ctx, c, copyStage, rows); err != nil {
			return err
		}
	}
	if len(b.Customers) > 0 {
		if err = copyRows(ctx, c, copyStageCustomers, others[:split]); err != nil {
			return err
		}
	}
	if len(b.Links) > 0 {
		if err = copyRows(ctx, c, copyStageLinks, others[split:]); err != nil {
			return err
		}
	}
	parts := make([]int64, len(b.Marks))
	upto := make([]int64, len(b.Marks))
	counts := make([]int64, len(b.Marks))
	links := make([]int64, len(b.Marks))
	customers := make([]int64, len(b.Marks))
	for i, m := range b.Marks {
		parts[i], upto[i], counts[i], links[i], customers[i] = int64(m.Partition), m.UptoRow, m.Events, m.Links, m.Customers
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: b.SourceID}}
	for i, a := range []any{pq.Array(parts), pq.Array(upto), pq.Array(counts), pq.Array(links), pq.Array(customers)} {
		v, err := a.(driver.Valuer).Value()
		if err != nil {
			return err
		}
		args = append(args, driver.NamedValue{Ordinal: i + 2, Value: v})
	}
	if _, err = c.ExecContext(ctx, query("stage_mark"), args); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return tx.Commit()
}

// copyRows runs one COPY statement with rows already in COPY text format,
// in pieces of about copyChunk bytes cut at line ends (CopyData adds the
// newline of each piece's last line), so that no copy of the whole batch
// is made.
func copyRows(ctx context.Context, c copyConn, stmt string, rows []byte) error {
	st, err := c.PrepareContext(ctx, stmt)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	cd, ok := st.(copyData)
	if !ok {
		return errors.Join(fmt.Errorf("driver statement %T cannot take COPY rows", st), st.Close())
	}
	for len(rows) > 0 { // rows ends with a newline: the encoders end every line
		end := len(rows)
		if end > copyChunk {
			end = copyChunk + bytes.IndexByte(rows[copyChunk:], '\n') + 1
		}
		if _, err = cd.CopyData(ctx, string(rows[:end-1])); err != nil {
			return errors.Join(fmt.Errorf("copy: %w", err), st.Close())
		}
		rows = rows[end:]
	}
	if _, err = st.Exec(nil); err != nil { //nolint:staticcheck // lib/pq ends COPY with Exec(nil)
		return errors.Join(fmt.Errorf("copy: %w", err), st.Close())
	}
	if err = st.Close(); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// encodeCopyRows appends the batch in COPY text format, one line per event,
// in copyStage's column order.
func encodeCopyRows(buf []byte, b *tokenevents.Batch) []byte {
	for i := range b.Events {
		e := &b.Events[i]
		buf = strconv.AppendInt(buf, b.SourceID, 10)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, int64(e.Partition), 10)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, e.Seq, 10)
		buf = append(buf, '\t')
		buf = tokenevents.AppendUUID(buf, &e.TokenID)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, e.AccountID)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, e.TokenType)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, e.TokenValue)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, e.Event.Event)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, unixMicro(e.CreatedAt), 10)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, e.Status)
		buf = append(buf, '\t')
		if !e.ExpiresAt.Valid {
			buf = append(buf, `\N`...)
		} else {
			buf = strconv.AppendInt(buf, unixMicro(e.ExpiresAt.Time), 10)
		}
		buf = append(buf, '\t')
		buf = appendCopyText(buf, string(e.Metadata))
		buf = append(buf, '\n')
	}
	return buf
}

const (
	copyStageCustomers = `COPY tokenevents_internal.import_stage_customers (source_id, partition, seq, account_id, customer_id, status,
		status_set, deleted_us, deleted_set, metadata, updated_us) FROM STDIN`
	copyStageLinks = `COPY tokenevents_internal.import_stage_links (source_id, partition, seq, token_id, account_id, token_type,
		token_value, customer_id, updated_us) FROM STDIN`
)

// encodeOthers appends the batch's customers, then its links, in COPY text
// format; split is where the links start.
func encodeOthers(buf []byte, b *tokenevents.Batch) (out []byte, split int) {
	for i := range b.Customers {
		c := &b.Customers[i]
		buf = appendCopyInts(buf, b.SourceID, int64(c.Partition), c.Seq)
		buf = appendCopyText(buf, c.AccountID)
		buf = append(buf, '\t')
		buf = appendCopyText(buf, c.CustomerID)
		buf = append(buf, '\t')
		if c.StatusSet && c.Status != "" {
			buf = appendCopyText(buf, c.Status)
		} else {
			buf = append(buf, `\N`...)
		}
		buf = append(buf, '\t')
		buf = strconv.AppendBool(buf, c.StatusSet)
		buf = append(buf, '\t')
		if c.DeletedSet && c.DeletedAt.Valid {
			buf = strconv.AppendInt(buf, unixMicro(c.DeletedAt.Time), 10)
		} else {
			buf = append(buf, `\N`...)
		}
		buf = append(buf, '\t')
		buf = strconv.AppendBool(buf, c.DeletedSet)
		buf = append(buf, '\t')
		if c.MetadataSet {
			buf = appendCopyText(buf, string(c.Metadata))
		} else {
			buf = append(buf, `\N`...)
		}
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, unixMicro(c.UpdatedAt), 10)
		buf = append(buf, '\n')
	}
	split = len(buf)
	for i := range b.Links {
		l := &b.Links[i]
		buf = appendCopyInts(buf, b.SourceID, int64(l.Partition), l.Seq)
		buf = tokenevents.AppendUUID(buf, &l.TokenID)
		for _, s := range []string{l.AccountID, l.TokenType, l.TokenValue, l.CustomerID} {
			buf = append(buf, '\t')
			buf = appendCopyText(buf, s)
		}
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, unixMicro(l.UpdatedAt), 10)
		buf = append(buf, '\n')
	}
	return buf, split
}

// appendCopyInts appends integers, each followed by a tab.
func appendCopyInts(buf []byte, vs ...int64) []byte {
	for _, v := range vs {
		buf = strconv.AppendInt(buf, v, 10)
		buf = append(buf, '\t')
	}
	return buf
}

// unixMicro is t in microseconds since the Unix epoch. Staged instants
// passed tokenevents.StorableTime: they are whole microseconds already.
func unixMicro(t time.Time) int64 { return t.UnixMicro() }

// appendCopyText escapes a value for COPY's text format: backslash, tab,
// newline and carriage return.
func appendCopyText(buf []byte, s string) []byte {
	// Most values need no escape: append them whole.
	i := 0
	for i < len(s) && s[i] != '\\' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
		i++
	}
	buf = append(buf, s[:i]...)
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, c)
		}
	}
	return buf
}
