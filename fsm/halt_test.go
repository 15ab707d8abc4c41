package fsm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/korumdb/korum/storage"
)

// brokenStore fails every commit, as a full or failing disk does, leaving
// the underlying store untouched.
type brokenStore struct {
	Store
	broken bool
}

var errDisk = errors.New("no space left on device")

func (s *brokenStore) Apply(idx uint64, ws []storage.Write) ([]storage.WriteResult, error) {
	if s.broken {
		return nil, errDisk
	}
	return s.Store.Apply(idx, ws)
}

// A replica whose store cannot commit a committed entry must not skip it:
// it reports no progress past it, refuses every later entry and every
// snapshot, and asks to be stopped, once. Restarted on the same files, it
// replays the entries and reaches the state of a replica that never failed.
func TestFailedApplyHaltsAndReplayConverges(t *testing.T) {
	_, _, store := newFSM(t)
	bs := &brokenStore{Store: store}
	f := New(bs, nil, quiet())
	var halts []*HaltError
	f.OnHalt(func(h *HaltError) { halts = append(halts, h) })

	var lb logBuilder
	logs := lb.setupEntries(t)
	for i := range 4 {
		logs = append(logs, lb.entry(t, writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c",
			Now: 2, Docs: doc(string(rune('a'+i)), map[string]any{"n": i})})))
	}
	logs = append(logs, lb.entry(t, roomCmd("room", "n1", 1)))
	f.ApplyBatch(logs[:3])
	before := f.AppliedIndex()

	bs.broken = true
	out := f.ApplyBatch(logs[3:5])
	for i, r := range out {
		if !errors.Is(asErr(r), ErrHalted) {
			t.Fatalf("result %d of a failed commit: %v, want ErrHalted", i, r)
		}
	}
	if f.AppliedIndex() != before || store.AppliedIndex() != before {
		t.Fatalf("applied index moved past a failed commit: fsm %d, store %d, want %d", f.AppliedIndex(), store.AppliedIndex(), before)
	}
	if len(halts) != 1 || halts[0].From != 4 || halts[0].To != 5 || !errors.Is(halts[0], errDisk) {
		t.Fatalf("halt reports: %+v", halts)
	}

	// Even once the disk is back, this instance applies nothing more: the
	// entries it failed are behind it.
	bs.broken = false
	out = f.ApplyBatch(logs[5:])
	for i, r := range out {
		if !errors.Is(asErr(r), ErrHalted) {
			t.Fatalf("later result %d: %v, want ErrHalted", i, r)
		}
	}
	if f.Room("room") != nil || f.AppliedIndex() != before {
		t.Fatal("a halted state machine applied a later entry")
	}
	if _, err := f.Snapshot(); err == nil {
		t.Fatal("a halted state machine must refuse to snapshot")
	}
	if len(halts) != 1 {
		t.Fatalf("OnHalt ran %d times, want once", len(halts))
	}

	// The restart: a new state machine over the same store replays the
	// log from the store's applied index.
	again := New(store, nil, quiet())
	again.ApplyBatch(logs)
	ref, _, _ := newFSM(t)
	ref.ApplyBatch(logs)
	if again.AppliedIndex() != ref.AppliedIndex() {
		t.Fatalf("applied after replay %d, want %d", again.AppliedIndex(), ref.AppliedIndex())
	}
	if !reflect.DeepEqual(replicatedState(t, again), replicatedState(t, ref)) {
		t.Fatal("the replayed replica's state differs from a replica that never failed")
	}
	for i := range 4 {
		id := string(rune('a' + i))
		d, err := store.Get(t.Context(), "i", "c", id)
		if err != nil || d.Source["n"] == nil {
			t.Fatalf("document %s after replay: %v %v", id, d, err)
		}
	}
}

func asErr(v any) error {
	e, _ := v.(error)
	return e
}
