package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/elasticsearch"
)

// esHealthEvery is how often a node in elasticsearch mode checks that
// Elasticsearch answers; /_ready says 503 while it does not.
const esHealthEvery = 2 * time.Second

// esRepropose bounds the background re-proposal of a "changed" entry whose
// commit failed after Elasticsearch accepted the write.
const esRepropose = time.Minute

// openElasticsearch connects to Elasticsearch; a node that cannot reach it
// does not start (cmd/node exits with code 3).
func (n *Node) openElasticsearch(ctx context.Context) error {
	c := n.cfg.Storage.Elasticsearch
	e, err := elasticsearch.New(elasticsearch.Options{URLs: c.URLs, Username: c.Username, Password: c.Password,
		APIKey: c.APIKey, CACertFile: c.CACert, InsecureSkipVerify: !c.TLSVerify, RequestTimeout: c.RequestTimeout,
		MaxRetries: retries(c.MaxRetries), DocumentsFetchCount: n.cfg.Limits.DocumentsFetchCount, Logger: n.log,
		// Linearizable reads (the default) see every acknowledged write;
		// "local" reads get Elasticsearch's near-realtime search, as Kuzzle.
		RefreshBeforeSearch: n.cfg.Storage.ReadConsistency != "local"})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
	defer cancel()
	if err := e.Ping(pctx); err != nil {
		return fmt.Errorf("cannot reach Elasticsearch at %s (storage.elasticsearch.urls): %w", strings.Join(c.URLs, ","), err)
	}
	n.es, n.reader = e, e
	go n.watchElasticsearch()
	return nil
}

// watchElasticsearch keeps esDown current, logging each change once.
func (n *Node) watchElasticsearch() {
	t := time.NewTicker(esHealthEvery)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), esHealthEvery)
		err := n.es.Ping(ctx)
		cancel()
		if down := err != nil; n.esDown.Swap(down) != down {
			if down {
				n.log.Error("Elasticsearch does not answer: the node is not ready until it does", "err", err)
			} else {
				n.log.Info("Elasticsearch answers again")
			}
		}
	}
}

// esWrite performs a write in Elasticsearch, then puts its outcome through
// the log as a "changed" entry and acknowledges only once that entry is
// committed (storage/elasticsearch/DESIGN.md). The documents it writes stay
// locked on this node until then, so two writes to one document through
// this node are notified in Elasticsearch's order.
func (n *Node) esWrite(ctx context.Context, w storage.Write, meta realtime.Meta, silent bool) (*storage.WriteResult, error) {
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	unlock := n.esDocs.lock(w)
	res, err := n.es.Execute(ctx, &w)
	if err != nil || res.Err != nil {
		unlock()
		return res, err
	}
	// A silent write goes through the log too (it notifies nobody): the
	// next write to its documents orders itself after it (fsm/docseq.go).
	changed := compactResult(res)
	switch w.Op {
	case storage.OpCollectionDelete, storage.OpIndexDelete:
		// The documents' order records go with them (fsm/docseq.go).
		changed = &storage.WriteResult{}
	}
	if changed == nil {
		unlock()
		return res, nil
	}
	n.waitForPrevious(ctx, w.Index, w.Collection, changed)
	cmd := &fsm.Command{Kind: fsm.KindChanged, Write: &storage.Write{Op: w.Op, Index: w.Index, Collection: w.Collection,
		Indexes: w.Indexes}, Meta: &meta, Changed: changed, Silent: silent}
	var resp fsm.Response
	if err := n.propose(ctx, cmd, &resp); err != nil {
		// Elasticsearch holds the write; its notification is not
		// committed. The client must not hear of a success, and the entry
		// goes on being proposed under the same key (applied once).
		go n.reproposeChanged(cmd, unlock)
		return nil, kerror.Wrap(err, "cluster.process.unknown_outcome")
	}
	unlock()
	if len(resp.Dropped) > 0 {
		// Elasticsearch holds these writes, but a later write to the same
		// documents was notified first: theirs were not, so the client
		// must not hear of a success.
		return nil, kerror.Wrap(fmt.Errorf("documents %v were written again on another node before this write's notification committed", resp.Dropped),
			"cluster.process.unknown_outcome")
	}
	return res, nil
}

// esWaitPrevious bounds the wait rule.
const esWaitPrevious = 2 * time.Second

// waitForPrevious is the wait rule (storage/elasticsearch/DESIGN.md): an
// item that replaced a state this node's log has not notified yet (another
// node wrote it and has not committed its entry) waits, bounded, for that
// entry, so that the two are notified in Elasticsearch's order rather than
// this one being dropped as stale.
func (n *Node) waitForPrevious(ctx context.Context, index, collection string, changed *storage.WriteResult) {
	deadline := time.Now().Add(esWaitPrevious)
	for _, it := range changed.Items {
		if it.PrevSeq == nil {
			continue
		}
		for {
			last, ok := n.fsm.DocSeq(index, collection, it.ID)
			if !ok || !it.PrevSeq.After(last) || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// reproposeChanged retries a "changed" entry in the background, keeping
// its documents locked until it commits or esRepropose passes.
func (n *Node) reproposeChanged(cmd *fsm.Command, unlock func()) {
	defer unlock()
	deadline := time.Now().Add(esRepropose)
	for time.Now().Before(deadline) {
		select {
		case <-n.done:
			return
		case <-time.After(200 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Limits.RequestTimeout)
		err := n.propose(ctx, cmd, nil)
		cancel()
		if err == nil {
			n.log.Info("a write's notification committed after its request failed", "key", cmd.Key)
			return
		}
		if errors.Is(err, context.Canceled) {
			return
		}
	}
	n.log.Error("a write stored in Elasticsearch could not be notified: the log did not commit its entry",
		"key", cmd.Key, "index", cmd.Write.Index, "collection", cmd.Write.Collection)
}

// compactResult keeps what the other nodes need to notify a write: the
// successful items with their before/after states. nil when nothing
// changed.
func compactResult(res *storage.WriteResult) *storage.WriteResult {
	out := &storage.WriteResult{}
	for _, it := range res.Items {
		if it.Err == nil && (it.Before != nil || it.After != nil) {
			out.Items = append(out.Items, it)
		}
	}
	if len(out.Items) == 0 {
		return nil
	}
	return out
}

// docLocks serialises, on one node, the writes to one document from the
// Elasticsearch write to the commit of their log entry.
type docLocks struct {
	mu   sync.Mutex
	held map[string]*docLock
}

type docLock struct {
	mu   sync.Mutex
	refs int
}

// lock takes the locks of the documents w names (in a fixed order, so two
// m* writes cannot deadlock) and returns their release. By-query writes
// name no document beforehand and take none.
func (l *docLocks) lock(w storage.Write) func() {
	keys := make([]string, 0, len(w.Docs))
	seen := map[string]bool{}
	for _, d := range w.Docs {
		k := w.Index + "\x00" + w.Collection + "\x00" + d.ID
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	locks := make([]*docLock, len(keys))
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*docLock{}
	}
	for i, k := range keys {
		dl := l.held[k]
		if dl == nil {
			dl = &docLock{}
			l.held[k] = dl
		}
		dl.refs++
		locks[i] = dl
	}
	l.mu.Unlock()
	for _, dl := range locks {
		dl.mu.Lock()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, dl := range locks {
				dl.mu.Unlock()
			}
			l.mu.Lock()
			for i, k := range keys {
				if locks[i].refs--; locks[i].refs == 0 {
					delete(l.held, k)
				}
			}
			l.mu.Unlock()
		})
	}
}

// FullQueryDSL tells the API whether search bodies reach the engine whole
// (api.FullDSL): they do in elasticsearch mode.
func (n *Node) FullQueryDSL() bool { return n.es != nil }

// retries turns storage.elasticsearch.maxRetries (0: none) into the
// engine's option (0: its default, negative: none).
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
