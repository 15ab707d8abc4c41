package elasticsearch

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/korumdb/korum/storage"
)

// Concurrent gets past the batcher's direct slots are coalesced into _mget
// requests; each caller must still get its own document, its own
// not_found, or the collection's error, exactly as a single GET answers.
func TestGetBatching(t *testing.T) {
	e := newEngine(t)
	e.gets = newGetBatcher(e, 1, 8) // one GET in flight: everything else batches
	ctx := context.Background()
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	var docs []storage.DocWrite
	for i := range 20 {
		docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("d%02d", i), Body: map[string]any{"n": float64(i)}})
	}
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for", Docs: docs})

	var batched sync.WaitGroup
	errs := make(chan error, 300)
	for round := range 5 {
		for i := range 30 { // d00..d19 exist, d20..d29 do not
			batched.Add(1)
			go func() {
				defer batched.Done()
				id := fmt.Sprintf("d%02d", i)
				coll := "c"
				if i%10 == 9 && round%2 == 1 {
					coll = "missing"
				}
				d, err := e.Get(ctx, idx, coll, id)
				switch {
				case coll == "missing":
					if errID(err) != "services.storage.unknown_collection" {
						errs <- fmt.Errorf("%s in a missing collection: %v", id, err)
					}
				case i >= 20:
					if errID(err) != "services.storage.not_found" {
						errs <- fmt.Errorf("missing %s: %v", id, err)
					}
				case err != nil || d.ID != id || d.Source["n"] != float64(i) || d.Version != 1:
					errs <- fmt.Errorf("%s: %+v %v", id, d, err)
				}
			}()
		}
	}
	batched.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b := e.gets
	if b.batches.Load() == 0 {
		t.Fatal("no read was batched")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inflight != 0 || len(b.queue) != 0 || len(b.open) != 0 {
		t.Fatalf("batcher not drained: %d in flight, %d queued, %d open", b.inflight, len(b.queue), len(b.open))
	}
}

// A caller that gives up does not wait for its batch, and the batch still
// answers the others.
func TestGetBatchingCancel(t *testing.T) {
	e := newEngine(t)
	e.gets = newGetBatcher(e, 1, 8)
	idx := testIndex(t, e)
	mustWrite(t, e, storage.Write{Op: storage.OpCollectionCreate, Index: idx, Collection: "c"})
	mustWrite(t, e, storage.Write{Op: storage.OpDocCreate, Index: idx, Collection: "c", Refresh: "wait_for",
		Docs: []storage.DocWrite{{ID: "a", Body: map[string]any{}}}})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// Occupy the direct slot so that the next reads queue.
	e.gets.mu.Lock()
	e.gets.inflight++
	e.gets.mu.Unlock()
	if _, err := e.Get(cancelled, idx, "c", "a"); err != context.Canceled {
		t.Fatalf("cancelled get: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.Get(context.Background(), idx, "c", "a")
		done <- err
	}()
	e.gets.done() // frees the slot: the queued batch (both reads) goes out
	if err := <-done; err != nil {
		t.Fatalf("get after a cancelled one: %v", err)
	}
}
