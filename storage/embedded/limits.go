package embedded

import (
	"fmt"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

// WriteLimits bound what one write may add to a collection, as
// Elasticsearch's mapping limits do. They are per-node configuration, so
// Validate checks them on the node that proposes a write and Apply never
// looks at them: every replica applies an accepted write the same way
// whatever its own settings. Zero fields take the defaults.
type WriteLimits struct {
	// MappingDepth is Elasticsearch's index.mapping.depth.limit: the most
	// objects on a path from the root of a document or a mapping, the root
	// counting as 1 ({"a":{"b":1}} has depth 2).
	MappingDepth int
	// MappingTotalFields is index.mapping.total_fields.limit: the most
	// fields a collection's mapping may hold once a write's dynamic fields
	// are added (objects and multi-fields such as a text field's "keyword"
	// count, as in Elasticsearch).
	MappingTotalFields int
	// FieldNameLength is index.mapping.field_name_length.limit, in
	// characters, for every key of a document or a mapping. Elasticsearch
	// has no limit by default; 256 keeps a full mapping of
	// MappingTotalFields fields small enough to load on every request.
	FieldNameLength int
}

const (
	DefaultMappingDepth       = 20
	DefaultMappingTotalFields = 1000
	DefaultFieldNameLength    = 256
	// MaxMappingDepth caps MappingDepth. A document also may not nest
	// objects and arrays together deeper than this, whatever MappingDepth
	// (Jackson's, and so Elasticsearch's, nesting bound): far below the
	// 10000 levels encoding/json decodes a Raft entry with, and below the
	// recursion any code path can afford.
	MaxMappingDepth = 1000
)

func (l WriteLimits) withDefaults() WriteLimits {
	if l.MappingDepth <= 0 {
		l.MappingDepth = DefaultMappingDepth
	}
	l.MappingDepth = min(l.MappingDepth, MaxMappingDepth)
	if l.MappingTotalFields <= 0 {
		l.MappingTotalFields = DefaultMappingTotalFields
	}
	if l.FieldNameLength <= 0 {
		l.FieldNameLength = DefaultFieldNameLength
	}
	return l
}

// Validate checks a write before it is proposed: the limits above, against
// the collection's current mapping, and the names and queries Apply would
// refuse anyway (a refused write never reaches the log). err refuses the
// whole write; otherwise items, when not nil, has one entry per w.Docs, nil
// for a document that may go on. The work is linear in the size of the
// write plus that of the mapping.
//
// Validation reads the mapping as it is now: writes applied between this
// check and the write's own apply may add fields, so a collection can end
// a little past MappingTotalFields under concurrent writes, never by more
// than what those writes validated against the same mapping added.
func (e *Engine) Validate(w *storage.Write, lim WriteLimits) (err *kerror.Error, items []*kerror.Error) {
	v := validator{lim: lim.withDefaults(), where: w.Index + ":" + w.Collection}
	switch w.Op {
	case storage.OpIndexCreate:
		if !validName(w.Index) {
			return kerror.New("services.storage.invalid_index_name", w.Index), nil
		}
	case storage.OpCollectionCreate, storage.OpCollectionUpdate:
		return v.mappingUpdate(e, w), nil
	case storage.OpDocCreate, storage.OpDocCreateOrReplace, storage.OpDocReplace, storage.OpDocUpdate, storage.OpDocUpsert:
		return nil, v.documents(e, w)
	case storage.OpDocUpdateByQuery:
		if err := v.document(w.Changes); err != nil {
			return err, nil
		}
		mp := e.currentMapping(w.Index, w.Collection)
		if mp == nil {
			return nil, nil
		}
		if err := v.query(mp, w.Query); err != nil {
			return err, nil
		}
		f := v.fields(mp)
		return f.add(w.Changes), nil
	case storage.OpDocDeleteByQuery:
		if mp := e.currentMapping(w.Index, w.Collection); mp != nil {
			return v.query(mp, w.Query), nil
		}
	}
	return nil, nil
}

// currentMapping is the collection's mapping, or nil when the collection
// does not exist or its mapping cannot be read: Apply reports those. Its
// maps are shared with the mapping cache and must not be modified (the
// struct is the caller's own).
func (e *Engine) currentMapping(index, collection string) *mapping {
	var mp *mapping
	_ = e.view(func(tx *bolt.Tx) error {
		cb, err := collectionBucket(tx, index, collection)
		if err == nil {
			if shared, err := e.mappings.load(index, collection, cb); err == nil {
				cp := *shared
				mp = &cp
			}
		}
		return nil
	})
	return mp
}

type validator struct {
	lim   WriteLimits
	where string // "index:collection", for messages
}

func tooLong(name string, limit int) bool {
	return len(name) > limit && utf8.RuneCountInString(name) > limit
}

func (v *validator) nameError(name string) *kerror.Error {
	shown := name
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	return kerror.New("services.storage.unexpected_bad_request", fmt.Sprintf(
		"Field name [%s] in collection [%s] is too long. The limit is set to [%d] characters but was [%d] characters",
		shown, v.where, v.lim.FieldNameLength, utf8.RuneCountInString(name)))
}

func (v *validator) depthError(path []string) *kerror.Error {
	return kerror.New("services.storage.unexpected_bad_request", fmt.Sprintf(
		"Limit of mapping depth [%d] in collection [%s] has been exceeded due to object field [%s]",
		v.lim.MappingDepth, v.where, strings.Join(path, ".")))
}

func (v *validator) nestingError() *kerror.Error {
	return kerror.New("services.storage.unexpected_bad_request", fmt.Sprintf(
		"The document nests objects and arrays deeper than %d levels", MaxMappingDepth))
}

func (v *validator) fieldsError() *kerror.Error {
	return kerror.New("services.storage.unexpected_bad_request", fmt.Sprintf(
		"Limit of total fields [%d] in collection [%s] has been exceeded", v.lim.MappingTotalFields, v.where))
}

// document checks a document body (or update changes): object depth, JSON
// nesting and key lengths. It stops at the first excess, so its work is
// bounded by the limits, not by how deep the body goes.
func (v *validator) document(src map[string]any) *kerror.Error {
	if src == nil {
		return nil
	}
	path := make([]string, 0, 8)
	var walk func(x any, objects, nesting int) *kerror.Error
	walk = func(x any, objects, nesting int) *kerror.Error {
		if nesting > MaxMappingDepth {
			return v.nestingError()
		}
		switch t := x.(type) {
		case map[string]any:
			objects++
			if objects > v.lim.MappingDepth {
				return v.depthError(path)
			}
			for k, c := range t {
				if tooLong(k, v.lim.FieldNameLength) {
					return v.nameError(k)
				}
				path = append(path, k)
				err := walk(c, objects, nesting+1)
				path = path[:len(path)-1]
				if err != nil {
					return err
				}
			}
		case []any:
			for _, c := range t {
				if err := walk(c, objects, nesting+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(src, 0, 0)
}

// fieldSet tracks a collection's mapping while the documents of one write
// add their dynamic fields to it, in order.
type fieldSet struct {
	v  *validator
	mp *mapping // its Properties are this validation's own copy
}

func (v *validator) fields(mp *mapping) *fieldSet {
	return &fieldSet{v: v, mp: mp}
}

// add refuses a document whose dynamic fields would take the mapping past
// the limit, and otherwise counts them for the documents after it.
func (f *fieldSet) add(src map[string]any) *kerror.Error {
	if src == nil || !inferInto(f.mp.Properties, src, f.mp.Dynamic, true, true) {
		return nil
	}
	trial := deepCopy(f.mp.Properties).(map[string]any)
	inferInto(trial, src, f.mp.Dynamic, true, false)
	if countFields(trial, true) > f.v.lim.MappingTotalFields {
		return f.v.fieldsError()
	}
	f.mp.Properties = trial
	return nil
}

// countFields counts a mapping's fields as Elasticsearch does: every
// property, object or leaf, and every multi-field. Kuzzle's own
// _kuzzle_info at the root is not the user's and is not counted.
func countFields(props map[string]any, root bool) int {
	n := 0
	for k, d := range props {
		if root && k == "_kuzzle_info" {
			continue
		}
		n++
		def, _ := d.(map[string]any)
		if sub, ok := def["properties"].(map[string]any); ok {
			n += countFields(sub, false)
		}
		if mf, ok := def["fields"].(map[string]any); ok {
			n += len(mf)
		}
	}
	return n
}

// documents checks every document of a per-document write, in order.
func (v *validator) documents(e *Engine, w *storage.Write) []*kerror.Error {
	var items []*kerror.Error
	refuse := func(i int, err *kerror.Error) {
		if items == nil {
			items = make([]*kerror.Error, len(w.Docs))
		}
		items[i] = err
	}
	var f *fieldSet
	if mp := e.currentMapping(w.Index, w.Collection); mp != nil {
		f = v.fields(mp)
	}
	for i := range w.Docs {
		d := &w.Docs[i]
		if err := checkID(d.ID); err != nil {
			refuse(i, kerror.From(err))
			continue
		}
		err := v.document(d.Body)
		if err == nil && w.Op == storage.OpDocUpsert {
			err = v.document(d.Default)
		}
		if err == nil && f != nil {
			// An upsert adds the fields of both; checking the defaults
			// first, then the changes, counts each field once.
			if w.Op == storage.OpDocUpsert {
				err = f.add(d.Default)
			}
			if err == nil {
				err = f.add(d.Body)
			}
		}
		if err != nil {
			refuse(i, err)
		}
	}
	return items
}

// mappingUpdate checks collection:create and collection:update: names, the
// shape Apply would refuse, and the limits on the mapping as merged.
func (v *validator) mappingUpdate(e *Engine, w *storage.Write) *kerror.Error {
	if w.Op == storage.OpCollectionCreate {
		// Kuzzle checks the names, then refuses its hidden collection's:
		// a valid name to Kuzzle, a leading underscore to Korum, where
		// Apply refuses it as invalid_collection_name. Only the error
		// given before proposing changes.
		if validName(w.Index) && w.Collection == reservedCollection {
			return kerror.New("services.storage.collection_reserved", reservedCollection)
		}
		if err := checkNames(w.Index, w.Collection); err != nil {
			return err
		}
	}
	in, err := parseMappings(w.Mappings)
	if err != nil {
		return kerror.From(err)
	}
	// The whole mapping (with _meta, dynamic_templates...) nests no deeper
	// than a document may.
	if err := v.nesting(in); err != nil {
		return err
	}
	props, _ := in["properties"].(map[string]any)
	if err := v.mappingShape(props, nil); err != nil {
		return err
	}
	merged := map[string]any{}
	if mp := e.currentMapping(w.Index, w.Collection); mp != nil {
		merged = deepCopy(mp.Properties).(map[string]any)
	}
	mergeMaps(merged, props)
	if countFields(merged, true) > v.lim.MappingTotalFields {
		return v.fieldsError()
	}
	return nil
}

// nesting checks that x nests objects and arrays no deeper than
// MaxMappingDepth.
func (v *validator) nesting(x any) *kerror.Error {
	var walk func(x any, n int) bool
	walk = func(x any, n int) bool {
		if n > MaxMappingDepth {
			return false
		}
		switch t := x.(type) {
		case map[string]any:
			for _, c := range t {
				if !walk(c, n+1) {
					return false
				}
			}
		case []any:
			for _, c := range t {
				if !walk(c, n+1) {
					return false
				}
			}
		}
		return true
	}
	if !walk(x, 0) {
		return v.nestingError()
	}
	return nil
}

// mappingShape checks the field names and object depth of a mapping's
// properties; path is the object holding them.
func (v *validator) mappingShape(props map[string]any, path []string) *kerror.Error {
	if len(path)+1 > v.lim.MappingDepth {
		return v.depthError(path)
	}
	for k, d := range props {
		if tooLong(k, v.lim.FieldNameLength) {
			return v.nameError(k)
		}
		def, _ := d.(map[string]any)
		if mf, ok := def["fields"].(map[string]any); ok {
			for name := range mf {
				if tooLong(name, v.lim.FieldNameLength) {
					return v.nameError(name)
				}
			}
		}
		if sub, ok := def["properties"].(map[string]any); ok {
			if err := v.mappingShape(sub, append(path, k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// query compiles a by-query write's query against the mapping, so a bad
// query is refused before it reaches the log.
func (v *validator) query(mp *mapping, raw []byte) *kerror.Error {
	if _, err := query.CompileWith(raw, mp.fieldType); err != nil {
		return kerror.From(err)
	}
	return nil
}
