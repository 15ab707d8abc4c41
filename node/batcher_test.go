package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/embedded"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeLog applies entries to a real state machine, one log index per call,
// the way Raft would, and records every entry it was given.
type fakeLog struct {
	t   *testing.T
	fsm *fsm.FSM

	mu      sync.Mutex
	index   uint64
	entries [][]byte
	// gate, when set, holds each Apply until the test lets it go; entered
	// tells that an Apply reached it.
	gate    chan struct{}
	entered chan struct{}
	// fail, when set, decides the error of an Apply after the entry was
	// applied (as a lost leader would: committed, outcome unknown).
	fail func(n int) error
}

func newFakeLog(t *testing.T) *fakeLog {
	store, err := embedded.Open(filepath.Join(t.TempDir(), "docs.db"), embedded.Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &fakeLog{t: t, fsm: fsm.New(store, nil, quietLog())}
}

func (l *fakeLog) apply(ctx context.Context, cmd []byte) ([]byte, error) {
	if l.gate != nil {
		select {
		case l.entered <- struct{}{}:
		default:
		}
		select {
		case <-l.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l.mu.Lock()
	l.index++
	l.entries = append(l.entries, cmd)
	n := len(l.entries)
	out := l.fsm.ApplyBatch([]*raft.Log{{Index: l.index, Type: raft.LogCommand, Data: cmd}})[0]
	l.mu.Unlock()
	if l.fail != nil {
		if err := l.fail(n); err != nil {
			return nil, err
		}
	}
	switch r := out.(type) {
	case error:
		return nil, &raftnet.FSMError{Msg: r.Error()}
	case []byte:
		return r, nil
	}
	return nil, nil
}

// hold makes every Apply wait until release.
func (l *fakeLog) hold() {
	l.gate = make(chan struct{})
	l.entered = make(chan struct{}, 1)
}

func (l *fakeLog) release() { close(l.gate) }

// waitEntered waits for an Apply to reach the gate: the batcher has taken
// everything queued before it.
func (l *fakeLog) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-l.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no Apply reached the gate")
	}
}

func (l *fakeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *fakeLog) isBatch(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := fsm.DecodeCommand(l.entries[i])
	if err != nil {
		l.t.Fatal(err)
	}
	return c.Kind == fsm.KindBatch
}

func testNode(t *testing.T, apply func(context.Context, []byte) ([]byte, error), inFlight int) *Node {
	n := &Node{id: "n1", log: quietLog(), started: time.Unix(1, 0)}
	n.batch = newBatcher(apply, 10*time.Second, inFlight, n.log)
	// Tests that hold a batch at a gate count on its slot staying taken.
	n.batch.stall = time.Hour
	t.Cleanup(n.batch.close)
	return n
}

func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

func setupCollection(t *testing.T, n *Node) {
	t.Helper()
	for _, w := range []storage.Write{{Op: storage.OpIndexCreate, Index: "i"},
		{Op: storage.OpCollectionCreate, Index: "i", Collection: "c", Mappings: json.RawMessage(`{}`)}} {
		if err := n.propose(t.Context(), &fsm.Command{Kind: fsm.KindWrite, Write: &w}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func createDoc(id string) *fsm.Command {
	return &fsm.Command{Kind: fsm.KindWrite, Meta: &realtime.Meta{RequestID: id},
		Write: &storage.Write{Op: storage.OpDocCreate, Index: "i", Collection: "c", Docs: []storage.DocWrite{{ID: id, Body: map[string]any{"id": id}}}}}
}

// Proposals made while a batch is in flight leave together in one entry,
// and every caller gets its own command's result.
func TestBatcherGroupsAndRoutesResults(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 1)
	setupCollection(t, n)
	if fl.isBatch(0) {
		t.Fatal("a lone proposal must go as a plain entry")
	}

	fl.hold()
	// One proposal takes the only slot and waits at the gate; the others
	// queue behind it.
	const callers = 40
	results := make(chan error, callers+1)
	go func() { results <- n.propose(t.Context(), createDoc("first"), nil) }()
	fl.waitEntered(t)
	var got sync.Map
	for i := range callers {
		go func() {
			id := "doc" + strconv.Itoa(i)
			var resp fsm.Response
			err := n.propose(t.Context(), createDoc(id), &resp)
			if err == nil {
				if resp.Write == nil || len(resp.Write.Items) != 1 {
					err = fmt.Errorf("%s: result %+v", id, resp.Write)
				} else {
					got.Store(id, resp.Write.Items[0].ID)
				}
			}
			results <- err
		}()
	}
	waitFor(t, "every proposal to queue", func() bool { return n.batch.queued() == callers })
	fl.release()
	for range callers + 1 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	for i := range callers {
		id := "doc" + strconv.Itoa(i)
		if v, _ := got.Load(id); v != id {
			t.Fatalf("caller %s got the result of %v", id, v)
		}
	}
	if c := fl.count(); c != 4 {
		t.Fatalf("%d entries, want 4 (2 setup, the first, one batch of %d)", c, callers)
	}
	if !fl.isBatch(3) {
		t.Fatal("the queued proposals must leave as one batch")
	}
}

// Batches respect the size cap, in commands and in bytes.
func TestBatcherCaps(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 1)
	n.batch.maxCount = 3
	fl.hold()
	var wg sync.WaitGroup
	propose := func(c *fsm.Command) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.propose(t.Context(), c, nil); err != nil {
				t.Error(err)
			}
		}()
	}
	propose(&fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i", Collection: "c"}})
	fl.waitEntered(t)
	for range 7 {
		propose(&fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i", Collection: "c"}})
	}
	waitFor(t, "7 queued", func() bool { return n.batch.queued() == 7 })
	fl.release()
	wg.Wait()
	if c := fl.count(); c != 4 {
		t.Fatalf("%d entries, want 4 (1, then 3+3+1)", c)
	}

	// A command larger than the byte cap still goes, alone.
	n.batch.maxBytes = 10
	fl.hold()
	propose(&fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i", Collection: "c"}})
	fl.waitEntered(t)
	propose(&fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i", Collection: "c"}})
	propose(&fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i", Collection: "c"}})
	waitFor(t, "2 queued", func() bool { return n.batch.queued() == 2 })
	fl.release()
	wg.Wait()
	if c := fl.count(); c != 7 {
		t.Fatalf("%d entries, want 7 (each over the byte cap alone)", c)
	}
}

// A sub-command the state machine refuses fails for its caller only.
func TestBatcherFailingSubCommandFailsAlone(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 1)
	setupCollection(t, n)
	fl.hold()
	go n.propose(t.Context(), createDoc("first"), nil)
	fl.waitEntered(t)
	bad := make(chan error, 1)
	good := make(chan error, 1)
	go func() { bad <- n.propose(t.Context(), &fsm.Command{Kind: "mystery"}, nil) }()
	waitFor(t, "the bad one to queue", func() bool { return n.batch.queued() == 1 })
	go func() {
		var resp fsm.Response
		err := n.propose(t.Context(), createDoc("ok"), &resp)
		if err == nil && (resp.Write == nil || len(resp.Write.Items) != 1 || resp.Write.Items[0].Err != nil) {
			err = fmt.Errorf("result %+v", resp.Write)
		}
		good <- err
	}()
	waitFor(t, "the good one to queue", func() bool { return n.batch.queued() == 2 })
	fl.release()
	var fe *raftnet.FSMError
	if err := <-bad; !errors.As(err, &fe) {
		t.Fatalf("the unknown kind: %v, want an FSMError", err)
	}
	if err := <-good; err != nil {
		t.Fatalf("its neighbour in the batch: %v", err)
	}
}

// When a batch's outcome is unknown (committed, but the leader was lost
// before answering), each caller retries its own command with its own key
// and gets the one real result: nothing is applied twice.
func TestBatcherUnknownOutcomeRetriesApplyOnce(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 1)
	setupCollection(t, n)
	fl.fail = func(k int) error {
		if k == 4 {
			return fmt.Errorf("%w: %w", raftnet.ErrUnknownOutcome, raftnet.ErrLeadershipLost)
		}
		return nil
	}
	fl.hold()
	first := make(chan error, 1)
	go func() { first <- n.propose(t.Context(), createDoc("first"), nil) }()
	fl.waitEntered(t)
	const callers = 5
	errs := make(chan error, callers)
	for i := range callers {
		go func() {
			id := "d" + strconv.Itoa(i)
			var resp fsm.Response
			err := n.propose(t.Context(), createDoc(id), &resp)
			if err == nil && (resp.Write == nil || len(resp.Write.Items) != 1 || resp.Write.Items[0].Err != nil || resp.Write.Items[0].ID != id) {
				err = fmt.Errorf("%s: result %+v", id, resp.Write)
			}
			errs <- err
		}()
	}
	waitFor(t, "every proposal to queue", func() bool { return n.batch.queued() == callers })
	fl.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatalf("a retried create must return its first result (document_already_exists means it applied twice): %v", err)
		}
	}
	if fl.count() < 5 {
		t.Fatalf("the lost batch was not retried: %d entries", fl.count())
	}
}

// A caller who gives up while its proposal is still queued is told it was
// never sent, and the proposal does not reach the log.
func TestBatcherAbandonedProposalIsNotSent(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 1)
	fl.hold()
	go n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i"}}, nil)
	fl.waitEntered(t)
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error, 1)
	go func() {
		gaveUp <- n.propose(ctx, &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "abandoned"}}, nil)
	}()
	waitFor(t, "it to queue", func() bool { return n.batch.queued() == 1 })
	cancel()
	err := <-gaveUp
	if !errors.Is(err, raftnet.ErrNoLeader) && !errors.Is(err, context.Canceled) {
		t.Fatalf("a proposal abandoned in the queue: %v", err)
	}
	fl.release()
	if err := n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "later"}}, nil); err != nil {
		t.Fatal(err)
	}
	if c := fl.count(); c != 2 {
		t.Fatalf("%d entries, want 2: the abandoned proposal must not be sent", c)
	}
}

// Closing the batcher fails what is queued as never sent, and later
// proposals at once.
func TestBatcherClose(t *testing.T) {
	fl := newFakeLog(t)
	fl.hold()
	n := testNode(t, fl.apply, 1)
	go n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "i"}}, nil)
	fl.waitEntered(t)
	queued := make(chan error, 1)
	go func() { queued <- n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish}, nil) }()
	waitFor(t, "it to queue", func() bool { return n.batch.queued() == 1 })
	n.batch.close()
	if err := <-queued; !errors.Is(err, raftnet.ErrShutdown) {
		t.Fatalf("queued at close: %v", err)
	}
	if err := n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish}, nil); !errors.Is(err, raftnet.ErrShutdown) {
		t.Fatalf("after close: %v", err)
	}
	fl.release()
}

// Many concurrent callers with several batches in flight: every command
// applies exactly once and every caller gets its own result.
func TestBatcherConcurrentCallers(t *testing.T) {
	fl := newFakeLog(t)
	n := testNode(t, fl.apply, 3)
	setupCollection(t, n)
	const callers, each = 16, 25
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				id := fmt.Sprintf("c%d-%d", c, k)
				var resp fsm.Response
				if err := n.propose(t.Context(), createDoc(id), &resp); err != nil {
					t.Error(err)
					return
				}
				if resp.Write == nil || len(resp.Write.Items) != 1 || resp.Write.Items[0].ID != id || resp.Write.Items[0].Err != nil {
					t.Errorf("%s got %+v", id, resp.Write)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c := fl.count(); c > 2+callers*each {
		t.Fatalf("%d entries for %d commands", c, callers*each)
	}
}

// A batch stuck on a vanished leader (its forward only ends with the
// deadline) does not hold up the proposals queued behind it.
func TestBatcherStalledBatchGivesItsSlotUp(t *testing.T) {
	fl := newFakeLog(t)
	stuck := make(chan struct{})
	var calls sync.Mutex
	first := true
	apply := func(ctx context.Context, cmd []byte) ([]byte, error) {
		calls.Lock()
		isFirst := first
		first = false
		calls.Unlock()
		if isFirst {
			select {
			case <-stuck:
			case <-ctx.Done():
			}
			return nil, fmt.Errorf("%w: connection to the old leader", raftnet.ErrUnknownOutcome)
		}
		return fl.apply(ctx, cmd)
	}
	n := testNode(t, apply, 1)
	n.batch.stall = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- n.propose(ctx, &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "stuck"}}, nil)
	}()
	waitFor(t, "the first batch to be sent", func() bool {
		calls.Lock()
		defer calls.Unlock()
		return !first
	})
	if err := n.propose(t.Context(), &fsm.Command{Kind: fsm.KindPublish, Publish: &fsm.Publish{Index: "next"}}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-firstDone:
		t.Fatalf("the stuck proposal returned early: %v", err)
	default:
	}
	cancel()
	close(stuck)
	if err := <-firstDone; !errors.Is(err, raftnet.ErrUnknownOutcome) {
		t.Fatalf("the stuck proposal: %v, want an unknown outcome", err)
	}
}
