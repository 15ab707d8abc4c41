package storage

import (
	"context"
	"encoding/json"

	"github.com/korumdb/korum/kerror"
)

// Document is a stored document as Kuzzle shows it. Source includes the
// _kuzzle_info metadata block.
type Document struct {
	ID      string         `json:"_id"`
	Version int64          `json:"_version"`
	Source  map[string]any `json:"_source"`
}

// Op names a deterministic write. One Op covers the single and the m* form of
// an action: the API layer shapes the result.
type Op string

const (
	OpIndexCreate        Op = "index.create"
	OpIndexDelete        Op = "index.delete" // Indexes lists them (index:delete and index:mDelete)
	OpCollectionCreate   Op = "collection.create"
	OpCollectionUpdate   Op = "collection.update"
	OpCollectionDelete   Op = "collection.delete"
	OpCollectionTruncate Op = "collection.truncate"
	OpDocCreate          Op = "doc.create"
	OpDocCreateOrReplace Op = "doc.createOrReplace"
	OpDocReplace         Op = "doc.replace"
	OpDocUpdate          Op = "doc.update"
	OpDocUpsert          Op = "doc.upsert"
	OpDocDelete          Op = "doc.delete"
	OpDocDeleteFields    Op = "doc.deleteFields"
	OpDocDeleteByQuery   Op = "doc.deleteByQuery"
	OpDocUpdateByQuery   Op = "doc.updateByQuery"
	// OpDocBulk runs each DocWrite with its own Op (bulk:import, whose
	// actions mix create, index, update and delete).
	OpDocBulk Op = "doc.bulk"
)

// Write is one deterministic write command. Everything that is not a pure
// function of the stored state (document ids to generate, the clock, the
// author) is resolved by the node that received the request before the
// command is proposed, so that every replica applying it gets the same result.
type Write struct {
	Op         Op     `json:"op"`
	Index      string `json:"index,omitempty"`
	Collection string `json:"collection,omitempty"`
	// Now is the request time in epoch milliseconds, stamped by the
	// receiving node; it fills _kuzzle_info.createdAt/updatedAt.
	Now int64 `json:"now"`
	// Author is the kuid of the requester ("-1" when anonymous).
	Author string `json:"author,omitempty"`

	Indexes  []string        `json:"indexes,omitempty"`  // OpIndexDelete
	Mappings json.RawMessage `json:"mappings,omitempty"` // collection create/update: {dynamic,_meta,properties}
	// Settings are a collection create/update's Elasticsearch index
	// settings; the embedded engine honours index.blocks.write.
	Settings json.RawMessage `json:"settings,omitempty"`

	Docs []DocWrite `json:"docs,omitempty"` // per-document ops, in order

	Query   json.RawMessage `json:"query,omitempty"`   // by-query ops: ES query DSL
	Changes map[string]any  `json:"changes,omitempty"` // OpDocUpdateByQuery
	// Limit caps how many documents a by-query op may touch
	// (limits.documentsWriteCount); exceeding it fails the whole command
	// with services.storage.write_limit_exceeded. 0 means no cap.
	Limit int `json:"limit,omitempty"`
	// Verbatim stores create and createOrReplace bodies as given, their
	// _kuzzle_info included, without adding metadata (bulk:write and
	// bulk:mWrite write "directly into the storage engine").
	Verbatim bool `json:"verbatim,omitempty"`
	// Refresh is Kuzzle's refresh argument ("wait_for" or empty). The
	// embedded engine's writes are visible at once and ignore it; the
	// Elasticsearch engine passes it on.
	Refresh string `json:"refresh,omitempty"`
}

// DocWrite is one document of a write. Which fields matter depends on Op:
// Body for create/createOrReplace/replace/update (partial changes),
// Body+Default for upsert, Fields (dot paths) for deleteFields.
type DocWrite struct {
	ID string `json:"_id"`
	// Op is this document's operation in an OpDocBulk write.
	Op      Op             `json:"op,omitempty"`
	Body    map[string]any `json:"body,omitempty"`
	Default map[string]any `json:"default,omitempty"`
	Fields  []string       `json:"fields,omitempty"`
}

// WriteResult is the outcome of one Write. Err is set when the command as a
// whole failed (unknown index, invalid query, limit exceeded); otherwise
// Items has one entry per affected document, in order.
//
// Conventions per Op:
//   - index.create, collection.*: no Items; Err or nothing.
//   - index.delete: if any of Indexes does not exist, Err is
//     services.storage.unknown_index and nothing is deleted (as Kuzzle);
//     otherwise one item per deleted index, ID = index name, request order,
//     duplicates removed.
//   - doc.* with Docs: one item per DocWrite, in order, each with its own Err.
//   - doc.deleteByQuery / doc.updateByQuery: one item per matched document,
//     in _id order.
//   - A Raft entry that was already applied (replay after restart) yields
//     results with neither Err nor Items.
type WriteResult struct {
	Err   *kerror.Error `json:"err,omitempty"`
	Items []ItemResult  `json:"items,omitempty"`
}

// ItemResult is what happened to one document. Before and After are the
// stored document around the write (nil when absent), which is what realtime
// needs to compute in/out notifications. UpdatedFields is Kuzzle's
// _updatedFields: the sorted dot paths of the leaves of the changes of an
// update/upsert/updateByQuery (objects descended, arrays are leaves,
// _kuzzle_info excluded), or the removed paths of a deleteFields. For
// index.delete items, ID is the index name.
type ItemResult struct {
	ID            string        `json:"_id"`
	Before        *Document     `json:"before,omitempty"`
	After         *Document     `json:"after,omitempty"`
	Created       bool          `json:"created,omitempty"`
	UpdatedFields []string      `json:"updatedFields,omitempty"`
	Err           *kerror.Error `json:"err,omitempty"`
	// Seq is Elasticsearch's position of the state the write produced
	// (PrevSeq: of the state it replaced, nil for a creation), which
	// orders the writes to one document across nodes. The embedded
	// engine, whose log is the order, leaves both nil.
	Seq     *SeqNo `json:"seq,omitempty"`
	PrevSeq *SeqNo `json:"prevSeq,omitempty"`
}

// SeqNo is Elasticsearch's (_primary_term, _seq_no) of a document state.
type SeqNo struct {
	Term int64 `json:"t"`
	Seq  int64 `json:"s"`
}

// After reports whether s is a later state than o.
func (s SeqNo) After(o SeqNo) bool {
	return s.Term > o.Term || (s.Term == o.Term && s.Seq > o.Seq)
}

// SearchRequest is an Elasticsearch-style search: body {query, sort} plus
// paging. Scroll, when set ("30s", "1m"), asks for a scroll id.
type SearchRequest struct {
	Query  json.RawMessage `json:"query,omitempty"`
	Sort   json.RawMessage `json:"sort,omitempty"`
	From   int             `json:"from"`
	Size   int             `json:"size"`
	Scroll string          `json:"scroll,omitempty"`
	// SearchAfter continues a sorted search after the hit whose sort
	// values these are (ES search_after; the SDKs' next() uses it).
	SearchAfter json.RawMessage `json:"search_after,omitempty"`
	// Body is the whole search body as the client sent it. Engines that
	// speak the full query DSL (Elasticsearch) pass its other keys
	// (aggregations, highlight, _source, ...) through; From, Size and
	// Scroll above win over its own from/size.
	Body json.RawMessage `json:"body,omitempty"`
}

// Hit is one search result. Index and Collection name where it was found
// (Kuzzle 2.17 reports them on every hit, a multi-target search needs them).
type Hit struct {
	ID         string         `json:"_id"`
	Index      string         `json:"index,omitempty"`
	Collection string         `json:"collection,omitempty"`
	Score      float64        `json:"_score"`
	Version    int64          `json:"_version,omitempty"`
	Source     map[string]any `json:"_source"`
	// Highlight is Elasticsearch's per-hit highlight, when asked for.
	Highlight map[string]any `json:"highlight,omitempty"`
}

// SearchResult is Kuzzle's search result shape.
type SearchResult struct {
	Hits     []Hit  `json:"hits"`
	Total    int    `json:"total"`
	ScrollID string `json:"scrollId,omitempty"`
	// Remaining is how many matching documents later pages of a scroll
	// still hold (Kuzzle's `remaining`); meaningful only with ScrollID.
	Remaining int `json:"-"`
	// Aggregations is Elasticsearch's aggregations result, when asked for.
	Aggregations map[string]any `json:"aggregations,omitempty"`
}

// IndexStats is index:stats's figures for one index.
type IndexStats struct {
	Name        string
	Size        int64 // bytes, the sum of its collections'
	Collections []CollectionStats
}

// CollectionStats is one collection's document count and size in bytes.
type CollectionStats struct {
	Name      string
	Documents int
	Size      int64
}

// Reader serves reads. Implementations are safe for concurrent use.
type Reader interface {
	ListIndexes(ctx context.Context) ([]string, error)
	IndexExists(ctx context.Context, index string) (bool, error)
	ListCollections(ctx context.Context, index string) ([]string, error)
	CollectionExists(ctx context.Context, index, collection string) (bool, error)
	// GetMapping returns {dynamic, _meta, properties}.
	GetMapping(ctx context.Context, index, collection string) (map[string]any, error)

	Get(ctx context.Context, index, collection, id string) (*Document, error)
	// MGet returns the documents found, in request order, and the ids not found.
	MGet(ctx context.Context, index, collection string, ids []string) ([]*Document, []string, error)
	Search(ctx context.Context, index, collection string, req SearchRequest) (*SearchResult, error)
	// MultiSearch runs one search over the collections of several indexes
	// (document:search's targets): one result, its hits ranked together.
	MultiSearch(ctx context.Context, targets []Target, req SearchRequest) (*SearchResult, error)
	// Scroll continues a search from a scroll id returned by Search/Scroll.
	Scroll(ctx context.Context, scrollID, ttl string) (*SearchResult, error)
	Count(ctx context.Context, index, collection string, query json.RawMessage) (int, error)
}

// Target is one index and some of its collections, an item of
// document:search's targets.
type Target struct {
	Index       string   `json:"index"`
	Collections []string `json:"collections"`
}

// ScrollInspector is implemented by engines whose scroll ids name what they
// read, so the API layer can check the caller's rights on those indexes and
// collections before serving a page (document:scroll carries no index).
type ScrollInspector interface {
	ScrollTargets(ctx context.Context, scrollID string) ([]Target, error)
}
