package raftnet

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// logStore is a data dir's Raft log and stable store (term, vote).
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

const (
	// boltFile is the log and stable store of data dirs written before the
	// WAL (raft-boltdb: two fdatasyncs per append, one per bbolt commit's
	// pages and one for its meta page).
	boltFile = "raft.db"
	// walDir is the log and stable store of data dirs created since
	// (hashicorp/raft-wal, Consul's log store: one fdatasync per append,
	// into preallocated segment files).
	walDir = "wal"
	// walSegmentSize is the size of each preallocated WAL segment. Smaller
	// than raft-wal's 64 MiB: the log is truncated behind every snapshot
	// (8192 entries by default), a segment is freed only once wholly behind
	// it, and a small disk should not hold 64 MiB of zeros per node.
	walSegmentSize = 8 << 20
	// lockTimeout bounds the wait for a data dir another process holds.
	lockTimeout = 2 * time.Second
)

// openLogStore opens dir's log store: the bbolt file of a data dir an
// earlier release wrote, which stays as it is (its node keeps working,
// with the older store's cost per append; removing the data dir and
// letting the node rejoin moves it to the WAL), or else the WAL, created
// on first use. kind is "boltdb" or "wal".
func openLogStore(dir string, log *slog.Logger) (s logStore, kind string, err error) {
	bolt := filepath.Join(dir, boltFile)
	if _, err := os.Stat(bolt); err == nil {
		b, err := raftboltdb.New(raftboltdb.Options{Path: bolt, BoltOptions: boltOptions()})
		if err != nil {
			return nil, "", fmt.Errorf("raftnet: open raft log %s: %w", bolt, err)
		}
		return b, "boltdb", nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("raftnet: raft log %s: %w", bolt, err)
	}
	wdir := filepath.Join(dir, walDir)
	if err := os.MkdirAll(wdir, 0o700); err != nil {
		return nil, "", fmt.Errorf("raftnet: raft log %s: %w", wdir, err)
	}
	// raft-wal's own bbolt file waits forever for its lock: a lock of
	// ours, with a timeout, refuses a data dir a running node holds.
	unlock, err := lockDir(wdir, lockTimeout)
	if err != nil {
		return nil, "", fmt.Errorf("raftnet: raft log %s: %w", wdir, err)
	}
	// raft-wal v0.4.0's Close leaves its meta store open (and locked):
	// ours is closed by walStore.Close.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(wdir, wal.WithSegmentSize(walSegmentSize), wal.WithLogger(newHclog(log, "raft-wal")), wal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		unlock()
		return nil, "", fmt.Errorf("raftnet: open raft log %s: %w", wdir, err)
	}
	return &walStore{WAL: w, meta: meta, unlock: unlock}, "wal", nil
}

// walStore closes the meta store and releases the directory lock once the
// WAL is closed.
type walStore struct {
	*wal.WAL
	meta   *metadb.BoltMetaDB
	unlock func()
}

func (w *walStore) Close() error {
	err := errors.Join(w.WAL.Close(), w.meta.Close())
	w.unlock()
	return err
}

// hasLogState reports whether dir holds a log store, without creating one.
func hasLogState(dir string) bool {
	for _, name := range []string{boltFile, walDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}
