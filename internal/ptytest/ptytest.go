// Package ptytest runs code with its output on a pseudo-terminal, for tests
// of what a terminal shows.
package ptytest

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"
)

var escape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// Run calls fn with a 160×40 terminal and returns fn's result and what the
// terminal showed, one entry per line drawn (cursor movements taken as
// line breaks, blank lines dropped).
func Run(t testing.TB, fn func(tty *os.File) int) (int, []string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	read := make(chan struct{})
	go func() { _, _ = io.Copy(&shown, ptmx); close(read) }() // ends with EIO once tty is closed
	code := fn(tty)
	tty.Close()
	<-read
	var lines []string
	for _, l := range strings.FieldsFunc(escape.ReplaceAllString(shown.String(), "\n"), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return code, lines
}
