package fsm

import (
	"io"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// NullStore is the state machine's store when documents live outside the
// log (the Elasticsearch engine): nothing to apply, nothing in snapshots,
// so snapshots and a joining node's catch-up do not grow with the data.
// A KindWrite reaching it (a log written in embedded mode) is refused per
// write, identically on every replica.
type NullStore struct{}

func (NullStore) Apply(_ uint64, writes []storage.Write) ([]storage.WriteResult, error) {
	out := make([]storage.WriteResult, len(writes))
	for i := range out {
		out[i].Err = kerror.New("services.storage.unexpected_error", "this cluster stores documents in Elasticsearch: an embedded write in the log is ignored")
	}
	return out, nil
}

func (NullStore) AppliedIndex() uint64      { return 0 }
func (NullStore) Snapshot(io.Writer) error  { return nil }
func (NullStore) Restore(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err }

func (NullStore) SnapshotView(fn func(uint64, func(io.Writer) error) error) error {
	return fn(0, func(io.Writer) error { return nil })
}
