// Command hostile writes the large broken exports of SPEC §10's memory
// cases to standard output, so that bench/hostile.sh can pipe gigabytes
// into the importer without storing them:
//
//	hostile wide  ROWS BYTES   ROWS rows, each with an unused column of BYTES bytes
//	hostile kept  ROWS BYTES   the same column named by --metadata (kept, then rejected)
//	hostile line  BYTES        one record of BYTES bytes (past --max-record-bytes)
//	hostile quote BYTES        a quoted field that opens and runs BYTES bytes to the end
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: hostile wide|kept ROWS BYTES | line|quote BYTES")
	}
	num := func(s string) (int, error) { return strconv.Atoi(s) }
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	filler := func(n int) error {
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'a' + byte(i%26)
		}
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return err
			}
			n -= k
		}
		return nil
	}
	fmt.Fprintln(w, "email,created_at,notes")
	switch args[0] {
	case "wide", "kept":
		if len(args) != 3 {
			return fmt.Errorf("%s ROWS BYTES", args[0])
		}
		rows, err1 := num(args[1])
		size, err2 := num(args[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("ROWS and BYTES are numbers")
		}
		for i := range rows {
			fmt.Fprintf(w, "u%d@example.no,2024-01-01,", i)
			if err := filler(size); err != nil {
				return err
			}
			w.WriteByte('\n')
		}
	case "line", "quote":
		size, err := num(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "first@example.no,2024-01-01,x")
		fmt.Fprint(w, "u@example.no,2024-01-01,")
		if args[0] == "quote" {
			w.WriteByte('"')
		}
		if err := filler(size); err != nil {
			return err
		}
		fmt.Fprintln(w)
		if args[0] == "line" {
			fmt.Fprintln(w, "last@example.no,2024-01-01,x")
		}
	default:
		return fmt.Errorf("unknown case %q", args[0])
	}
	return nil
}
