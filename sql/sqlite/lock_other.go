//go:build !unix

package sqlite

import "os"

// tryLock: without flock, runs are not kept apart across processes; SQLite
// still serialises every write, so data stays consistent, but two imports
// of one file at once may both stage it.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) error { return nil }
