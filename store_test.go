package tokenevents

import "testing"

func TestAppendUUID(t *testing.T) {
	id := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
	if got := string(AppendUUID([]byte("x"), &id)); got != "x12345678-9abc-4def-8001-020304050607" {
		t.Errorf("AppendUUID = %s", got)
	}
}
