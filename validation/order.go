package validation

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// fieldOrder reads the keys of a specification's "fields" object in the
// order its JSON holds them, each once (its first occurrence), then in
// JavaScript's order for an object's keys: the array-index-like ones
// first, ascending, then the others as written. Kuzzle checks fields in
// that order. It depends only on the bytes, which are the replicated
// state's, so every replica orders alike. nil when raw has no fields
// object.
func fieldOrder(raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := t.(string)
		if name != "fields" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return nil
			}
			continue
		}
		// The last "fields" wins, as when decoding.
		if keys, err = objectKeys(dec); err != nil {
			return nil
		}
	}
	return jsKeyOrder(keys)
}

// objectKeys reads the keys of the object that comes next, skipping its
// values. A stored specification's fields are an object or a falsy scalar
// (anything else does not parse): a scalar yields no keys.
func objectKeys(dec *json.Decoder) ([]string, error) {
	t, err := dec.Token()
	if err != nil || t != json.Delim('{') {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	_, err = dec.Token()
	return keys, err
}

// jsKeyOrder orders keys as a JavaScript object enumerates them.
func jsKeyOrder(keys []string) []string {
	index := func(k string) (uint64, bool) {
		n, err := strconv.ParseUint(k, 10, 32)
		return n, err == nil && n < 1<<32-1 && strconv.FormatUint(n, 10) == k
	}
	var ints, others []string
	for _, k := range keys {
		if _, ok := index(k); ok {
			ints = append(ints, k)
		} else {
			others = append(others, k)
		}
	}
	slices.SortFunc(ints, func(a, b string) int {
		x, _ := index(a)
		y, _ := index(b)
		return int(int64(x) - int64(y))
	})
	return append(ints, others...)
}
