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
// rows (rows: the batch as encodeCopyRows wrote it), the ledger marks, COMMIT.
func stageRaw(ctx context.Context, dc any, b *tokenevents.Batch, rows []byte) (err error) {
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
	st, err := c.PrepareContext(ctx, copyStage)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	cd, ok := st.(copyData)
	if !ok {
		return errors.Join(fmt.Errorf("driver statement %T cannot take COPY rows", st), st.Close())
	}
	// Rows go in pieces of about copyChunk bytes, cut at line ends (CopyData
	// adds the newline of each piece's last line), so that no copy of the
	// whole batch is made.
	for len(rows) > 0 { // rows ends with a newline: encodeCopyRows ends every line
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
	parts := make([]int64, len(b.Marks))
	upto := make([]int64, len(b.Marks))
	counts := make([]int64, len(b.Marks))
	for i, m := range b.Marks {
		parts[i], upto[i], counts[i] = int64(m.Partition), m.UptoRow, m.Events
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: b.SourceID}}
	for i, a := range []any{pq.Array(parts), pq.Array(upto), pq.Array(counts)} {
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
