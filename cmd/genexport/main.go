// Command genexport writes a realistic store opt-out export (see package
// fixtures) to stdout or a file, for benchmarks and manual testing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/tokenevents/tokenevents/fixtures"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("genexport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c fixtures.Config
	var out, delim string
	fs.IntVar(&c.Rows, "rows", 1000, "data rows")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed")
	fs.BoolVar(&c.Phones, "phones", true, "add a phone column")
	fs.IntVar(&c.Accounts, "accounts", 1, "distinct accounts")
	fs.IntVar(&c.Tokens, "people", 0, "distinct people (default rows/2)")
	fs.Float64Var(&c.BadRate, "bad", 0, "share of bad rows")
	fs.Float64Var(&c.DupRate, "dup", 0.02, "share of rows repeating an earlier key")
	fs.Float64Var(&c.InvalidPhones, "invalid-phones", 0, "share of phone numbers that are not valid numbers")
	fs.Float64Var(&c.InvalidEmails, "invalid-emails", 0, "share of e-mail addresses that are not valid")
	fs.BoolVar(&c.CRLF, "crlf", false, "CRLF line ends")
	fs.BoolVar(&c.Sequential, "sequential", false, "row i is person i (an events and a customers export then share identifiers)")
	customers := fs.Bool("customers", false, "write a loyalty customers export (import --customers) instead")
	fs.StringVar(&delim, "delimiter", ",", "delimiter: , ; | or tab")
	fs.StringVar(&out, "o", "-", "output file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch delim {
	case "tab", `\t`:
		c.Delimiter = '\t'
	case ",", ";", "|":
		c.Delimiter = rune(delim[0])
	default:
		fmt.Fprintf(stderr, "genexport: --delimiter %q: one of , ; | tab\n", delim)
		return 2
	}
	w := stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			fmt.Fprintf(stderr, "genexport: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	gen := fixtures.Generate
	if *customers {
		gen = fixtures.GenerateCustomers
	}
	if err := gen(w, c); err != nil {
		fmt.Fprintf(stderr, "genexport: %v\n", err)
		return 1
	}
	return 0
}
