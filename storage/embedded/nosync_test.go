package embedded

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/korumdb/korum/storage"
)

// A NoSync engine computes exactly what a synced one does: only the
// moment its pages reach the disk differs. Its snapshot restores into a
// synced engine, and its periodic sync runs alongside applies.
func TestNoSyncEngineMatchesASyncedOne(t *testing.T) {
	synced := newHarness(t, Options{})
	loose := newHarness(t, Options{NoSync: true, SyncInterval: time.Millisecond})
	for _, batch := range workload() {
		ra, rb := synced.apply(batch...), loose.apply(batch...)
		if js(ra) != js(rb) {
			t.Fatalf("results differ:\n%s\n%s", js(ra), js(rb))
		}
	}
	want := dump(t, synced.e)
	if got := dump(t, loose.e); got != want {
		t.Fatalf("state differs:\n%s\n%s", got, want)
	}
	var snap bytes.Buffer
	if err := loose.e.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	c := newHarness(t, Options{})
	if err := c.e.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, c.e); got != want {
		t.Fatalf("restored state differs:\n%s\n%s", got, want)
	}
	// Closed, the file is complete (Close syncs it).
	applied := loose.e.AppliedIndex()
	if err := loose.e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := Open(loose.path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	loose.e = e
	if e.AppliedIndex() != applied || dump(t, e) != want {
		t.Fatalf("reopened NoSync engine: applied %d (want %d)", e.AppliedIndex(), applied)
	}
	// Its file holds no free page list (bbolt rebuilt it when opening):
	// writes that reuse freed pages still end where the synced engine's do.
	for _, batch := range workload()[1:4] {
		synced.apply(batch...)
		loose.apply(batch...)
	}
	if a, b := dump(t, synced.e), dump(t, loose.e); a != b {
		t.Fatalf("state differs after reopening:\n%s\n%s", b, a)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	// Absent: nothing to do.
	if err := Remove(filepath.Join(dir, "none.db"), time.Second); err != nil {
		t.Fatal(err)
	}
	// A torn file that does not even open is removed.
	torn := filepath.Join(dir, "torn.db")
	if err := os.WriteFile(torn, []byte(strings.Repeat("torn", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(torn, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Fatalf("torn file still there: %v", err)
	}
	// A file an engine holds open (a running node) is refused and kept.
	h := newHarness(t, Options{NoSync: true})
	h.setup()
	h.one(docW(storage.OpDocCreate, 1, storage.DocWrite{ID: "a", Body: obj(`{"x":1}`)}))
	if err := Remove(h.path, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "held by another process") {
		t.Fatalf("removing an open store: %v", err)
	}
	if _, err := h.e.Get(ctx, "idx", "col", "a"); err != nil {
		t.Fatal(err)
	}
	// Closed, it goes.
	h.e.Close()
	if err := Remove(h.path, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.path); !os.IsNotExist(err) {
		t.Fatalf("closed store still there: %v", err)
	}
}
