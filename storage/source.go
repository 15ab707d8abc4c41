package storage

import (
	"sort"
	"strconv"
	"strings"

	"github.com/korumdb/korum/kerror"
)

// NewSource computes the _source a per-document write produces from the
// stored one (nil when the document does not exist), with Kuzzle's
// semantics: create and replace stamp a fresh _kuzzle_info, update and
// upsert merge objects recursively (arrays and scalars replace), upsert
// creates from its defaults overridden by the changes, deleteFields removes
// dot paths. Every engine uses it, so that a write means the same whatever
// stores it. stored is not modified. For a delete, src is nil.
//
// The error is the write's per-document client error (already exists, not
// found); notFound builds the engine's not-found error.
func NewSource(w *Write, d *DocWrite, stored map[string]any, notFound func() *kerror.Error) (src map[string]any, updatedFields []string, created bool, err *kerror.Error) {
	exists := stored != nil
	op := w.Op
	if op == OpDocBulk {
		op = d.Op // each document of a bulk:import carries its own
		switch op {
		case OpDocCreate, OpDocCreateOrReplace, OpDocReplace, OpDocUpdate, OpDocUpsert, OpDocDelete:
		default:
			return nil, nil, false, kerror.New("services.storage.invalid_argument", "op", "a per-document write operation")
		}
	}
	switch op {
	case OpDocCreate:
		if exists {
			return nil, nil, false, kerror.New("services.storage.document_already_exists")
		}
		if w.Verbatim {
			return verbatim(d.Body), nil, true, nil
		}
		src = Body(d.Body)
		src["_kuzzle_info"] = map[string]any{"author": author(w), "createdAt": w.Now, "updatedAt": nil, "updater": nil}
		return src, nil, true, nil

	case OpDocCreateOrReplace, OpDocReplace:
		if !exists && op == OpDocReplace {
			return nil, nil, false, notFound()
		}
		if w.Verbatim {
			return verbatim(d.Body), nil, !exists, nil
		}
		// Kuzzle stamps a replaced document as newly created and updated.
		src = Body(d.Body)
		src["_kuzzle_info"] = map[string]any{"author": author(w), "createdAt": w.Now, "updatedAt": w.Now, "updater": author(w)}
		return src, nil, !exists, nil

	case OpDocUpdate, OpDocUpdateByQuery:
		if !exists {
			return nil, nil, false, notFound()
		}
		return merged(stored, d.Body, w), LeafPaths(d.Body), false, nil

	case OpDocUpsert:
		if exists {
			return merged(stored, d.Body, w), LeafPaths(d.Body), false, nil
		}
		// ES upsert document: defaults overridden by the changes (a shallow
		// merge), stamped with creation metadata only.
		src = Body(d.Default)
		for k, v := range Body(d.Body) {
			src[k] = v
		}
		src["_kuzzle_info"] = map[string]any{"author": author(w), "createdAt": w.Now}
		return src, nil, true, nil

	case OpDocDelete, OpDocDeleteByQuery:
		if !exists {
			return nil, nil, false, notFound()
		}
		return nil, nil, false, nil

	case OpDocDeleteFields:
		if !exists {
			return nil, nil, false, notFound()
		}
		src = deepCopyMap(stored)
		seen := map[string]bool{}
		for _, f := range d.Fields {
			if f != "" && !seen[f] && unset(src, strings.Split(f, ".")) {
				updatedFields = append(updatedFields, f)
			}
			seen[f] = true
		}
		stampUpdate(src, w)
		return src, updatedFields, false, nil
	}
	return nil, nil, false, kerror.New("services.storage.invalid_argument", "op", "a per-document write operation")
}

func author(w *Write) any {
	if w.Author == "" {
		return nil
	}
	return w.Author
}

// verbatim copies a body as the caller gave it, _kuzzle_info included
// (bulk:write and bulk:mWrite write "directly into the storage engine").
func verbatim(b map[string]any) map[string]any {
	out := make(map[string]any, len(b))
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Body copies the caller's document body without its _kuzzle_info, which
// only the engine writes (Kuzzle overwrites any client-provided one).
func Body(b map[string]any) map[string]any {
	out := make(map[string]any, len(b)+1)
	for k, v := range b {
		if k != "_kuzzle_info" {
			out[k] = v
		}
	}
	return out
}

func merged(stored, changes map[string]any, w *Write) map[string]any {
	src := deepCopyMap(stored)
	MergeInto(src, Body(changes))
	stampUpdate(src, w)
	return src
}

func stampUpdate(src map[string]any, w *Write) {
	info, _ := src["_kuzzle_info"].(map[string]any)
	if info == nil {
		info = map[string]any{}
	}
	info["updatedAt"] = w.Now
	info["updater"] = author(w)
	src["_kuzzle_info"] = info
}

// MergeInto deep-merges src into dst: objects merge recursively, everything
// else (arrays included) replaces, copied. It is lodash.merge's semantics,
// which Kuzzle uses for partial updates and mapping updates.
func MergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				MergeInto(dm, sm)
				continue
			}
		}
		dst[k] = DeepCopy(v)
	}
}

func deepCopyMap(m map[string]any) map[string]any {
	c, _ := DeepCopy(m).(map[string]any)
	return c
}

// DeepCopy copies decoded JSON: objects and arrays are copied, scalars shared.
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(t))
		for k, e := range t {
			c[k] = DeepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = DeepCopy(e)
		}
		return c
	}
	return v
}

// LeafPaths lists the dot paths of the leaves of changes (objects are
// descended, arrays are leaves), sorted, without _kuzzle_info: Kuzzle's
// _updatedFields for update notifications.
func LeafPaths(changes map[string]any) []string {
	var out []string
	var walk func(m map[string]any, prefix string)
	walk = func(m map[string]any, prefix string) {
		for k, v := range m {
			if prefix == "" && k == "_kuzzle_info" {
				continue
			}
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(sub, p)
				continue
			}
			out = append(out, p)
		}
	}
	walk(changes, "")
	sort.Strings(out)
	return out
}

// unset removes the value at path (object keys, or array positions which
// become null, as lodash.set(undefined) serialises), reporting whether
// anything was there.
func unset(v any, parts []string) bool {
	switch t := v.(type) {
	case map[string]any:
		child, ok := t[parts[0]]
		if !ok {
			return false
		}
		if len(parts) == 1 {
			delete(t, parts[0])
			return true
		}
		return unset(child, parts[1:])
	case []any:
		i, err := strconv.Atoi(parts[0])
		if err != nil || i < 0 || i >= len(t) {
			return false
		}
		if len(parts) == 1 {
			t[i] = nil
			return true
		}
		return unset(t[i], parts[1:])
	}
	return false
}
