// Package pipeline reads export files, turns their rows into token events and
// writes them to a store in batches: readers → normalise/hash workers → a
// sequencer that keeps input order → one writer per partition group.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/tokenevents/tokenevents"
	"github.com/tokenevents/tokenevents/hashing"
)

// Partitions is the fixed number of partitions of the token space. Events
// of one partition are always written by the same writer in input order, and
// the ledger records progress per partition, so it must never change: a
// resumed run has to cut the token space exactly as the crashed one did.
const Partitions = 64

// Options configure an import. Validate fills defaults and checks them.
type Options struct {
	Account      string               // default account_id
	Event        string               // default event text
	Status       string               // default status (OPT_OUT)
	CreatedAt    tokenevents.NullTime // default created_at; absent: the column is required
	ExpiresAfter time.Duration        // expires_at = created_at + this when no column value; 0: never
	Location     *time.Location       // for timestamps without an offset
	Region       string               // default phone region
	Map          map[string]string    // field → header
	Metadata     []string             // extra columns copied into metadata
	Format       string               // "", "csv" or "parquet"
	Delimiter    rune                 // 0: detect
	Encoding     string               // "", "utf-8", "windows-1252", "iso-8859-1"

	// Customers reads customers files (import --customers, SPEC §7)
	// instead of events files.
	Customers bool
	// RunStart is the updated_at of customer rows and links without one;
	// set by Run.
	RunStart time.Time

	Force       bool
	RejectsPath string // "" → rejects-<run id>.csv
	RejectsRaw  bool
	MaxRejects  RejectLimit

	Workers    int // normalise/hash workers
	Writers    int // concurrent database writers
	BatchRows  int
	BatchBytes int
	ChunkRows  int // rows per unit of work handed to a worker, at most
	// ChunkBytes caps a unit of work by the bytes of its kept fields, so
	// that memory is bounded by bytes whatever the record sizes.
	ChunkBytes int
	// MaxRecordBytes caps one input record (all its fields); a longer one
	// is rejected (--max-record-bytes).
	MaxRecordBytes int

	Logger *slog.Logger
	// Progress, if set, is told of each file's staging and merging phases.
	Progress tokenevents.Progress
}

// RejectLimit is --max-rejects: an absolute count or a percentage of rows.
type RejectLimit struct {
	Count   int64
	Percent float64 // used when Count < 0
}

// ParseRejectLimit parses "100" or "1%" or "0.5%".
func ParseRejectLimit(s string) (RejectLimit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		var f float64
		if _, err := fmt.Sscanf(p, "%g", &f); err != nil || f < 0 || f > 100 {
			return RejectLimit{}, tokenevents.UsageErrorf("--max-rejects: %q is not a percentage", s)
		}
		return RejectLimit{Count: -1, Percent: f}, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return RejectLimit{}, tokenevents.UsageErrorf("--max-rejects: %q is not a count or a percentage", s)
	}
	return RejectLimit{Count: n}, nil
}

// minRowsForPercent is how many rows a percentage limit waits for before it
// may stop a run early; the final check at the end of each file is exact.
const minRowsForPercent = 10000

// Exceeded reports whether rejected rows out of read rows pass the limit.
// final is true for the exact check at the end of a file.
func (l RejectLimit) Exceeded(rejected, read int64, final bool) bool {
	if l.Count >= 0 {
		return rejected > l.Count
	}
	if !final && read < minRowsForPercent {
		return false
	}
	return read > 0 && float64(rejected)*100 > l.Percent*float64(read)
}

func (l RejectLimit) String() string {
	if l.Count >= 0 {
		return fmt.Sprint(l.Count)
	}
	return fmt.Sprintf("%g%%", l.Percent)
}

// Validate fills defaults and checks the options. Errors wrap ErrUsage.
func (o *Options) Validate() error {
	if o.Status == "" {
		o.Status = "OPT_OUT"
	}
	if !tokenevents.ValidStatus(o.Status) {
		return tokenevents.UsageErrorf("--status %q: must match ^[A-Z][A-Z0-9_]*$", o.Status)
	}
	if o.Account != "" && !tokenevents.ValidAccountID(o.Account) {
		return tokenevents.UsageErrorf("--account %q: must match ^[PT][0-9]{8}$", o.Account)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Region == "" {
		o.Region = "NO"
	}
	if _, err := hashing.NewPhones(o.Region); err != nil {
		return tokenevents.UsageErrorf("--region %q: not a known region code", o.Region)
	}
	if o.ExpiresAfter < 0 {
		return tokenevents.UsageErrorf("--expires-after must be positive")
	}
	switch o.Format {
	case "", "csv", "parquet":
	default:
		return tokenevents.UsageErrorf("--format %q: must be csv or parquet", o.Format)
	}
	switch strings.ToLower(o.Encoding) {
	case "", "utf-8", "utf8":
		o.Encoding = ""
	case "windows-1252", "cp1252":
		o.Encoding = "windows-1252"
	case "iso-8859-1", "latin1", "latin-1":
		o.Encoding = "iso-8859-1"
	default:
		return tokenevents.UsageErrorf("--encoding %q: must be utf-8, windows-1252 or iso-8859-1", o.Encoding)
	}
	for field := range o.Map {
		if _, ok := fieldByName[field]; !ok {
			return tokenevents.UsageErrorf("--map %s: unknown field (one of %s)", field, strings.Join(fieldNames(), ", "))
		}
	}
	if o.MaxRejects == (RejectLimit{}) {
		o.MaxRejects = RejectLimit{Count: -1, Percent: 1}
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Writers <= 0 {
		o.Writers = 2
	}
	if o.Writers > Partitions {
		o.Writers = Partitions
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 10000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 4 << 20
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 512
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 256 << 10
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = tokenevents.DefaultMaxRecordBytes
	}
	if o.MaxRecordBytes < 0 || o.MaxRecordBytes > 64<<20 {
		return tokenevents.UsageErrorf("--max-record-bytes %d: must be between 1 and %d", o.MaxRecordBytes, 64<<20)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// digest is the fingerprint of everything that shapes the events a file
// yields: the same content with the same digest gives the same events.
func (o *Options) digest() string {
	m := map[string]any{
		"account": o.Account, "event": o.Event, "status": o.Status,
		"expires_after": o.ExpiresAfter.String(), "timezone": o.Location.String(),
		"region": o.Region, "map": o.Map, "metadata": o.Metadata, "format": o.Format,
		"delimiter": string(o.Delimiter), "encoding": o.Encoding,
	}
	if o.CreatedAt.Valid {
		m["created_at"] = o.CreatedAt.Time.UTC().Format(time.RFC3339Nano)
	}
	if o.Customers {
		m["customers"] = true
		m["routing"] = customerRoutingVersion
	}
	if o.MaxRecordBytes != tokenevents.DefaultMaxRecordBytes {
		// Only when set: files imported before the flag existed keep
		// their digest and are still recognised.
		m["max_record_bytes"] = o.MaxRecordBytes
	}
	b, _ := json.Marshal(m) // map keys are sorted: the encoding is canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// customerRoutingVersion names customerPartition's rule in a customers
// file's options digest: a source staged under another rule is not resumed
// but staged again (its customers would be split across partitions).
const customerRoutingVersion = 2

// describe is the options as recorded in import_runs.options.
func (o *Options) describe(files []string) []byte {
	meta := append([]string(nil), o.Metadata...)
	sort.Strings(meta)
	b, _ := json.Marshal(map[string]any{
		"files": files, "account": o.Account, "event": o.Event, "status": o.Status,
		"expires_after": o.ExpiresAfter.String(), "timezone": o.Location.String(), "region": o.Region,
		"map": o.Map, "metadata": meta, "format": o.Format, "encoding": o.Encoding, "force": o.Force,
		"max_rejects": o.MaxRejects.String(), "customers": o.Customers,
	})
	return b
}
