package embedded

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/korumdb/korum/storage"
)

// endingCtx is a context whose Err turns to Canceled at its n-th call, so
// a test can end a request in the middle of a scan and count how many more
// times the scan looked.
type endingCtx struct {
	context.Context
	calls, n int
}

func (c *endingCtx) Err() error {
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// TestScanStopsWithItsRequest: a search, count or scroll page stops
// scanning as soon as its context ends, instead of reading the rest of the
// collection for a client that has gone.
func TestScanStopsWithItsRequest(t *testing.T) {
	h := newHarness(t, Options{})
	h.setup()
	docs := make([]storage.DocWrite, 1000)
	for i := range docs {
		docs[i] = storage.DocWrite{ID: fmt.Sprintf("d%04d", i), Body: obj(`{"n":1}`)}
	}
	h.one(docW(storage.OpDocCreate, 1, docs...))
	long := `{"term":{"` + strings.TrimSuffix(strings.Repeat("a.", 100000), ".") + `":1}}`
	for name, call := range map[string]func(ctx context.Context) error{
		"search": func(ctx context.Context) error {
			_, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: []byte(long), Size: 10})
			return err
		},
		"count": func(ctx context.Context) error {
			_, err := h.e.Count(ctx, "idx", "col", nil)
			return err
		},
		"sorted search": func(ctx context.Context) error {
			_, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Sort: []byte(`[{"n":"desc"}]`), Size: 10})
			return err
		},
	} {
		ctx := &endingCtx{Context: context.Background(), n: 3}
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v, want the context's error", name, err)
		}
		// It looked once every scanCheckEvery documents and stopped at
		// the first look that saw the end: 3 looks of the 63 a full
		// scan of 1000 documents makes.
		if ctx.calls != 3 {
			t.Fatalf("%s: the context was consulted %d times", name, ctx.calls)
		}
	}
	// With a live context the long path search completes over every
	// document (its work is linear: see storage/query).
	res, err := h.e.Search(ctx, "idx", "col", storage.SearchRequest{Query: []byte(long), Size: 10})
	if err != nil || res.Total != 0 {
		t.Fatalf("search = %+v, %v", res, err)
	}
}
