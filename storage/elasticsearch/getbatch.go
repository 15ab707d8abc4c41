package elasticsearch

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/korumdb/korum/storage"
)

// getBatcher coalesces concurrent single-document reads into _mget
// requests. Elasticsearch spends most of a small GET's cost on the request
// itself (HTTP, thread pool hand-off, response), so under load one _mget of
// twenty ids costs it far less than twenty GETs: measured, this is what
// keeps a node in elasticsearch mode close to a client talking to
// Elasticsearch directly (docs/benchmarks.md).
//
// While fewer than maxDirect reads are in flight, a read goes out at once
// as a plain GET and nothing changes for a lightly loaded node. Past that,
// reads queue per collection, and each read that completes sends the
// oldest queue as one _mget (a realtime read, like GET). A read therefore
// waits at most for one round trip beyond its own.
//
// A read whose batch fails, or whose item carries an error, is re-sent
// alone, so that every error keeps the exact mapping of a single GET.
type getBatcher struct {
	e         *Engine
	maxDirect int // plain GETs in flight before reads start to queue
	maxBatch  int // ids per _mget

	batches atomic.Uint64 // _mget requests sent

	mu       sync.Mutex
	inflight int
	queue    []*getBatch          // oldest first
	open     map[string]*getBatch // the batch still taking ids, by alias
}

type getBatch struct {
	key               string // its alias, the key of open
	index, collection string
	ids               []string
	waiters           []chan getResult
}

type getResult struct {
	doc   *storage.Document
	found bool
	retry bool // read it alone: the batch failed, or its item has an error
}

func newGetBatcher(e *Engine, maxDirect, maxBatch int) *getBatcher {
	return &getBatcher{e: e, maxDirect: maxDirect, maxBatch: maxBatch, open: map[string]*getBatch{}}
}

// get reads one document through the batcher. direct reads it with a
// plain GET (the engine's single-document path).
func (b *getBatcher) get(ctx context.Context, index, collection, id string,
	direct func() (*storage.Document, error)) (*storage.Document, bool, error) {
	b.mu.Lock()
	if b.inflight < b.maxDirect {
		b.inflight++
		b.mu.Unlock()
		doc, err := direct()
		b.done()
		return doc, false, err
	}
	key := alias(index, collection)
	batch := b.open[key]
	if batch == nil {
		batch = &getBatch{key: key, index: index, collection: collection}
		b.open[key] = batch
		b.queue = append(b.queue, batch)
	}
	ch := make(chan getResult, 1)
	batch.ids = append(batch.ids, id)
	batch.waiters = append(batch.waiters, ch)
	if len(batch.ids) >= b.maxBatch {
		delete(b.open, key) // full: later reads start a new batch
	}
	b.mu.Unlock()
	select {
	case r := <-ch:
		if r.retry {
			doc, err := direct()
			return doc, false, err
		}
		return r.doc, !r.found, nil
	case <-ctx.Done():
		return nil, false, ctx.Err() // the batch still completes; its answer is dropped
	}
}

// done ends one in-flight request and sends queued batches in its place.
func (b *getBatcher) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inflight--
	for b.inflight < b.maxDirect && len(b.queue) > 0 {
		batch := b.queue[0]
		b.queue[0] = nil
		b.queue = b.queue[1:]
		if b.open[batch.key] == batch {
			delete(b.open, batch.key)
		}
		b.inflight++
		go b.run(batch)
	}
}

// run sends one batch as a _mget and answers its waiters. Its context is
// not any one waiter's: a waiter that gives up must not fail the others.
func (b *getBatcher) run(batch *getBatch) {
	defer b.done()
	b.batches.Add(1)
	docs, err := b.e.mget(context.Background(), batch.index, batch.collection, batch.ids)
	for i, ch := range batch.waiters {
		if err != nil || i >= len(docs) || docs[i].ID != batch.ids[i] || len(docs[i].Error) > 0 {
			ch <- getResult{retry: true}
			continue
		}
		d := docs[i]
		if !d.Found {
			ch <- getResult{}
			continue
		}
		ch <- getResult{found: true, doc: &storage.Document{ID: d.ID, Version: d.Version, Source: d.Source}}
	}
}
