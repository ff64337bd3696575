package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tokenevents/tokenevents"
)

// openRegular opens a regular file. Anything else given as FILE — a
// directory, a named pipe, a device, a socket — is a usage error found
// before the run writes anything (a pipe is read as -, standard input).
// The open itself is abandoned when ctx ends: on a network file system it
// can block.
func openRegular(ctx context.Context, path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, tokenevents.UsageErrorf("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, tokenevents.UsageErrorf("%s: is %s, not a regular file (to read a pipe, give - and redirect it to standard input)",
			path, describeMode(fi.Mode()))
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, tokenevents.UsageErrorf("%v", o.err)
		}
		return o.f, nil
	case <-ctx.Done():
		go func() { // close the file if the open completes after all
			if o := <-ch; o.f != nil {
				_ = o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// ctxReader reads from r in a goroutine of its own, so that a read that
// blocks (standard input with no writer yet) ends when ctx does: Read then
// returns ctx.Err() and abandons the blocked read, whose result is dropped.
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	req  chan int
	res  chan readResult
	buf  []byte // owned by the goroutine between a request and its result
	err  error  // sticky: the context's error once a read was abandoned
	open bool
}

type readResult struct {
	n   int
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	return &ctxReader{ctx: ctx, r: r, req: make(chan int), res: make(chan readResult, 1)}
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.open {
		c.open = true
		go func() {
			for size := range c.req {
				if cap(c.buf) < size {
					c.buf = make([]byte, size)
				}
				n, err := c.r.Read(c.buf[:size])
				c.res <- readResult{n, err}
			}
		}()
	}
	select {
	case c.req <- len(p):
	case <-c.ctx.Done():
		c.err = c.ctx.Err()
		return 0, c.err
	}
	select {
	case r := <-c.res:
		return copy(p, c.buf[:r.n]), r.err
	case <-c.ctx.Done():
		c.err = c.ctx.Err()
		return 0, c.err
	}
}

// Close stops the reading goroutine unless it is blocked in a read.
func (c *ctxReader) Close() error {
	if c.open && c.err == nil {
		c.err = io.ErrClosedPipe
		close(c.req)
	}
	return nil
}

// fileDigest is the SHA-256 of the file's bytes as stored; it stops when
// ctx ends.
func fileDigest(ctx context.Context, path string) (string, error) {
	f, err := openRegular(ctx, path)
	if err != nil {
		return "", inputError(path, err)
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", inputError(path, fmt.Errorf("digest: %w", err))
		}
	}
}
