package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Execute performs a write against Elasticsearch and reports, per document,
// the exact state it replaced and the one it produced (see DESIGN.md).
// Client errors are in the WriteResult, as the embedded engine reports them;
// the error return is for Elasticsearch being unreachable or failing, which
// the caller turns into the request's error.
//
// Unlike the embedded engine's Apply, Execute is not deterministic and is
// never called from the state machine: the node calls it before proposing
// the write's outcome.
func (e *Engine) Execute(ctx context.Context, w *storage.Write) (*storage.WriteResult, error) {
	res, err := e.execute(ctx, w)
	if err == nil {
		return res, nil
	}
	var ke *kerror.Error
	if errors.As(err, &ke) && ke.ID != "services.storage.not_connected" && ke.ID != "services.storage.unexpected_error" {
		return &storage.WriteResult{Err: ke}, nil
	}
	return nil, err
}

func (e *Engine) execute(ctx context.Context, w *storage.Write) (*storage.WriteResult, error) {
	switch w.Op {
	case storage.OpIndexCreate:
		return &storage.WriteResult{}, e.indexCreate(ctx, w.Index)
	case storage.OpIndexDelete:
		return e.indexDelete(ctx, w)
	case storage.OpCollectionCreate:
		return &storage.WriteResult{}, e.collectionCreate(ctx, w)
	case storage.OpCollectionUpdate:
		if _, err := e.requireCollection(ctx, w.Index, w.Collection); err != nil {
			return nil, err
		}
		// Settings first, as Kuzzle's updateCollection: a mapping may name
		// an analyzer these settings define. Mappings Korum refuses are
		// refused before any settings change.
		if _, err := mappingsOf(w.Mappings); err != nil {
			return nil, err
		}
		if err := e.putSettings(ctx, w); err != nil {
			return nil, err
		}
		return &storage.WriteResult{}, e.putMapping(ctx, w)
	case storage.OpCollectionDelete:
		return &storage.WriteResult{}, e.collectionDelete(ctx, w.Index, w.Collection)
	case storage.OpCollectionTruncate:
		return &storage.WriteResult{}, e.collectionTruncate(ctx, w.Index, w.Collection)
	case storage.OpDocCreate, storage.OpDocCreateOrReplace, storage.OpDocReplace,
		storage.OpDocUpdate, storage.OpDocUpsert, storage.OpDocDelete, storage.OpDocDeleteFields, storage.OpDocBulk:
		if w.Collection == hiddenCollection {
			return nil, kerror.New("services.storage.unknown_collection", w.Index, w.Collection)
		}
		// No schema lookup first: the read of step 1 finds the alias
		// missing, and the writes require an alias (require_alias), so
		// that a collection deleted meanwhile is not re-created as a bare
		// index by Elasticsearch's auto-creation.
		res, err := e.docsWrite(ctx, w)
		if err != nil {
			return nil, e.whichMissing(ctx, w.Index, w.Collection, err)
		}
		return res, nil
	case storage.OpDocDeleteByQuery, storage.OpDocUpdateByQuery:
		return e.byQuery(ctx, w)
	}
	return nil, kerror.New("services.storage.invalid_argument", "op", "a known write operation")
}

// --- indexes and collections ---

func (e *Engine) indexCreate(ctx context.Context, index string) error {
	if !validName(index) {
		return kerror.New("services.storage.invalid_index_name", index)
	}
	s, err := e.schema(ctx)
	if err != nil {
		return err
	}
	if _, ok := s[index]; ok {
		return kerror.New("services.storage.index_already_exists", "public", index)
	}
	return e.createHidden(ctx, index)
}

// createHidden creates the _kuzzle_keep collection that keeps an index
// without collections listed, with Kuzzle's settings for it.
func (e *Engine) createHidden(ctx context.Context, index string) error {
	body, err := jsonBody(map[string]any{
		"aliases":  map[string]any{alias(index, hiddenCollection): map[string]any{}},
		"settings": map[string]any{"number_of_replicas": 1, "number_of_shards": 1},
	})
	if err != nil {
		return err
	}
	err = e.call(ctx, esapi.IndicesCreateRequest{Index: publicPrefix + index + nameSeparator + hiddenCollection, Body: body}, nil)
	if isType(err, "resource_already_exists_exception") {
		return nil
	}
	return kuzzleError(err, index, hiddenCollection, "")
}

func (e *Engine) indexDelete(ctx context.Context, w *storage.Write) (*storage.WriteResult, error) {
	names := w.Indexes
	if len(names) == 0 && w.Index != "" {
		names = []string{w.Index}
	}
	s, err := e.schema(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := s[n]; !ok {
			return &storage.WriteResult{Err: kerror.New("services.storage.unknown_index", n)}, nil
		}
	}
	res := &storage.WriteResult{Items: []storage.ItemResult{}}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		var reals []string
		for _, real := range s[n] {
			reals = append(reals, real)
		}
		if err := e.call(ctx, esapi.IndicesDeleteRequest{Index: reals}, nil); err != nil && !isType(err, "index_not_found_exception") {
			return nil, kuzzleError(err, n, "", "")
		}
		res.Items = append(res.Items, storage.ItemResult{ID: n})
	}
	return res, nil
}

// kuzzleInfoMapping is Kuzzle's common mapping, merged into every collection.
func kuzzleInfoMapping() map[string]any {
	return map[string]any{"properties": map[string]any{
		"author": map[string]any{"type": "keyword"}, "createdAt": map[string]any{"type": "date"},
		"updatedAt": map[string]any{"type": "date"}, "updater": map[string]any{"type": "keyword"},
	}}
}

// mappingsOf parses a write's {dynamic, _meta, properties} and checks its
// root keys as Kuzzle's _checkMappings does (the rest ES checks itself).
func mappingsOf(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, kerror.New("services.storage.invalid_argument", "mappings", "an object")
		}
	}
	for k := range m {
		switch k {
		case "properties", "_meta", "dynamic", "dynamic_templates":
		default:
			return nil, kerror.New("services.storage.invalid_mapping", k, "")
		}
	}
	if d, ok := m["dynamic"]; ok {
		switch v := d.(type) {
		case bool:
			m["dynamic"] = strconv.FormatBool(v)
		case string:
			if v != "true" && v != "false" && v != "strict" {
				return nil, kerror.New("services.storage.invalid_mapping", "dynamic", ` Incorrect dynamic property value (`+v+`). Should be one of "true", "false", "strict"`)
			}
		default:
			return nil, kerror.New("services.storage.invalid_mapping", "dynamic", " Dynamic property value should be a string.")
		}
	}
	return m, nil
}

func (e *Engine) collectionCreate(ctx context.Context, w *storage.Write) error {
	if !validName(w.Index) {
		return kerror.New("services.storage.invalid_index_name", w.Index)
	}
	if !validName(w.Collection) {
		return kerror.New("services.storage.invalid_collection_name", w.Collection)
	}
	if w.Collection == hiddenCollection {
		return kerror.New("services.storage.collection_reserved", hiddenCollection)
	}
	m, err := mappingsOf(w.Mappings)
	if err != nil {
		return err
	}
	s, err := e.schema(ctx)
	if err != nil {
		return err
	}
	settings, err := settingsOf(w.Settings)
	if err != nil {
		return err
	}
	if _, ok := s[w.Index][w.Collection]; ok {
		if err := e.putSettings(ctx, w); err != nil {
			return err
		}
		return e.putMapping(ctx, w)
	}
	props, _ := m["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
	}
	props["_kuzzle_info"] = kuzzleInfoMapping()
	m["properties"] = props
	if _, ok := m["dynamic"]; !ok {
		m["dynamic"] = e.opts.DefaultDynamic
	}
	if _, ok := m["_meta"]; !ok {
		m["_meta"] = map[string]any{}
	}
	create := map[string]any{
		"aliases":  map[string]any{alias(w.Index, w.Collection): map[string]any{}},
		"mappings": m,
	}
	if settings != nil {
		create["settings"] = settings
	}
	body, err := jsonBody(create)
	if err != nil {
		return err
	}
	name := publicPrefix + w.Index + nameSeparator + w.Collection
	err = e.call(ctx, esapi.IndicesCreateRequest{Index: name, Body: body}, nil)
	if isType(err, "resource_already_exists_exception") {
		// A concurrent collection:create, or this one's replay by the
		// client after a lost answer: the collection exists, as wanted.
		if now, serr := e.schema(ctx); serr == nil {
			if _, ok := now[w.Index][w.Collection]; ok {
				err = e.putMapping(ctx, w)
			}
		}
		// An ES index of that name without the alias (left by another
		// tool): Kuzzle's _getAvailableIndice picks a suffixed name.
		for i := 1; i < 100 && isType(err, "resource_already_exists_exception"); i++ {
			body, _ = jsonBody(create)
			err = e.call(ctx, esapi.IndicesCreateRequest{Index: name + nameSeparator + strconv.Itoa(i), Body: body}, nil)
		}
	}
	if err != nil {
		return kuzzleError(err, w.Index, w.Collection, "")
	}
	if hidden, ok := s[w.Index][hiddenCollection]; ok {
		if err := e.call(ctx, esapi.IndicesDeleteRequest{Index: []string{hidden}}, nil); err != nil && !isType(err, "index_not_found_exception") {
			return kuzzleError(err, w.Index, hiddenCollection, "")
		}
	}
	return nil
}

// putMapping updates a collection's mapping: dynamic and _meta replace,
// properties merge (ES refuses a type change).
func (e *Engine) putMapping(ctx context.Context, w *storage.Write) error {
	m, err := mappingsOf(w.Mappings)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return nil
	}
	body, err := jsonBody(m)
	if err != nil {
		return err
	}
	err = e.call(ctx, esapi.IndicesPutMappingRequest{Index: []string{alias(w.Index, w.Collection)}, Body: body}, nil)
	if isType(err, "illegal_argument_exception") {
		var ee *esError
		errors.As(err, &ee)
		return kerror.Wrap(err, "services.storage.cannot_change_mapping", ee.Reason)
	}
	return kuzzleError(err, w.Index, w.Collection, "")
}

func (e *Engine) collectionDelete(ctx context.Context, index, collection string) error {
	real, err := e.requireCollection(ctx, index, collection)
	if err != nil {
		return err
	}
	// index_not_found: a replay by the client after a lost answer, or a
	// concurrent delete; either way the collection is gone, as asked.
	if err := e.call(ctx, esapi.IndicesDeleteRequest{Index: []string{real}}, nil); err != nil && !isType(err, "index_not_found_exception") {
		return kuzzleError(err, index, collection, "")
	}
	s, err := e.schema(ctx)
	if err != nil {
		return err
	}
	if len(s[index]) == 0 {
		return e.createHidden(ctx, index)
	}
	return nil
}

// collectionTruncate empties a collection and keeps its mapping. Like
// Kuzzle, it notifies nothing.
func (e *Engine) collectionTruncate(ctx context.Context, index, collection string) error {
	if _, err := e.requireCollection(ctx, index, collection); err != nil {
		return err
	}
	// delete_by_query only sees refreshed documents: refresh first, so
	// that a document acknowledged before the truncate goes too.
	if err := e.call(ctx, esapi.IndicesRefreshRequest{Index: []string{alias(index, collection)}}, nil); err != nil {
		return kuzzleError(err, index, collection, "")
	}
	body, _ := jsonBody(map[string]any{"query": map[string]any{"match_all": map[string]any{}}})
	refresh := true
	conflicts := "proceed"
	err := e.call(ctx, esapi.DeleteByQueryRequest{Index: []string{alias(index, collection)}, Body: body,
		Refresh: &refresh, Conflicts: conflicts}, nil)
	return kuzzleError(err, index, collection, "")
}

// --- documents ---

// stored is a document as read for a guarded write.
type stored struct {
	doc         *storage.Document
	seqNo, term int64
}

func (e *Engine) getForWrite(ctx context.Context, w *storage.Write, id string) (*stored, error) {
	var r struct {
		Found   bool           `json:"found"`
		Version int64          `json:"_version"`
		SeqNo   int64          `json:"_seq_no"`
		Term    int64          `json:"_primary_term"`
		Source  map[string]any `json:"_source"`
	}
	err := e.call(ctx, esapi.GetRequest{Index: alias(w.Index, w.Collection), DocumentID: id}, &r)
	if isStatus(err, 404) && !isType(err, "index_not_found_exception") {
		return nil, nil
	}
	if err != nil {
		return nil, kuzzleError(err, w.Index, w.Collection, id)
	}
	if !r.Found {
		return nil, nil
	}
	return &stored{doc: &storage.Document{ID: id, Version: r.Version, Source: r.Source}, seqNo: r.SeqNo, term: r.Term}, nil
}

func checkID(id string) *kerror.Error {
	if id == "" {
		return kerror.New("services.storage.missing_argument", "_id")
	}
	if len(id) > 512 {
		return kerror.New("services.storage.invalid_argument", "_id", "at most 512 bytes")
	}
	return nil
}

// docWrite runs one guarded read-modify-write (DESIGN.md, "Before and after
// states"). known, when set, is the document as a search just read it, which
// saves the first GET. Client errors are in the item; the error return is
// for Elasticsearch failing.
func (e *Engine) docWrite(ctx context.Context, w *storage.Write, d *storage.DocWrite, known *stored) (storage.ItemResult, error) {
	item := storage.ItemResult{ID: d.ID}
	if err := checkID(d.ID); err != nil {
		item.Err = err
		return item, nil
	}
	notFound := func() *kerror.Error { return kerror.New("services.storage.not_found", d.ID, w.Index, w.Collection) }
	// A create needs no read: op_type=create makes Elasticsearch refuse it
	// when the document exists, and it replaces no state.
	createOnly := isCreate(w, d)
	for attempt := 0; attempt <= e.opts.ConflictRetries; attempt++ {
		cur := known
		known = nil
		if cur == nil && !createOnly {
			var err error
			if cur, err = e.getForWrite(ctx, w, d.ID); err != nil {
				return item, err
			}
		}
		var storedSrc map[string]any
		if cur != nil {
			storedSrc = cur.doc.Source
		}
		src, fields, created, kerr := storage.NewSource(w, d, storedSrc, notFound)
		if kerr != nil {
			item.Err = kerr
			return item, nil
		}
		after, seq, lost, err := e.put(ctx, w, d.ID, cur, src)
		if lost && isType(err, "version_conflict_engine_exception") {
			// Perhaps this write's own attempt whose answer was lost.
			outcome, now, rerr := e.resolveLost(ctx, w, d.ID, cur, src)
			if rerr != nil {
				return item, rerr
			}
			switch outcome {
			case lostUnknown:
				item.Err = kerror.New("cluster.process.unknown_outcome")
				return item, nil
			case lostOurs:
				after, seq, err = now.doc, &storage.SeqNo{Term: now.term, Seq: now.seqNo}, nil
			}
		}
		if createOnly && isType(err, "version_conflict_engine_exception") {
			item.Err = kerror.New("services.storage.document_already_exists")
			return item, nil
		}
		if isType(err, "version_conflict_engine_exception") {
			continue // someone wrote it in between: read again
		}
		if err != nil {
			var ke *kerror.Error
			if errors.As(err, &ke) && ke.ID != "services.storage.not_connected" && ke.ID != "services.storage.unexpected_error" &&
				ke.ID != "services.storage.unknown_collection" {
				item.Err = ke
				return item, nil
			}
			if lost {
				// Elasticsearch may hold the write: not a plain failure.
				item.Err = kerror.Wrap(err, "cluster.process.unknown_outcome")
				return item, nil
			}
			return item, err
		}
		item.After, item.Created, item.UpdatedFields, item.Seq = after, created, fields, seq
		if cur != nil {
			item.Before = cur.doc
			item.PrevSeq = &storage.SeqNo{Term: cur.term, Seq: cur.seqNo}
		}
		return item, nil
	}
	item.Err = kerror.New("services.storage.too_many_changes", d.ID)
	return item, nil
}

// isCreate tells whether d is a plain create (document:create, a bulk
// create), which needs no read of the stored document.
func isCreate(w *storage.Write, d *storage.DocWrite) bool {
	return w.Op == storage.OpDocCreate || (w.Op == storage.OpDocBulk && d.Op == storage.OpDocCreate)
}

// put writes src (nil: deletes) guarded by the state cur it was computed
// from, and returns the document as stored and its sequence position. The
// write is never replayed blindly (callWrite): lost says an attempt's answer
// was lost, so that a version conflict may be this write's own earlier
// attempt, which docWrite resolves.
func (e *Engine) put(ctx context.Context, w *storage.Write, id string, cur *stored, src map[string]any) (after *storage.Document, seq *storage.SeqNo, lost bool, err error) {
	index := alias(w.Index, w.Collection)
	var r struct {
		Version int64 `json:"_version"`
		SeqNo   int64 `json:"_seq_no"`
		Term    int64 `json:"_primary_term"`
	}
	var ifSeq, ifTerm *int
	if cur != nil {
		seq, term := int(cur.seqNo), int(cur.term)
		ifSeq, ifTerm = &seq, &term
	}
	if src == nil {
		lost, err = e.callWrite(ctx, func() (esapi.Request, error) {
			return esapi.DeleteRequest{Index: index, DocumentID: id, Refresh: w.Refresh, IfSeqNo: ifSeq, IfPrimaryTerm: ifTerm}, nil
		}, &r)
		if isStatus(err, 404) && !isType(err, "index_not_found_exception") {
			// Deleted by someone else since the read: a conflict.
			return nil, nil, lost, &esError{Status: 409, Type: "version_conflict_engine_exception"}
		}
		if err != nil && !isType(err, "version_conflict_engine_exception") {
			return nil, nil, lost, kuzzleError(err, w.Index, w.Collection, id)
		}
		if err != nil {
			return nil, nil, lost, err
		}
		return nil, &storage.SeqNo{Term: r.Term, Seq: r.SeqNo}, lost, nil
	}
	raw, err := json.Marshal(src)
	if err != nil {
		return nil, nil, false, kerror.Wrap(err, "services.storage.invalid_argument", "body", "a JSON-serialisable object")
	}
	lost, err = e.callWrite(ctx, func() (esapi.Request, error) {
		req := esapi.IndexRequest{Index: index, DocumentID: id, Body: bytes.NewReader(raw), Refresh: w.Refresh,
			IfSeqNo: ifSeq, IfPrimaryTerm: ifTerm, RequireAlias: requireAlias()}
		if cur == nil {
			req.OpType = "create"
		}
		return req, nil
	}, &r)
	if isType(err, "version_conflict_engine_exception") {
		return nil, nil, lost, err // written by someone else since the read, or lost
	}
	if err != nil {
		return nil, nil, lost, kuzzleError(err, w.Index, w.Collection, id)
	}
	// What a later get returns: the source as JSON round-trips it.
	var back map[string]any
	_ = json.Unmarshal(raw, &back)
	return &storage.Document{ID: id, Version: r.Version, Source: back}, &storage.SeqNo{Term: r.Term, Seq: r.SeqNo}, lost, nil
}

// requireAlias makes a document write fail rather than auto-create an
// index when its collection's alias is gone (Elasticsearch 7.10 and later).
func requireAlias() *bool {
	t := true
	return &t
}

// lostOutcome is what resolveLost found of a write whose answer was lost.
type lostOutcome int

const (
	lostTheirs  lostOutcome = iota // another write won: read again and redo
	lostOurs                       // the lost attempt applied
	lostUnknown                    // cannot tell: the client hears so
)

// resolveLost decides, after a version conflict that followed a lost
// answer, whether the lost attempt is what the conflict ran into. The write
// was guarded (op_type=create, or if_seq_no/if_primary_term of cur), so
// the state right after it is the only candidate: version 1 for a create,
// cur's version + 1 otherwise, holding exactly the source it wrote. A
// document that moved further since, or is gone, cannot be told apart from
// one another writer changed, and the write's own sequence position is not
// known then either: unknown (the client gets
// cluster.process.unknown_outcome, never a success nor a second write).
func (e *Engine) resolveLost(ctx context.Context, w *storage.Write, id string, cur *stored, src map[string]any) (lostOutcome, *stored, error) {
	now, err := e.getForWrite(ctx, w, id)
	if err != nil {
		return lostUnknown, nil, err
	}
	want := int64(1)
	if cur != nil {
		want = cur.doc.Version + 1
	}
	switch {
	case now == nil:
		// A delete of ours, or anyone's delete after our write.
		return lostUnknown, nil, nil
	case now.doc.Version != want:
		return lostUnknown, nil, nil
	case src != nil && sameJSON(now.doc.Source, src):
		return lostOurs, now, nil
	}
	// The next state is someone else's: ours never applied.
	return lostTheirs, nil, nil
}

// sameJSON compares two sources as Elasticsearch stores them.
func sameJSON(a, b map[string]any) bool {
	ra, err1 := json.Marshal(a)
	rb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var na, nb any
	if json.Unmarshal(ra, &na) != nil || json.Unmarshal(rb, &nb) != nil {
		return false
	}
	return reflect.DeepEqual(na, nb)
}

// maxResultWindow is Elasticsearch's default index.max_result_window.
const maxResultWindow = 10000

// byQuery runs deleteByQuery and updateByQuery as Kuzzle does: collect the
// matching documents (at most Limit, else write_limit_exceeded with no side
// effect), then write them with the guarded path (_bulk), in _id order.
func (e *Engine) byQuery(ctx context.Context, w *storage.Write) (*storage.WriteResult, error) {
	if _, err := e.requireCollection(ctx, w.Index, w.Collection); err != nil {
		return nil, err
	}
	if w.Op == storage.OpDocUpdateByQuery && len(w.Changes) == 0 {
		return &storage.WriteResult{Err: kerror.New("services.storage.missing_argument", "body.changes")}, nil
	}
	limit := w.Limit
	if limit <= 0 {
		limit = e.opts.DocumentsFetchCount
	}
	q := w.Query
	if len(q) == 0 || string(q) == "null" || string(q) == "{}" {
		q = json.RawMessage(`{"match_all":{}}`)
	}
	if err := checkScripts(q); err != nil {
		return nil, err
	}
	if err := e.refreshFor(ctx, w.Index, w.Collection); err != nil {
		return nil, err
	}
	// Pages of at most Elasticsearch's default index.max_result_window,
	// in _id order, continued with search_after: a limit above 10,000
	// (limits.documentsWriteCount) is not capped by the window.
	var docs []storage.DocWrite
	known := map[string]*stored{}
	var after []any
	for {
		page := map[string]any{"query": q, "sort": []any{map[string]any{"_id": "asc"}},
			"seq_no_primary_term": true, "version": true, "track_total_hits": true}
		if after != nil {
			page["search_after"] = after
		}
		body, err := jsonBody(page)
		if err != nil {
			return nil, err
		}
		size := min(limit+1-len(docs), e.window)
		var r searchAnswer
		if err := e.call(ctx, esapi.SearchRequest{Index: []string{alias(w.Index, w.Collection)}, Body: body, Size: &size}, &r); err != nil {
			return nil, kuzzleError(err, w.Index, w.Collection, "")
		}
		if r.Hits.Total.Value > limit || len(docs)+len(r.Hits.Hits) > limit {
			return &storage.WriteResult{Err: kerror.New("services.storage.write_limit_exceeded")}, nil
		}
		for _, h := range r.Hits.Hits {
			if _, dup := known[h.ID]; dup {
				continue
			}
			docs = append(docs, storage.DocWrite{ID: h.ID, Body: w.Changes})
			known[h.ID] = &stored{doc: &storage.Document{ID: h.ID, Version: h.Version, Source: h.Source}, seqNo: h.SeqNo, term: h.Term}
		}
		if len(r.Hits.Hits) < size || len(r.Hits.Hits) == 0 {
			break
		}
		after = []any{r.Hits.Hits[len(r.Hits.Hits)-1].ID}
	}
	res := &storage.WriteResult{Items: make([]storage.ItemResult, len(docs))}
	if err := e.docsWriteKnown(ctx, w, docs, known, res.Items); err != nil {
		return nil, err
	}
	return res, nil
}
