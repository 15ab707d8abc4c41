package fsm

import (
	"strings"

	"github.com/korumdb/korum/storage"
)

// The order of "changed" entries for one document (Elasticsearch mode,
// storage/elasticsearch/DESIGN.md). Two nodes writing one document at the
// same moment may get their entries committed in the opposite order of
// Elasticsearch's. An item whose state is not after the last one notified
// for its document is stale: notifying it would show a state older than
// Elasticsearch's current one as the latest. It is dropped, the same way on
// every node (the decision reads only the replicated state), and its
// proposer answers its client cluster.process.unknown_outcome instead of a
// success, so no acknowledged write loses its notification.

// docWindow bounds the documents remembered (between one and two windows).
const docWindow = 20000

type docSeq struct {
	storage.SeqNo
	At uint64 `json:"at"` // position in the record order
}

func docKey(index, collection, id string) string { return index + "\x00" + collection + "\x00" + id }

// orderChanged applies the stale rule to a KindChanged command: the items
// to notify (nil when none) and the ids dropped. Deleting a collection or
// an index forgets its documents, since a new one restarts Elasticsearch's
// sequence numbers.
func (f *FSM) orderChanged(c *Command) (*storage.WriteResult, []string) {
	if c.Write == nil || c.Changed == nil || c.Changed.Err != nil {
		return nil, nil
	}
	switch c.Write.Op {
	case storage.OpCollectionDelete:
		f.forgetDocs(docKey(c.Write.Index, c.Write.Collection, ""))
		return nil, nil
	case storage.OpIndexDelete:
		names := c.Write.Indexes
		if len(names) == 0 {
			names = []string{c.Write.Index}
		}
		for _, n := range names {
			f.forgetDocs(n + "\x00")
		}
		return nil, nil
	}
	kept := &storage.WriteResult{}
	var dropped []string
	for _, it := range c.Changed.Items {
		if it.Seq != nil {
			key := docKey(c.Write.Index, c.Write.Collection, it.ID)
			if last, ok := f.st.DocSeqs[key]; ok && !it.Seq.After(last.SeqNo) {
				dropped = append(dropped, it.ID)
				continue
			}
			f.recordDoc(key, *it.Seq)
		}
		kept.Items = append(kept.Items, it)
	}
	if len(kept.Items) == 0 {
		return nil, dropped
	}
	return kept, dropped
}

func (f *FSM) recordDoc(key string, s storage.SeqNo) {
	f.st.DocSeqs[key] = docSeq{SeqNo: s, At: f.st.DocBase + uint64(len(f.st.DocOrder))}
	f.st.DocOrder = append(f.st.DocOrder, key)
	if len(f.st.DocOrder) < 2*docWindow {
		return
	}
	// Trimmed in halves, like the deduplication window; a key recorded
	// again later keeps its newer record.
	over := len(f.st.DocOrder) - docWindow
	for i, k := range f.st.DocOrder[:over] {
		if d, ok := f.st.DocSeqs[k]; ok && d.At == f.st.DocBase+uint64(i) {
			delete(f.st.DocSeqs, k)
		}
	}
	f.st.DocOrder = append([]string(nil), f.st.DocOrder[over:]...)
	f.st.DocBase += uint64(over)
}

// forgetDocs drops the records under a key prefix. Only deletions: the
// result does not depend on the map's iteration order.
func (f *FSM) forgetDocs(prefix string) {
	for k := range f.st.DocSeqs {
		if strings.HasPrefix(k, prefix) {
			delete(f.st.DocSeqs, k)
		}
	}
}

// DocSeq returns the position of the last notified state of a document, if
// it is remembered: the proposer waits for the write it builds on to be
// notified before proposing its own (the wait rule).
func (f *FSM) DocSeq(index, collection, id string) (storage.SeqNo, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.st.DocSeqs[docKey(index, collection, id)]
	return d.SeqNo, ok
}
