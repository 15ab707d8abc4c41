package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/storage"
)

// A backup taken while entries apply holds exactly the entries up to its
// index, in the store and in memory alike: every entry writes a document
// (store) and a room (memory), and both counts must match the index.
func TestBackupIsConsistentUnderApply(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	f.ApplyBatch(lb.setupEntries(t))
	base := lb.next
	const entries = 300
	logs := make([]*raft.Log, entries)
	for i := range logs {
		id := fmt.Sprintf("d%d", lb.next+1)
		logs[i] = lb.batchEntry(t,
			writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc(id, map[string]any{"n": i})}),
			roomCmd("r-"+id, "n1", 1))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(logs); i += 3 {
			f.ApplyBatch(logs[i:min(i+3, len(logs))])
		}
	}()
	var backups [][]byte
	var indexes []uint64
	for range 8 {
		var buf bytes.Buffer
		err := f.Backup(func(index uint64, write func(io.Writer) error) error {
			indexes = append(indexes, index)
			return write(&buf)
		})
		if err != nil {
			t.Fatal(err)
		}
		backups = append(backups, buf.Bytes())
	}
	wg.Wait()
	for k, b := range backups {
		g, _, gstore := newFSM(t)
		if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
		idx := indexes[k]
		if g.AppliedIndex() != idx {
			t.Fatalf("restored applied index %d, backup index %d", g.AppliedIndex(), idx)
		}
		want := int(idx - base)
		n, err := gstore.Count(context.Background(), "i", "c", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rooms := len(g.Rooms()); n != want || rooms != want {
			t.Fatalf("backup at %d: %d documents and %d rooms, want %d of each", idx, n, rooms, want)
		}
	}
}

// A restored backup is the source's replicated state exactly.
func TestBackupRestoresTheSameState(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	logs := lb.setupEntries(t)
	logs = append(logs, lb.batchEntry(t,
		writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc("a", map[string]any{"k": "v"})}),
		roomCmd("r1", "n1", 1),
		&Command{Kind: KindNodeHello, Node: "n3", Member: &MemberInfo{Date: 4}}))
	f.ApplyBatch(logs)
	var buf bytes.Buffer
	if err := f.Backup(func(index uint64, write func(io.Writer) error) error {
		if index != lb.next {
			t.Errorf("backup index %d, want %d", index, lb.next)
		}
		return write(&buf)
	}); err != nil {
		t.Fatal(err)
	}
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replicatedState(t, f), replicatedState(t, g)) {
		t.Fatal("restored state differs from the backed up one")
	}
}

func TestNoBackupOfAHaltedStateMachine(t *testing.T) {
	f, _, _ := newFSM(t)
	f.mu.Lock()
	f.halted = &HaltError{From: 1, To: 1, Cause: io.ErrUnexpectedEOF}
	f.mu.Unlock()
	err := f.Backup(func(uint64, func(io.Writer) error) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "halted") {
		t.Fatalf("backup of a halted FSM: %v", err)
	}
}

// A node restored from a Raft snapshot whose store part is newer than its
// in-memory part (the store is copied while Apply goes on) replays the
// entries in between: until it has, no backup can be labelled with one
// index, and Backup says so instead of mixing the two.
func TestBackupWaitsForTheReplay(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	f.ApplyBatch(lb.setupEntries(t))
	snap, err := f.Snapshot() // in-memory part: now
	if err != nil {
		t.Fatal(err)
	}
	var later []*raft.Log
	for i := range 3 {
		id := fmt.Sprintf("late%d", i)
		later = append(later, lb.batchEntry(t,
			writeCmd(storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Now: 5, Docs: doc(id, map[string]any{})}),
			roomCmd("r-"+id, "n1", 1)))
	}
	f.ApplyBatch(later)
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil { // store part: after the later entries
		t.Fatal(err)
	}
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	noop := func(uint64, func(io.Writer) error) error { return nil }
	if err := g.Backup(noop); !errors.Is(err, ErrReplaying) {
		t.Fatalf("backup during the replay: %v", err)
	}
	g.ApplyBatch(later) // Raft replays from the snapshot's index
	var buf bytes.Buffer
	var at uint64
	if err := g.Backup(func(index uint64, write func(io.Writer) error) error { at = index; return write(&buf) }); err != nil {
		t.Fatal(err)
	}
	h, _, hstore := newFSM(t)
	if err := h.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	n, _ := hstore.Count(context.Background(), "i", "c", nil)
	if at != lb.next || n != 3 || len(h.Rooms()) != 3 {
		t.Fatalf("backup at %d (want %d): %d documents, %d rooms, want 3 of each", at, lb.next, n, len(h.Rooms()))
	}
}
