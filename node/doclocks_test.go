package node

import (
	"testing"
	"time"

	"github.com/korumdb/korum/storage"
)

func TestDocLocksSerialiseOneDocumentOnly(t *testing.T) {
	var l docLocks
	w := func(ids ...string) storage.Write {
		var docs []storage.DocWrite
		for _, id := range ids {
			docs = append(docs, storage.DocWrite{ID: id})
		}
		return storage.Write{Index: "i", Collection: "c", Docs: docs}
	}
	release := l.lock(w("b", "a", "a")) // duplicates and order do not matter
	other := make(chan struct{})
	go func() { l.lock(w("z"))(); close(other) }()
	select {
	case <-other:
	case <-time.After(10 * time.Second):
		t.Fatal("a write to another document waited for the lock of a and b")
	}
	same := make(chan struct{})
	go func() { l.lock(w("a", "c"))(); close(same) }()
	// Polled, not slept on: the second writer must still be waiting while
	// the first holds a.
	for range 50 {
		select {
		case <-same:
			t.Fatal("a second write to a document did not wait for the first")
		default:
		}
		time.Sleep(time.Millisecond)
	}
	release()
	release() // idempotent
	select {
	case <-same:
	case <-time.After(10 * time.Second):
		t.Fatal("releasing the lock did not let the second write through")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) != 0 {
		t.Fatalf("locks left behind: %v", l.held)
	}
}
