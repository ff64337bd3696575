package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// RetryPolicy retries transient failures with exponential backoff.
type RetryPolicy struct {
	Attempts int           // total tries, at least 1
	Base     time.Duration // first wait; doubled each time
	Max      time.Duration // cap on one wait
}

// DefaultRetry rides out a server restart of about half a minute.
var DefaultRetry = RetryPolicy{Attempts: 8, Base: 200 * time.Millisecond, Max: 8 * time.Second}

// WithAttempts returns p trying at most n times (at least once).
func (p RetryPolicy) WithAttempts(n int) RetryPolicy {
	p.Attempts = max(1, n)
	return p
}

// Transient reports whether err is worth retrying: a lost connection, a
// serialization failure, a deadlock or a server shutting down or starting.
// PostgreSQL errors are classified by SQLSTATE only.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		code := string(pqErr.Code)
		switch code {
		case "40001", "40P01", "57P01", "57P02", "57P03", "53300":
			return true
		}
		return strings.HasPrefix(code, "08") // connection exceptions
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// Do runs fn until it succeeds, fails with a permanent error, runs out of
// attempts or ctx ends.
func (p RetryPolicy) Do(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	wait := p.Base
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil || !Transient(err) || attempt >= p.Attempts || ctx.Err() != nil {
			return err
		}
		log.Warn("transient database error, retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, p.Max)
	}
}

// retryValue is Do for an operation that returns a value.
func retryValue[T any](ctx context.Context, d *DB, what string, fn func() (T, error)) (T, error) {
	var v T
	err := d.retry.Do(ctx, d.log, what, func() error {
		var err error
		v, err = fn()
		return err
	})
	return v, err
}

// uniqueViolation reports whether err is PostgreSQL's unique_violation.
func uniqueViolation(err error) bool {
	var pe *pq.Error
	return errors.As(err, &pe) && pe.Code == "23505"
}
