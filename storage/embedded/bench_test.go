package embedded

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/korumdb/korum/storage"
)

func benchEngine(b *testing.B) *Engine { return benchEngineWith(b, Options{}) }

func benchEngineWith(b *testing.B, opts Options) *Engine {
	b.Helper()
	e, err := Open(filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	r := mustApply(b, e, 1, []storage.Write{
		{Op: storage.OpIndexCreate, Index: "idx"},
		{Op: storage.OpCollectionCreate, Index: "idx", Collection: "col"},
	})
	if r[1].Err != nil {
		b.Fatal(r[1].Err)
	}
	return e
}

func benchDoc(i int) map[string]any {
	return map[string]any{"name": fmt.Sprintf("user %d", i), "age": i % 90, "city": "Paris",
		"tags": []any{"a", "b"}, "address": map[string]any{"street": "1 rue de la Paix", "zip": "75002"}}
}

func BenchmarkGet(b *testing.B) {
	e := benchEngine(b)
	const n = 10000
	for i := 0; i < n; i += 500 {
		var docs []storage.DocWrite
		for j := i; j < i+500; j++ {
			docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("doc-%06d", j), Body: benchDoc(j)})
		}
		mustApply(b, e, uint64(2+i), []storage.Write{{Op: storage.OpDocCreate, Index: "idx", Collection: "col", Docs: docs}})
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%06d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Get(ctx, "idx", "col", ids[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyCreateBatch64 measures one durable commit (fsync) of 64
// document creations, the shape of a busy Raft entry.
func BenchmarkApplyCreateBatch64(b *testing.B) {
	e := benchEngine(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		docs := make([]storage.DocWrite, 64)
		for j := range docs {
			docs[j] = storage.DocWrite{ID: fmt.Sprintf("d-%d-%d", i, j), Body: benchDoc(j)}
		}
		r := mustApply(b, e, uint64(2+i), []storage.Write{{Op: storage.OpDocCreate, Index: "idx", Collection: "col", Now: 1, Docs: docs}})
		if r[0].Err != nil || r[0].Items[0].Err != nil {
			b.Fatal(r[0])
		}
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkApplyCreateNoSync measures what a node pays per replicated
// document:create under load: commits of 8 single-document creates
// (several log entries applied together), without fsync, as a node runs
// its store.
func BenchmarkApplyCreateNoSync(b *testing.B) {
	e := benchEngineWith(b, Options{NoSync: true, SyncInterval: time.Hour})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws := make([]storage.Write, 8)
		for j := range ws {
			ws[j] = storage.Write{Op: storage.OpDocCreate, Index: "idx", Collection: "col", Now: 1,
				Docs: []storage.DocWrite{{ID: fmt.Sprintf("d-%d-%d", i, j), Body: map[string]any{"client": j, "n": i}}}}
		}
		r := mustApply(b, e, uint64(2+i), ws)
		if r[0].Err != nil || r[0].Items[0].Err != nil {
			b.Fatal(r[0])
		}
	}
	b.ReportMetric(float64(b.N*8)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkSearch10k(b *testing.B) {
	e := benchEngine(b)
	for i := 0; i < 10000; i += 500 {
		var docs []storage.DocWrite
		for j := i; j < i+500; j++ {
			docs = append(docs, storage.DocWrite{ID: fmt.Sprintf("doc-%06d", j), Body: benchDoc(j)})
		}
		mustApply(b, e, uint64(2+i), []storage.Write{{Op: storage.OpDocCreate, Index: "idx", Collection: "col", Docs: docs}})
	}
	req := storage.SearchRequest{Query: json.RawMessage(`{"bool":{"filter":[{"range":{"age":{"gte":30,"lt":40}}},{"term":{"city":"Paris"}}]}}`),
		Sort: json.RawMessage(`[{"age":"desc"}]`), Size: 20}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Search(ctx, "idx", "col", req); err != nil {
			b.Fatal(err)
		}
	}
}
