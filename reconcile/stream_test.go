package reconcile

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tokenevents/tokenevents"
)

func TestStream(t *testing.T) {
	errWrite, errScan := errors.New("disk full"), errors.New("connection lost")
	tests := []struct {
		name      string
		rows      int
		failWrite int // the row whose write fails; -1 none
		failScan  int // the row after which the scan fails; -1 none
		want      error
	}{
		{"no rows", 0, -1, -1, nil},
		{"one row", 1, -1, -1, nil},
		{"one short of a batch", streamBatchRows - 1, -1, -1, nil},
		{"a batch", streamBatchRows, -1, -1, nil},
		{"many batches and a part", 7*streamBatchRows + 3, -1, -1, nil},
		{"a write fails", 5 * streamBatchRows, 1000, -1, errWrite},
		{"the scan fails", 5 * streamBatchRows, -1, 1500, errScan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			write := func(c tokenevents.Change) error {
				if len(got) == tc.failWrite {
					return errWrite
				}
				got = append(got, c.TokenValue)
				return nil
			}
			scanned := 0
			scan := func(fn func(tokenevents.Change) error) error {
				for i := range tc.rows {
					if i == tc.failScan {
						return errScan
					}
					if err := fn(tokenevents.Change{TokenValue: fmt.Sprint(i)}); err != nil {
						return fmt.Errorf("report: %w", err)
					}
					scanned++
				}
				return nil
			}
			err := Stream(context.Background(), write, scan)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				// The failing side stopped the other within the batches in flight.
				if tc.failWrite >= 0 && scanned > tc.failWrite+4*streamBatchRows {
					t.Errorf("the scan went on to row %d after the write of row %d failed", scanned, tc.failWrite)
				}
				return
			}
			if len(got) != tc.rows {
				t.Fatalf("wrote %d rows, want %d", len(got), tc.rows)
			}
			for i, v := range got {
				if v != fmt.Sprint(i) {
					t.Fatalf("row %d is %s: out of order", i, v)
				}
			}
		})
	}
}

// TestStreamStopsOnCancel: a cancelled context ends a scan that is waiting
// for the writer.
func TestStreamStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	block := make(chan struct{})
	write := func(tokenevents.Change) error { <-block; return nil }
	scan := func(fn func(tokenevents.Change) error) error {
		for i := 0; ; i++ {
			if i == 10*streamBatchRows {
				cancel()
			}
			if err := fn(tokenevents.Change{}); err != nil {
				return err
			}
		}
	}
	done := make(chan error)
	go func() { done <- Stream(ctx, write, scan) }()
	close(block) // the writer goes on; the scan must still stop
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
