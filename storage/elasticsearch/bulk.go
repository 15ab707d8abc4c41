package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// docsWrite runs the per-document writes of w (m* actions, bulk:import,
// several documents at once) in two requests rather than two per document:
// one _mget reads every document with its sequence position, one _bulk
// writes each item under the same guards as docWrite (op_type create, or
// if_seq_no/if_primary_term of the state it was computed from). An item
// refused with a version conflict (another writer got in first, or the
// batch names a document twice) goes through docWrite alone, after the
// batch, in request order; so does a conflict after a lost answer, which
// resolveLost examines first. A single document takes docWrite directly.
func (e *Engine) docsWrite(ctx context.Context, w *storage.Write) (*storage.WriteResult, error) {
	res := &storage.WriteResult{Items: make([]storage.ItemResult, len(w.Docs))}
	if len(w.Docs) == 1 {
		it, err := e.docWrite(ctx, w, &w.Docs[0], nil)
		if err != nil {
			return nil, err
		}
		res.Items[0] = it
		return res, nil
	}
	if err := e.docsWriteKnown(ctx, w, w.Docs, nil, res.Items); err != nil {
		return nil, err
	}
	return res, nil
}

// bulkChunk bounds the documents of one _mget and one _bulk request.
const bulkChunk = 1000

// docsWriteKnown writes docs, in chunks, into items (one per document).
// known, when set, holds the documents as a search just read them (the
// by-query writes), which saves the _mget.
func (e *Engine) docsWriteKnown(ctx context.Context, w *storage.Write, docs []storage.DocWrite, known map[string]*stored, items []storage.ItemResult) error {
	for start := 0; start < len(docs); start += bulkChunk {
		end := min(start+bulkChunk, len(docs))
		cur := known
		var err error
		if cur == nil && w.Op == storage.OpDocCreate {
			// Creates need no read (docWrite): a document that exists
			// fails its item with a conflict, redone alone.
			cur = map[string]*stored{}
		} else if cur == nil {
			cur, err = e.mgetForWrite(ctx, w, docs[start:end])
		}
		if err == nil {
			err = e.bulkWrite(ctx, w, docs[start:end], cur, items[start:end])
		}
		if err != nil && start == 0 {
			return err
		}
		if err != nil {
			// Earlier chunks are in Elasticsearch: their items must reach
			// the log, so the failure is the remaining items' own.
			for i := start; i < len(docs); i++ {
				items[i] = storage.ItemResult{ID: docs[i].ID, Err: kerror.From(err)}
			}
			return nil
		}
	}
	return nil
}

// bulkWrite writes docs, computed from their states cur, in one _bulk.
func (e *Engine) bulkWrite(ctx context.Context, w *storage.Write, docs []storage.DocWrite, cur map[string]*stored, items []storage.ItemResult) error {
	notFound := func(id string) func() *kerror.Error {
		return func() *kerror.Error { return kerror.New("services.storage.not_found", id, w.Index, w.Collection) }
	}
	type planned struct {
		pos  int
		cur  *stored
		src  map[string]any
		upd  []string
		crtd bool
	}
	var plan []planned
	var redo []int // positions written alone after the batch, in order
	sent := map[string]bool{}
	var nd bytes.Buffer
	index := alias(w.Index, w.Collection)
	for i := range docs {
		d := &docs[i]
		items[i].ID = d.ID
		if kerr := checkID(d.ID); kerr != nil {
			items[i].Err = kerr
			continue
		}
		if sent[d.ID] {
			// Named again after a write of this batch: computed from the
			// state that write leaves, so after it, alone.
			redo = append(redo, i)
			continue
		}
		c := cur[d.ID]
		var storedSrc map[string]any
		if c != nil {
			storedSrc = c.doc.Source
		}
		src, fields, created, kerr := storage.NewSource(w, d, storedSrc, notFound(d.ID))
		if kerr != nil {
			items[i].Err = kerr
			continue
		}
		meta := map[string]any{"_index": index, "_id": d.ID}
		if c != nil {
			meta["if_seq_no"], meta["if_primary_term"] = c.seqNo, c.term
		}
		action := "index"
		switch {
		case src == nil:
			action = "delete"
		case c == nil:
			action = "create"
		}
		line, err := json.Marshal(map[string]any{action: meta})
		if err != nil {
			return kerror.Wrap(err, "services.storage.unexpected_error", "encoding a bulk request")
		}
		nd.Write(line)
		nd.WriteByte('\n')
		if src != nil {
			b, err := json.Marshal(src)
			if err != nil {
				items[i].Err = kerror.New("services.storage.invalid_argument", "body", "a JSON-serialisable object")
				nd.Truncate(nd.Len() - len(line) - 1)
				continue
			}
			nd.Write(b)
			nd.WriteByte('\n')
			// What a later get returns: the source as JSON round-trips it.
			src = nil
			_ = json.Unmarshal(b, &src)
		}
		plan = append(plan, planned{pos: i, cur: c, src: src, upd: fields, crtd: created})
		sent[d.ID] = true
	}
	if len(plan) == 0 {
		return e.redoAlone(ctx, w, docs, redo, items)
	}
	var r struct {
		Items []map[string]bulkItem `json:"items"`
	}
	body := nd.Bytes()
	lost, err := e.callWrite(ctx, func() (esapi.Request, error) {
		return esapi.BulkRequest{Body: bytes.NewReader(body), Refresh: w.Refresh, RequireAlias: requireAlias()}, nil
	}, &r)
	if err != nil {
		if lost {
			// Some items may be in Elasticsearch: none is a plain failure.
			for _, p := range plan {
				items[p.pos].Err = kerror.Wrap(err, "cluster.process.unknown_outcome")
			}
			return e.redoAlone(ctx, w, docs, redo, items)
		}
		return kuzzleError(err, w.Index, w.Collection, "")
	}
	if len(r.Items) != len(plan) {
		return kerror.New("services.storage.unexpected_error", "Elasticsearch answered a bulk request with a different number of items")
	}
	for k, p := range plan {
		it := &items[p.pos]
		var a bulkItem
		for _, v := range r.Items[k] { // one key: the item's action
			a = v
		}
		if a.Status < 300 {
			it.Created, it.UpdatedFields, it.Seq = p.crtd, p.upd, &storage.SeqNo{Term: a.Term, Seq: a.SeqNo}
			if p.src != nil {
				it.After = &storage.Document{ID: it.ID, Version: a.Version, Source: p.src}
			}
			if p.cur != nil {
				it.Before = p.cur.doc
				it.PrevSeq = &storage.SeqNo{Term: p.cur.term, Seq: p.cur.seqNo}
			}
			continue
		}
		ee := parseError(a.Status, []byte(`{"error":`+string(a.Error)+`}`))
		if len(a.Error) == 0 {
			ee = &esError{Status: a.Status}
		}
		if ee.Type == "index_not_found_exception" {
			// The collection is gone (require_alias): the request's error.
			return kuzzleError(ee, w.Index, w.Collection, "")
		}
		conflict := ee.Type == "version_conflict_engine_exception" || (a.Status == 404 && p.src == nil)
		if !conflict {
			kerr := kuzzleError(ee, w.Index, w.Collection, it.ID)
			var ke *kerror.Error
			if errors.As(kerr, &ke) {
				it.Err = ke
			} else {
				it.Err = kerror.Wrap(kerr, "services.storage.unexpected_error", ee.Reason)
			}
			continue
		}
		if lost {
			outcome, now, rerr := e.resolveLost(ctx, w, it.ID, p.cur, p.src)
			if rerr != nil {
				it.Err = kerror.Wrap(rerr, "cluster.process.unknown_outcome")
				continue
			}
			switch outcome {
			case lostUnknown:
				it.Err = kerror.New("cluster.process.unknown_outcome")
				continue
			case lostOurs:
				it.Created, it.UpdatedFields = p.crtd, p.upd
				it.After, it.Seq = now.doc, &storage.SeqNo{Term: now.term, Seq: now.seqNo}
				if p.cur != nil {
					it.Before = p.cur.doc
					it.PrevSeq = &storage.SeqNo{Term: p.cur.term, Seq: p.cur.seqNo}
				}
				continue
			}
		}
		redo = append(redo, p.pos)
	}
	return e.redoAlone(ctx, w, docs, redo, items)
}

// redoAlone writes the documents at positions redo one by one, in request
// order, each with docWrite's read-modify-write.
func (e *Engine) redoAlone(ctx context.Context, w *storage.Write, docs []storage.DocWrite, redo []int, items []storage.ItemResult) error {
	sort.Ints(redo)
	for _, pos := range redo {
		it, err := e.docWrite(ctx, w, &docs[pos], nil)
		if err != nil {
			it = storage.ItemResult{ID: docs[pos].ID, Err: kerror.From(err)}
		}
		items[pos] = it
	}
	return nil
}

// bulkItem is one item of a _bulk answer.
type bulkItem struct {
	Status  int             `json:"status"`
	Version int64           `json:"_version"`
	SeqNo   int64           `json:"_seq_no"`
	Term    int64           `json:"_primary_term"`
	Error   json.RawMessage `json:"error"`
}

// mgetForWrite reads, in one _mget, the documents docs name, with their
// sequence positions; a document not found is absent from the map.
func (e *Engine) mgetForWrite(ctx context.Context, w *storage.Write, docs []storage.DocWrite) (map[string]*stored, error) {
	ids := make([]string, 0, len(docs))
	seen := map[string]bool{}
	for _, d := range docs {
		if checkID(d.ID) == nil && !seen[d.ID] {
			seen[d.ID] = true
			ids = append(ids, d.ID)
		}
	}
	out := map[string]*stored{}
	if len(ids) == 0 {
		return out, nil
	}
	got, err := e.mget(ctx, w.Index, w.Collection, ids)
	if err != nil {
		return nil, kuzzleError(err, w.Index, w.Collection, "")
	}
	for _, d := range got {
		if len(d.Error) > 0 {
			return nil, d.itemErr(w.Index, w.Collection)
		}
		if d.Found {
			out[d.ID] = &stored{doc: &storage.Document{ID: d.ID, Version: d.Version, Source: d.Source}, seqNo: d.SeqNo, term: d.Term}
		}
	}
	return out, nil
}
