// Package teststore opens a store on a test database from testdb; it is
// apart from testdb so that the stores' own tests can use testdb.
package teststore

import (
	"context"
	"testing"

	"github.com/tokenevents/tokenevents/sql/store"
)

// Open opens the store on target (a --db value from testdb), closed when
// the test ends.
func Open(t testing.TB, target string) store.Store {
	t.Helper()
	tg, err := store.Resolve(target, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), tg, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
