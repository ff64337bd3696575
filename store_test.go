package tokenevents

import "testing"

func TestAppendUUID(t *testing.T) {
	id := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
	if got := string(AppendUUID([]byte("x"), &id)); got != "x12345678-9abc-4def-8001-020304050607" {
		t.Errorf("AppendUUID = %s", got)
	}
}

func TestPreferFull(t *testing.T) {
	for _, tc := range []struct {
		candidates, tokens int64
		want               bool
	}{{0, 0, false}, {0, 10, false}, {1, 1, true}, {5, 10, false}, {6, 10, true}, {3, PreferFullProbe(3), false}} {
		if got := PreferFull(tc.candidates, tc.tokens); got != tc.want {
			t.Errorf("PreferFull(%d, %d) = %v", tc.candidates, tc.tokens, got)
		}
	}
}
