// Package teststore opens a store on a test database from testdb; it is
// apart from testdb so that the stores' own tests can use testdb.
package teststore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/pipeline"
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

// Import imports paths into s with o, rejects into a temporary file and no
// limit on them (unless o sets one), and returns the run's summary.
func Import(t testing.TB, s tokenevents.ImportStore, o pipeline.Options, paths ...string) (pipeline.Summary, error) {
	t.Helper()
	if o.RejectsPath == "" {
		o.RejectsPath = filepath.Join(t.TempDir(), "rejects.csv")
	}
	if o.MaxRejects == (pipeline.RejectLimit{}) {
		o.MaxRejects = pipeline.RejectLimit{Count: -1, Percent: 100}
	}
	im, err := pipeline.NewImporter(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := im.Preflight(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	return im.Run(context.Background(), s, files)
}
