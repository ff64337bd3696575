package pipeline

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		loc  *time.Location
		want string // RFC 3339 in UTC, "" = error
	}{
		{"2024-03-01T10:15:00Z", time.UTC, "2024-03-01T10:15:00Z"},
		{"2024-03-01T10:15:00+01:00", time.UTC, "2024-03-01T09:15:00Z"},
		{"2024-03-01T10:15:00.123456789-02:30", time.UTC, "2024-03-01T12:45:00.123456789Z"},
		{"2024-03-01 10:15:00", time.UTC, "2024-03-01T10:15:00Z"},
		{"2024-03-01 10:15:00.5", oslo, "2024-03-01T09:15:00.5Z"},
		{"2024-07-01 10:15:00", oslo, "2024-07-01T08:15:00Z"},
		{"2024-07-01", oslo, "2024-06-30T22:00:00Z"},
		{"2024-07-01", time.UTC, "2024-07-01T00:00:00Z"},
		{"2024-07-01 10:15", time.UTC, "2024-07-01T10:15:00Z"},
		{"2024-07-01T10:15:00+0200", time.UTC, "2024-07-01T08:15:00Z"},
		{"2024-07-01 10:15:00 +02", time.UTC, "2024-07-01T08:15:00Z"},
		{"2024-07-01t10:15:00z", time.UTC, "2024-07-01T10:15:00Z"},
		{"2024-02-30", time.UTC, ""},
		{"2024-13-01", time.UTC, ""},
		{"2024-01-01 24:00:00", time.UTC, ""},
		{"2024-01-01T10:15:00+25:00", time.UTC, ""},
		{"01/02/2024", time.UTC, ""},
		{"2024-01-01T10", time.UTC, ""},
		{"2024-01-01 10:15:00.", time.UTC, ""},
		{"2024-01-01 10:15:00 junk", time.UTC, ""},
		{"", time.UTC, ""},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in, tt.loc)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.UTC().Format(time.RFC3339Nano) != tt.want {
			t.Errorf("parseTime(%q) = %v, %v; want %s", tt.in, got.UTC().Format(time.RFC3339Nano), err, tt.want)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-03-01T10:15:00Z", "2024-07-01", "2024-07-01 10:15:00.5 +02:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s, time.UTC)
		if err != nil {
			return
		}
		// Whatever is accepted must survive a round trip through RFC 3339.
		again, err := parseTime(got.Format(time.RFC3339Nano), time.UTC)
		if err != nil || !again.Equal(got) {
			t.Fatalf("%q -> %v -> %v (%v)", s, got, again, err)
		}
	})
}
