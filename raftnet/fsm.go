package raftnet

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// FSM is the replicated state machine raftnet drives.
//
// Apply and ApplyBatch must return, for each log, either a []byte (nil is
// fine) or an error. Those are the only values that can travel back to a
// follower that forwarded the command, so anything else is turned into an
// error. ApplyBatch receives LogCommand and LogConfiguration entries; it must
// check Log.Type (configuration entries carry no command but advance the
// index).
//
// AppliedIndex reports the index of the last log the FSM has consumed (or, after
// Restore, the index the snapshot covered). raft.Raft.AppliedIndex is not
// enough: it counts entries merely handed to the FSM goroutine. An FSM that
// cannot apply a committed entry (its disk failed) must leave AppliedIndex
// before that entry, refuse the entries after it, and stop its node: raftnet
// reports as applied only what AppliedIndex says, so linearizable reads on
// that node wait rather than read a state that lacks the entry.
//
// With Config.FSMIsPersistent the FSM must also:
//   - make each applied batch durable together with its index (one disk
//     transaction), so AppliedIndex after a crash matches the data;
//   - skip logs whose index is ≤ AppliedIndex (they are replayed after a
//     restart because the snapshot is not restored), returning nil for them;
//   - on Restore, replace its state entirely with the snapshot's.
type FSM interface {
	raft.BatchingFSM
	AppliedIndex() uint64
}

// fsmAdapter sits between Raft and the caller's FSM to learn when entries have
// really been consumed, which LinearizableRead waits on.
type fsmAdapter struct {
	inner FSM

	last atomic.Uint64 // highest log index the inner FSM returned from

	mu      sync.Mutex
	applied chan struct{} // closed and replaced after each apply/restore
}

func newFSMAdapter(inner FSM) *fsmAdapter {
	a := &fsmAdapter{inner: inner, applied: make(chan struct{})}
	a.last.Store(inner.AppliedIndex())
	return a
}

func (a *fsmAdapter) index() uint64 {
	return max(a.last.Load(), a.inner.AppliedIndex())
}

// changed returns a channel closed at the next apply or restore.
func (a *fsmAdapter) changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}

func (a *fsmAdapter) advance(idx uint64) {
	if idx > a.last.Load() {
		a.last.Store(idx) // only the FSM goroutine writes
	}
	a.mu.Lock()
	close(a.applied)
	a.applied = make(chan struct{})
	a.mu.Unlock()
}

func checkResult(v any) any {
	switch v.(type) {
	case nil, []byte, error:
		return v
	}
	return fmt.Errorf("raftnet: FSM returned %T, want []byte or error", v)
}

func (a *fsmAdapter) Apply(l *raft.Log) any {
	r := checkResult(a.inner.Apply(l))
	a.advance(a.inner.AppliedIndex())
	return r
}

func (a *fsmAdapter) ApplyBatch(logs []*raft.Log) []any {
	rs := a.inner.ApplyBatch(logs)
	for i := range rs {
		rs[i] = checkResult(rs[i])
	}
	if len(logs) > 0 {
		a.advance(a.inner.AppliedIndex())
	}
	return rs
}

func (a *fsmAdapter) Snapshot() (raft.FSMSnapshot, error) { return a.inner.Snapshot() }

func (a *fsmAdapter) Restore(r io.ReadCloser) error {
	err := a.inner.Restore(r)
	// A snapshot can move the index backwards only on a misbehaving FSM;
	// trust the FSM's own account after a restore.
	a.last.Store(a.inner.AppliedIndex())
	a.advance(0)
	return err
}
