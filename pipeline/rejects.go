package pipeline

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// rejectsFile writes the rejects CSV, creating it (mode 0600: it may hold raw
// identifiers with --rejects-raw) only when the first reject arrives.
type rejectsFile struct {
	path string
	f    *os.File
	w    *csv.Writer
	n    int64
	// spent is the time write and close took: the one goroutine that sees
	// results in order writes them, so it is what rejects cost the import
	// beyond finding them (logged at debug level).
	spent time.Duration
}

func (r *rejectsFile) write(rs []Reject) error {
	if len(rs) == 0 {
		return nil
	}
	defer func(start time.Time) { r.spent += time.Since(start) }(time.Now())
	if r.w == nil {
		f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
		r.f, r.w = f, csv.NewWriter(f)
		if err := r.w.Write([]string{"file", "line", "column", "reason", "value"}); err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
	}
	for _, x := range rs {
		if err := r.w.Write([]string{x.File, strconv.FormatInt(x.Line, 10), x.Column, x.Reason, x.Value}); err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
		r.n++
	}
	return nil
}

// close flushes and closes the file if it was created; it reports the path
// or "" when there was nothing to write.
func (r *rejectsFile) close() (string, error) {
	if r.w == nil {
		return "", nil
	}
	defer func(start time.Time) { r.spent += time.Since(start) }(time.Now())
	r.w.Flush()
	err := errors.Join(r.w.Error(), r.f.Close())
	if err != nil {
		return r.path, fmt.Errorf("rejects file: %w", err)
	}
	return r.path, nil
}
