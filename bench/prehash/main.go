// Command prehash turns an export into the anchor's input: one row per
// event, already normalised and hashed, as CSV for psql \copy — what a user
// doing it by hand would produce with a script. It runs the importer's own
// reader and normalisers against a store that writes CSV instead of a
// database, so both sides of the benchmark see exactly the same events.
//
//	prehash EXPORT.csv > events.csv
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: prehash EXPORT > events.csv")
		return 2
	}
	bw := bufio.NewWriterSize(stdout, 1<<20)
	store := &csvStore{w: csv.NewWriter(bw)}
	im, err := pipeline.NewImporter(pipeline.Options{RejectsPath: os.DevNull, MaxRejects: pipeline.RejectLimit{Count: -1, Percent: 100}, Force: true}, stdin)
	if err == nil {
		var files []pipeline.PreparedFile
		if files, err = im.Preflight(ctx, args); err == nil {
			_, err = im.Run(ctx, store, files)
		}
	}
	store.w.Flush()
	if err == nil {
		err = store.w.Error()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "prehash: %v\n", err)
		return 1
	}
	return 0
}

// csvStore is an ImportStore that writes staged events as CSV rows:
// account_id, token_type, token_value, event, created_at, status,
// expires_at, metadata, seq.
type csvStore struct {
	mu  sync.Mutex
	w   *csv.Writer
	row [9]string
}

func (s *csvStore) StartImport(context.Context, []byte) (int64, error)                   { return 1, nil }
func (s *csvStore) SourceDone(context.Context, string, string) (bool, error)             { return false, nil }
func (s *csvStore) StagingDone(context.Context, int64) error                             { return nil }
func (s *csvStore) FinishImport(context.Context, int64, string, []byte, time.Time) error { return nil }
func (s *csvStore) FinishFile(context.Context, int64, int64, tokenevents.ImportFile, bool) error {
	return nil
}

func (s *csvStore) OpenSource(_ context.Context, _ int64, _ string, partitions int) (tokenevents.SourceState, error) {
	st := tokenevents.SourceState{ID: 1, StagedUpto: make([]int64, partitions), Merged: make([]bool, partitions)}
	for i := range st.StagedUpto {
		st.StagedUpto[i] = -1
		st.Merged[i] = true // nothing to merge: the anchor does that
	}
	return st, nil
}

func (s *csvStore) MergePartition(context.Context, int64, int64, int) (tokenevents.MergeCounts, error) {
	return tokenevents.MergeCounts{}, nil
}

func (s *csvStore) StageBatch(_ context.Context, b *tokenevents.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range b.Events {
		expires := ""
		if e.ExpiresAt.Valid {
			expires = e.ExpiresAt.Time.UTC().Format(time.RFC3339Nano)
		}
		s.row = [9]string{e.AccountID, e.TokenType, e.TokenValue, e.Event.Event, e.CreatedAt.UTC().Format(time.RFC3339Nano),
			e.Status, expires, string(e.Metadata), strconv.FormatInt(e.Seq, 10)}
		if err := s.w.Write(s.row[:]); err != nil {
			return err
		}
	}
	return nil
}
