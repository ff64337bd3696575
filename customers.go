package tokenevents

import "time"

// StagedCustomer is a customer row on its way to a store (SPEC §7): from a
// customers file, or the customer_id of an events file. A field whose
// column the file lacks is left as it is stored: StatusSet, DeletedSet and
// MetadataSet tell a value (possibly "not set" or "not deleted") from no
// column at all.
type StagedCustomer struct {
	AccountID  string
	CustomerID string
	Status     string // "" with StatusSet: the status is not set
	StatusSet  bool
	DeletedAt  NullTime // absent with DeletedSet: not deleted
	DeletedSet bool
	Metadata   []byte // a JSON object
	// MetadataSet: the row carries metadata columns (--metadata).
	MetadataSet bool
	// UpdatedAt is when the row's data was true: a row older than the
	// stored customer is not applied.
	UpdatedAt time.Time
	Partition int // of a hash of the account and customer id: all rows of a customer go to one partition
	Seq       int64
	Row       int64
}

// StagedLink links a token to a customer. The token is created (with
// TokenID) if it does not exist; a token linked to another customer
// moves, unless the stored link is newer than UpdatedAt.
type StagedLink struct {
	AccountID  string
	TokenType  string
	TokenValue string
	CustomerID string
	UpdatedAt  time.Time
	TokenID    [16]byte
	Partition  int
	Seq        int64
	Row        int64
}

// CustomerCounts is what merging a partition's staged customers did.
// Staged == Duplicates + New + Updated + Unchanged, where Unchanged
// includes rows older than the stored customer.
type CustomerCounts struct {
	Staged     int64
	Duplicates int64
	New        int64 // includes customers created for the customer_id of an events file
	Updated    int64
	Unchanged  int64
}
