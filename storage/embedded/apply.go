package embedded

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

// maxIDBytes is Elasticsearch's document id limit, kept so that data can
// move between the embedded and the ES engines.
const maxIDBytes = 512

// applyWrite runs one write inside the batch transaction. A client-visible
// failure is returned in the WriteResult; the error return is reserved for
// failures of the file itself, which abort the whole batch.
func applyWrite(tx *bolt.Tx, w *storage.Write, defaultDynamic string, mc *mappingCache) (storage.WriteResult, error) {
	switch w.Op {
	case storage.OpIndexCreate:
		return wrap(indexCreate(tx, w))
	case storage.OpIndexDelete:
		return indexDelete(tx, w)
	case storage.OpCollectionCreate:
		return wrap(collectionCreate(tx, w, defaultDynamic))
	case storage.OpCollectionUpdate:
		return wrap(collectionUpdate(tx, w, defaultDynamic))
	case storage.OpCollectionDelete:
		return wrap(collectionDelete(tx, w))
	case storage.OpCollectionTruncate:
		return wrap(collectionTruncate(tx, w))
	case storage.OpDocCreate, storage.OpDocCreateOrReplace, storage.OpDocReplace,
		storage.OpDocUpdate, storage.OpDocUpsert, storage.OpDocDelete, storage.OpDocDeleteFields, storage.OpDocBulk:
		return docWrite(tx, w, mc)
	case storage.OpDocDeleteByQuery, storage.OpDocUpdateByQuery:
		return byQuery(tx, w, mc)
	}
	return storage.WriteResult{Err: kerror.New("services.storage.invalid_argument", "op", "a known write operation")}, nil
}

// wrap turns an error into a WriteResult, sorting client errors from file
// failures.
func wrap(err error) (storage.WriteResult, error) {
	if err == nil {
		return storage.WriteResult{}, nil
	}
	var ke *kerror.Error
	if errors.As(err, &ke) {
		return storage.WriteResult{Err: ke}, nil
	}
	return storage.WriteResult{}, err
}

func indexesBucket(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketIndexes) }

func indexCreate(tx *bolt.Tx, w *storage.Write) error {
	if !validName(w.Index) {
		return kerror.New("services.storage.invalid_index_name", w.Index)
	}
	root := indexesBucket(tx)
	if root.Bucket([]byte(w.Index)) != nil {
		return kerror.New("services.storage.index_already_exists", "public", w.Index)
	}
	_, err := root.CreateBucket([]byte(w.Index))
	return err
}

// indexDelete deletes every index of w.Indexes. Like Kuzzle, it refuses the
// whole command with unknown_index when any of them is missing; otherwise
// Items has one entry per deleted index (ID = index name), in request order,
// duplicates removed.
func indexDelete(tx *bolt.Tx, w *storage.Write) (storage.WriteResult, error) {
	root := indexesBucket(tx)
	names := w.Indexes
	if len(names) == 0 && w.Index != "" {
		names = []string{w.Index}
	}
	for _, n := range names {
		if root.Bucket([]byte(n)) == nil {
			return storage.WriteResult{Err: kerror.New("services.storage.unknown_index", n)}, nil
		}
	}
	res := storage.WriteResult{Items: []storage.ItemResult{}}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := root.DeleteBucket([]byte(n)); err != nil {
			return res, fmt.Errorf("delete index %q: %w", n, err)
		}
		res.Items = append(res.Items, storage.ItemResult{ID: n})
	}
	return res, nil
}

// collectionCreate creates the collection, creating its index on the fly as
// Kuzzle does; on an existing collection it updates the mapping.
func collectionCreate(tx *bolt.Tx, w *storage.Write, defaultDynamic string) error {
	if err := checkNames(w.Index, w.Collection); err != nil {
		return err
	}
	in, err := parseMappings(w.Mappings)
	if err != nil {
		return err
	}
	blocks, setBlocks, err := parseSettings(w.Settings)
	if err != nil {
		return err
	}
	ib, err := indexesBucket(tx).CreateBucketIfNotExists([]byte(w.Index))
	if err != nil {
		return err
	}
	if cb := ib.Bucket([]byte(w.Collection)); cb != nil {
		if err := updateMapping(cb, in, defaultDynamic); err != nil || !setBlocks {
			return err
		}
		return putSettings(cb, blocks)
	}
	cb, err := ib.CreateBucket([]byte(w.Collection))
	if err != nil {
		return err
	}
	if _, err := cb.CreateBucket(bucketDocs); err != nil {
		return err
	}
	if setBlocks {
		if err := putSettings(cb, blocks); err != nil {
			return err
		}
	}
	return putMapping(cb, newMapping(in, defaultDynamic))
}

// checkNames applies the name rules of a new collection and its index.
func checkNames(index, collection string) *kerror.Error {
	if !validName(index) {
		return kerror.New("services.storage.invalid_index_name", index)
	}
	if !validName(collection) {
		return kerror.New("services.storage.invalid_collection_name", collection)
	}
	return nil
}

func collectionUpdate(tx *bolt.Tx, w *storage.Write, defaultDynamic string) error {
	cb, err := collectionBucket(tx, w.Index, w.Collection)
	if err != nil {
		return err
	}
	in, err := parseMappings(w.Mappings)
	if err != nil {
		return err
	}
	blocks, setBlocks, err := parseSettings(w.Settings)
	if err != nil {
		return err
	}
	if err := updateMapping(cb, in, defaultDynamic); err != nil || !setBlocks {
		return err
	}
	return putSettings(cb, blocks)
}

// updateMapping merges in into the collection's mapping. A stored mapping
// that cannot be read (see loadMapping) is replaced by in: that is how an
// administrator repairs such a collection without losing its documents
// (collection:update, or collection:create on the existing collection).
func updateMapping(cb *bolt.Bucket, in map[string]any, defaultDynamic string) error {
	mp, err := loadMapping(cb)
	if err != nil {
		return putMapping(cb, newMapping(in, defaultDynamic))
	}
	if err := mp.update(in); err != nil {
		return err
	}
	return putMapping(cb, mp)
}

func putMapping(cb *bolt.Bucket, mp *mapping) error {
	b, err := json.Marshal(mp)
	if err != nil {
		return fmt.Errorf("encode mapping: %w", err)
	}
	return cb.Put(keyMapping, b)
}

// loadMapping reads a collection's stored mapping with the engine's own
// decoder, whose nesting bound covers every mapping a write can produce
// (encoding/json stops at 10000 levels, which a deep document's mapping
// exceeded). A mapping that still cannot be read (a damaged file) is a
// client-visible error of the write or read that needs it, the same on every
// replica, never a failure of the whole batch.
func loadMapping(cb *bolt.Bucket) (*mapping, error) {
	m, err := decodeObject(cb.Get(keyMapping))
	if err != nil {
		return nil, errUnreadableMapping(err)
	}
	mp := &mapping{DynamicTemplates: m["dynamic_templates"]}
	mp.Dynamic, _ = m["dynamic"].(string)
	mp.Meta, _ = m["_meta"].(map[string]any)
	mp.Properties, _ = m["properties"].(map[string]any)
	if mp.Properties == nil {
		mp.Properties = map[string]any{}
	}
	return mp, nil
}

func errUnreadableMapping(err error) *kerror.Error {
	return kerror.Wrap(fmt.Errorf("corrupt mapping: %w", err), "services.storage.unexpected_error",
		"the stored mapping of this collection cannot be read: collection:update with a mapping replaces it")
}

func collectionDelete(tx *bolt.Tx, w *storage.Write) error {
	if _, err := collectionBucket(tx, w.Index, w.Collection); err != nil {
		return err
	}
	return indexesBucket(tx).Bucket([]byte(w.Index)).DeleteBucket([]byte(w.Collection))
}

// collectionTruncate empties the collection and keeps its mapping. It
// reports no items: Kuzzle does not notify truncated documents either.
func collectionTruncate(tx *bolt.Tx, w *storage.Write) error {
	cb, err := collectionBucket(tx, w.Index, w.Collection)
	if err != nil {
		return err
	}
	if st, err := loadSettings(cb); err != nil || st.BlocksWrite {
		if err == nil {
			err = writeBlocked(w.Index, w.Collection)
		}
		return err
	}
	if err := cb.DeleteBucket(bucketDocs); err != nil {
		return err
	}
	_, err = cb.CreateBucket(bucketDocs)
	return err
}

// collectionBucket resolves an existing collection, or the Kuzzle error
// saying which part is missing.
func collectionBucket(tx *bolt.Tx, index, collection string) (*bolt.Bucket, error) {
	ib := indexesBucket(tx).Bucket([]byte(index))
	if ib == nil || index == "" {
		return nil, kerror.New("services.storage.unknown_index", index)
	}
	var cb *bolt.Bucket
	if collection != "" {
		cb = ib.Bucket([]byte(collection))
	}
	if cb == nil {
		return nil, kerror.New("services.storage.unknown_collection", index, collection)
	}
	return cb, nil
}

// coll is a collection opened for writing.
type coll struct {
	index, name string
	bucket      *bolt.Bucket
	docs        *bolt.Bucket
	// mapping may be shared with the mapping cache until ownMapping is
	// set: it is cloned before its first change.
	mapping    *mapping
	ownMapping bool
	// mappingChanged is set when documents added dynamic fields; the
	// mapping is written once at the end of the write.
	mappingChanged bool
}

func (c *coll) flushMapping() error {
	if !c.mappingChanged {
		return nil
	}
	c.mappingChanged = false
	return putMapping(c.bucket, c.mapping)
}

func openColl(tx *bolt.Tx, mc *mappingCache, index, collection string) (*coll, error) {
	cb, err := collectionBucket(tx, index, collection)
	if err != nil {
		return nil, err
	}
	mp, err := mc.load(index, collection, cb)
	if err != nil {
		return nil, err
	}
	// Every document write opens its collection here: a write-blocked one
	// refuses them all.
	st, err := loadSettings(cb)
	if err != nil {
		return nil, err
	}
	if st.BlocksWrite {
		return nil, writeBlocked(index, collection)
	}
	return &coll{index: index, name: collection, bucket: cb, docs: cb.Bucket(bucketDocs), mapping: mp}, nil
}

// load returns the stored document, or nil when it does not exist. The
// write computes the new source from a copy (storage.NewSource), so the
// document can be reported as Before untouched.
func (c *coll) load(id string) (*storage.Document, error) {
	rec := c.docs.Get([]byte(id))
	if rec == nil {
		return nil, nil
	}
	return decodeRecord(id, rec)
}

// store validates and writes a document. The returned document is decoded
// back from the stored bytes, so that every replica reports exactly what a
// later Get returns, whatever Go types the caller's body held.
func (c *coll) store(id string, version int64, src map[string]any) (*storage.Document, error) {
	if bad := c.mapping.strictViolation(src); bad != "" {
		return nil, kerror.New("services.storage.strict_mapping_rejection", bad, c.index, c.name)
	}
	rec, err := encodeRecord(version, src)
	if err != nil {
		return nil, kerror.Wrap(err, "services.storage.invalid_argument", "body", "a JSON-serialisable object")
	}
	if len(rec) > bolt.MaxValueSize {
		// bbolt would refuse it and fail the whole batch: refuse the
		// document instead, the same way on every replica.
		return nil, kerror.New("services.storage.invalid_argument", "body", "a document smaller than 2 GB once stored")
	}
	if err := c.docs.Put([]byte(id), rec); err != nil {
		return nil, fmt.Errorf("put document %q: %w", id, err)
	}
	doc, err := decodeRecord(id, rec)
	if err != nil {
		return nil, err
	}
	if c.mapping.wouldAddDynamicFields(doc.Source) {
		if !c.ownMapping {
			c.mapping, c.ownMapping = c.mapping.clone(), true
		}
		c.mapping.addDynamicFields(doc.Source)
		c.mappingChanged = true
	}
	return doc, nil
}

func notFound(c *coll, id string) *kerror.Error {
	return kerror.New("services.storage.not_found", id, c.index, c.name)
}

func docWrite(tx *bolt.Tx, w *storage.Write, mc *mappingCache) (storage.WriteResult, error) {
	c, err := openColl(tx, mc, w.Index, w.Collection)
	if err != nil {
		return wrap(err)
	}
	res := storage.WriteResult{Items: make([]storage.ItemResult, 0, len(w.Docs))}
	for i := range w.Docs {
		d := &w.Docs[i]
		item, err := docOp(c, w, d)
		if err != nil {
			var ke *kerror.Error
			if !errors.As(err, &ke) {
				return res, err
			}
			item = storage.ItemResult{ID: d.ID, Err: ke}
		}
		res.Items = append(res.Items, item)
	}
	return res, c.flushMapping()
}

func checkID(id string) error {
	if id == "" {
		return kerror.New("services.storage.missing_argument", "_id")
	}
	if len(id) > maxIDBytes {
		return kerror.New("services.storage.invalid_argument", "_id", fmt.Sprintf("at most %d bytes", maxIDBytes))
	}
	return nil
}

func docOp(c *coll, w *storage.Write, d *storage.DocWrite) (storage.ItemResult, error) {
	item := storage.ItemResult{ID: d.ID}
	if err := checkID(d.ID); err != nil {
		return item, err
	}
	before, err := c.load(d.ID)
	if err != nil {
		return item, err
	}
	item.Before = before
	version := int64(1)
	var stored map[string]any
	if before != nil {
		version, stored = before.Version+1, before.Source
	}
	src, fields, created, kerr := storage.NewSource(w, d, stored, func() *kerror.Error { return notFound(c, d.ID) })
	if kerr != nil {
		return item, kerr
	}
	item.UpdatedFields, item.Created = fields, created
	if src == nil { // a delete
		if err := c.docs.Delete([]byte(d.ID)); err != nil {
			return item, fmt.Errorf("delete document %q: %w", d.ID, err)
		}
		return item, nil
	}
	after, err := c.store(d.ID, version, src)
	if err != nil {
		return item, err
	}
	item.After = after
	return item, nil
}

// byQuery runs deleteByQuery and updateByQuery. Matching documents are
// collected in id order before anything changes, so the Limit check fails
// the command without side effects.
func byQuery(tx *bolt.Tx, w *storage.Write, mc *mappingCache) (storage.WriteResult, error) {
	c, err := openColl(tx, mc, w.Index, w.Collection)
	if err != nil {
		return wrap(err)
	}
	if w.Op == storage.OpDocUpdateByQuery && len(w.Changes) == 0 {
		return storage.WriteResult{Err: kerror.New("services.storage.missing_argument", "body.changes")}, nil
	}
	q, err := query.CompileWith(w.Query, c.mapping.fieldType)
	if err != nil {
		return wrap(err)
	}
	var ids []string
	match := q.Matcher()
	cur := c.docs.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		src, err := decodeSource(v[8:])
		if err != nil {
			return storage.WriteResult{}, fmt.Errorf("corrupt document %q: %w", k, err)
		}
		if ok, _ := match(&query.Doc{ID: string(k), Source: src}); ok {
			ids = append(ids, string(k))
		}
	}
	if w.Limit > 0 && len(ids) > w.Limit {
		return storage.WriteResult{Err: kerror.New("services.storage.write_limit_exceeded")}, nil
	}
	op := storage.OpDocDelete
	if w.Op == storage.OpDocUpdateByQuery {
		op = storage.OpDocUpdate
	}
	sub := *w
	sub.Op = op
	res := storage.WriteResult{Items: make([]storage.ItemResult, 0, len(ids))}
	for _, id := range ids {
		item, err := docOp(c, &sub, &storage.DocWrite{ID: id, Body: w.Changes})
		if err != nil {
			var ke *kerror.Error
			if !errors.As(err, &ke) {
				return res, err
			}
			item = storage.ItemResult{ID: id, Err: ke}
		}
		res.Items = append(res.Items, item)
	}
	return res, c.flushMapping()
}
