package node

import (
	"fmt"
	"path/filepath"

	"github.com/korumdb/korum/storage/embedded"
)

// openStore opens the embedded document store of dataDir without fsync on
// each apply: the Raft log already holds every committed entry durably
// (fsynced on a majority before it is acknowledged), so the store is a
// cache of the log that the node rebuilds at every start and never trusts
// after a crash (a power loss can tear a bbolt file written without syncs).
// The old file is removed first. With a snapshot in the data dir, Raft
// restores it at start (raftnet keeps hashicorp's restore on start), which
// writes a synced copy of the store, then replays the log after it.
// Without one, the log still starts at its first entry (Raft compacts it
// only after a snapshot), and the whole log replays into the empty store.
// storage/embedded/doc.go has the argument in full.
func openStore(dataDir string, opts embedded.Options) (*embedded.Engine, error) {
	path := filepath.Join(dataDir, "documents.db")
	if err := embedded.Remove(path, opts.OpenTimeout); err != nil {
		return nil, fmt.Errorf("emptying the document store before the log replays: %w", err)
	}
	opts.NoSync = true
	store, err := embedded.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("opening the document store: %w", err)
	}
	return store, nil
}
