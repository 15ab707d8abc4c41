package api

import (
	"fmt"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// requestTargets reads the targets argument (document:search across
// several indexes and collections, Kuzzle 2.17), checked as Kuzzle's
// assertTargetsAreValid does: every target names an index and a non-empty
// list of collections, none of them a pattern Elasticsearch would expand
// ("*", ",", "+", "_all"), which would reach collections the rights check
// never saw. Absent or empty, it is nil.
func requestTargets(r *Request) ([]storage.Target, error) {
	v, ok := r.Args["targets"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "targets", "array")
	}
	out := make([]storage.Target, 0, len(list))
	for i, item := range list {
		m, _ := item.(map[string]any)
		index, _ := m["index"].(string)
		if index == "" {
			return nil, kerror.New("api.assert.missing_argument", fmt.Sprintf("targets[%d].index", i))
		}
		if multiTarget(index) {
			return nil, kerror.New("services.storage.invalid_target_format", fmt.Sprintf("targets[%d].index", i), index)
		}
		raw, ok := m["collections"]
		if !ok || raw == nil {
			return nil, kerror.New("api.assert.missing_argument", fmt.Sprintf("targets[%d].collections", i))
		}
		colls, ok := raw.([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", fmt.Sprintf("targets[%d].collections", i), "array")
		}
		if len(colls) == 0 {
			return nil, kerror.New("api.assert.empty_argument", fmt.Sprintf("targets[%d].collections", i))
		}
		t := storage.Target{Index: index, Collections: make([]string, 0, len(colls))}
		for j, c := range colls {
			name, ok := c.(string)
			if !ok {
				return nil, kerror.New("api.assert.invalid_type", fmt.Sprintf("targets[%d].collections[%d]", i, j), "string")
			}
			if multiTarget(name) {
				return nil, kerror.New("services.storage.invalid_target_format", fmt.Sprintf("targets[%d].collections[%d]", i, j), name)
			}
			t.Collections = append(t.Collections, name)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// multiTarget reports whether an index or collection name is one
// Elasticsearch would read as several (Kuzzle's _hasMultiTargets).
func multiTarget(s string) bool {
	return strings.ContainsAny(s, ",*+") || s == "_all"
}

// checkTargets is the rights check of a request carrying targets, run by
// the router before any handler: Kuzzle refuses targets beside an index
// or a collection (which one would the rights be checked on?), and the
// user must be allowed the action on every collection of every target.
func checkTargets(r *Request, index, collection string, allowed func(index, collection string) error) error {
	targets, err := requestTargets(r)
	if err != nil || targets == nil {
		return err
	}
	if index != "" || collection != "" {
		return kerror.New("api.assert.mutually_exclusive", "index, collection", "targets")
	}
	for _, t := range targets {
		for _, c := range t.Collections {
			if err := allowed(t.Index, c); err != nil {
				return err
			}
		}
	}
	return nil
}
