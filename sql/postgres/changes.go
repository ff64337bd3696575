package postgres

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Change tracking (007_write_sequence.sql): every transaction that writes
// tokens, token_events or customers stamps the rows it inserts or changes
// with one number of a sequence (written_seq), and a reconcile's watermark
// is a number of the same sequence, taken once every writer open at that
// instant has ended. Rows at or past an account's watermark are what the
// next incremental reconcile reads. The numbers come from the coordinator
// on Citus, where transaction ids would mean nothing across nodes.

// writeSeq returns the number a writing transaction stamps on every row it
// inserts or changes. The transaction holds the shared write lock from
// here to its end.
func writeSeq(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var seq int64
	if err := tx.GetContext(ctx, &seq, `SELECT tokenevents_internal.next_write_seq()`); err != nil {
		return 0, fmt.Errorf("write sequence: %w", err)
	}
	return seq, nil
}

// writeMark returns a watermark for a reconcile: every row with written_seq
// below it was committed before, and every later write gets a larger
// number. It waits for the writers running now (a merge of one partition
// each) to end.
func (d *DB) writeMark(ctx context.Context) (int64, error) {
	var mark int64
	err := d.retry.Do(ctx, d.log, "watermark", func() error {
		return d.inTx(ctx, func(tx *sqlx.Tx) error {
			return tx.GetContext(ctx, &mark, `SELECT tokenevents_internal.write_mark()`)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("watermark: %w", err)
	}
	return mark, nil
}
