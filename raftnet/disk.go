package raftnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// ErrDisk: this node cannot persist its log now (its disk is full or failing),
// so it refuses to append: the command was not submitted. Reads of what is
// already stored go on.
var ErrDisk = errors.New("raftnet: this node's disk cannot take writes")

// diskGuard knows whether this node can persist its log, and keeps Raft from
// finding out the hard way.
//
// hashicorp/raft reacts to a failed write by stepping a leader down (a failed
// log append) or by panicking (a failed term write). Left alone, a leader
// whose disk is full steps down, wins the next election (its log is as good
// as anyone's), fails to append its no-op, steps down again: one election
// after another, the term climbing, no request served. So:
//   - the guard is unhealthy while free space is below MinFree (like
//     Elasticsearch's flood-stage watermark, it trips before the disk is
//     full) or since a write of the Raft stores failed, until a probe write
//     succeeds again;
//   - while it is unhealthy, the leader appends nothing (proposals and
//     membership changes get ErrDisk at once) and hands leadership to a
//     peer, and the stable store holds back term and vote writes until it is
//     healthy again: a node that cannot persist neither campaigns nor moves
//     its term. Such a node is, for the others, a node that went quiet; it
//     resumes (or its watchdog restarts it) once space is back.
type diskGuard struct {
	dir     string
	minFree uint64
	log     *slog.Logger
	every   time.Duration

	mu      sync.Mutex
	failed  error         // the last write error of the Raft stores, until a probe succeeds
	low     bool          // free space was below minFree at the last check
	healthy chan struct{} // closed while healthy, replaced when it becomes unhealthy
	onTrip  func()        // runs (in its own goroutine) each time the guard turns unhealthy
	stuck   atomic.Bool   // a term or vote write was held back at shutdown
}

const diskProbeSize = 256 << 10

func newDiskGuard(dir string, minFree uint64, log *slog.Logger) *diskGuard {
	g := &diskGuard{dir: dir, minFree: minFree, log: log, every: 250 * time.Millisecond, healthy: make(chan struct{})}
	close(g.healthy)
	// A probe at start finds a disk that is already full even when the free
	// space threshold is small: a restarted node then never campaigns on it.
	if err := probeWrite(dir); err != nil {
		g.fail(err)
	}
	g.check()
	return g
}

// err is nil while the node can persist, ErrDisk with the reason otherwise.
// The reason names no path: it reaches clients.
func (g *diskGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.errLocked()
}

func (g *diskGuard) errLocked() error {
	switch {
	case g.failed != nil:
		return fmt.Errorf("%w: %s", ErrDisk, describeDiskErr(g.failed))
	case g.low:
		return fmt.Errorf("%w: less than %d bytes free", ErrDisk, g.minFree)
	}
	return nil
}

// describeDiskErr keeps what an operator needs (no space, I/O error) and
// drops what must not leak (paths, file names).
func describeDiskErr(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "no space left on the device"
	case errors.Is(err, syscall.EIO):
		return "input/output error"
	case errors.Is(err, syscall.EROFS):
		return "read-only file system"
	case errors.Is(err, syscall.EDQUOT):
		return "disk quota exceeded"
	}
	return "write failed"
}

// fail records a failed write of the Raft stores.
func (g *diskGuard) fail(err error) {
	g.mu.Lock()
	first := g.failed == nil
	if first {
		// The first error is the store's own; a wrapper above it may
		// report the same failure again, as text.
		g.failed = err
	}
	g.mu.Unlock()
	if first {
		g.log.Error("the disk refused a Raft write: refusing writes until a probe write succeeds", "err", err)
	}
	g.update()
}

// wait blocks until the guard is healthy or ctx ends.
func (g *diskGuard) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.healthy
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run re-checks the disk until ctx ends.
func (g *diskGuard) run(ctx context.Context) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.check()
		}
	}
}

// check measures free space and, after a failure, probes with a real
// synced write of the size of a typical append.
func (g *diskGuard) check() {
	free, known := freeBytes(g.dir)
	low := known && free < g.minFree
	g.mu.Lock()
	failed := g.failed
	g.low = low
	g.mu.Unlock()
	if failed != nil && !low {
		if err := probeWrite(g.dir); err == nil {
			g.mu.Lock()
			g.failed = nil
			g.mu.Unlock()
		}
	}
	g.update()
}

// update publishes the state: wakes waiters when healthy, logs changes.
func (g *diskGuard) update() {
	g.mu.Lock()
	err := g.errLocked()
	var trip func()
	select {
	case <-g.healthy:
		if err != nil {
			g.healthy = make(chan struct{})
			g.log.Error("this node cannot persist its log: writes are refused, reads go on", "reason", err)
			trip = g.onTrip
		}
	default:
		if err == nil {
			close(g.healthy)
			g.log.Info("the disk takes writes again")
		}
	}
	g.mu.Unlock()
	if trip != nil {
		go trip()
	}
}

func probeWrite(dir string) error {
	path := filepath.Join(dir, ".disk-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = f.Write(make([]byte, diskProbeSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// guardedLogStore reports failed writes to the guard and hides their paths
// from the errors Raft hands to proposers.
type guardedLogStore struct {
	raft.LogStore
	g *diskGuard
}

func (s guardedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// IsMonotonic passes the store's answer through (raft.MonotonicLogStore):
// Raft must know that the WAL refuses gaps, to empty it before it stores
// the entries that follow an installed snapshot.
func (s guardedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (s guardedLogStore) StoreLogs(logs []*raft.Log) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		s.g.fail(err)
		return s.g.err()
	}
	return nil
}

func (s guardedLogStore) DeleteRange(min, max uint64) error {
	if err := s.LogStore.DeleteRange(min, max); err != nil {
		s.g.fail(err)
		return s.g.err()
	}
	return nil
}

// guardedStableStore holds term and vote writes back while the disk cannot
// take them: Raft panics on a failed one, and a node that cannot persist its
// log must not campaign anyway. A write held back when the node shuts down
// is never made and never reported done (a vote must not be granted on a
// term that is not on disk): Raft's goroutine stays blocked, and Shutdown
// stops waiting for it (see Node.Shutdown).
type guardedStableStore struct {
	raft.StableStore
	g    *diskGuard
	done context.Context
}

// A value already on disk is not written again, so it is never held back:
// Raft rewrites the current term when it starts, and a node whose disk is
// full must still start and serve reads.

func (s guardedStableStore) Set(key, val []byte) error {
	if cur, err := s.StableStore.Get(key); err == nil && bytes.Equal(cur, val) {
		return nil
	}
	return s.retry(func() error { return s.StableStore.Set(key, val) })
}

func (s guardedStableStore) SetUint64(key []byte, val uint64) error {
	if cur, err := s.StableStore.GetUint64(key); err == nil && cur == val {
		return nil
	}
	return s.retry(func() error { return s.StableStore.SetUint64(key, val) })
}

func (s guardedStableStore) retry(write func() error) error {
	for {
		if err := s.g.wait(s.done); err != nil {
			s.g.stuck.Store(true)
			select {} // see the type's comment
		}
		err := write()
		if err == nil {
			return nil
		}
		s.g.fail(err)
	}
}
