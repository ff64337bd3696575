package schema

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/010_later.sql": {Data: []byte("B")},
		"m/002_first.sql": {Data: []byte("A")},
	}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[0].Body != "A" || ms[1].Name != "010_later.sql" {
		t.Errorf("%+v", ms)
	}
	fsys["m/readme.sql"] = &fstest.MapFile{Data: []byte("x")}
	if _, err := Load(fsys, "m"); err == nil {
		t.Error("a file without a version number was accepted")
	}
}
