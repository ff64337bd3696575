package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tokenevents/tokenevents"
)

// fileLock is an exclusive lock on a file beside the database, held for an
// import or a reconcile run: one of each at a time per database file, as
// PostgreSQL's advisory locks do. The operating system releases it when the
// process dies, so a crash leaves no stale lock.
type fileLock struct{ f *os.File }

// acquireLock takes the lock at path, waiting (and saying so once) while
// another process or store holds it.
func acquireLock(ctx context.Context, path string, timeout time.Duration, log *slog.Logger, waitMsg string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	warned := false
	start := time.Now()
	for {
		ok, err := tryLock(f)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("lock %s: %w", path, err), f.Close())
		}
		if ok {
			return &fileLock{f}, nil
		}
		if timeout >= 0 && time.Since(start) >= timeout {
			return nil, errors.Join(tokenevents.ErrLocked, f.Close())
		}
		if !warned {
			log.Warn(waitMsg, "lock_timeout", timeout.String())
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), f.Close())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// release gives the lock up; a nil lock is not held.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := errors.Join(unlock(l.f), l.f.Close())
	l.f = nil
	return err
}
