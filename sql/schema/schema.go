// Package schema loads a store's embedded SQL: its schema migrations, files
// named NNN_what.sql applied in the order of their numbers (each store
// applies them its own way: locks and bookkeeping differ), and its queries,
// one purpose per file under queries/.
package schema

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema migration.
type Migration struct {
	Version int
	Name    string
	Body    string
}

// Load reads the migrations in dir of fsys, in version order. A file whose
// name does not start with a number is an error.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{v, e.Name(), string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Query returns the query queries/NAME.sql of fsys. A missing file is a
// programming error, caught by each store's test that prepares every query.
func Query(fsys fs.FS, name string) string {
	b, err := fs.ReadFile(fsys, "queries/"+name+".sql")
	if err != nil {
		panic("missing query " + name)
	}
	return string(b)
}
