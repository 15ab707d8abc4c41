// Package filter: TEMPORARY placeholder with the agreed API (equals and {}
// only) so dependants compile until the real engine lands. Deleted on merge.
package filter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
)

type Options struct{ MaxConditions int }

type ParseError struct{ Path, Keyword, Message string }

func (e *ParseError) Error() string { return fmt.Sprintf("%q: %s", e.Path, e.Message) }

type Normalized struct {
	ID                string
	Index, Collection string
	Canonical         json.RawMessage
	field             string
	value             any
	all               bool
}

type Engine struct {
	mu  sync.RWMutex
	all map[string]*Normalized
}

func New(Options) *Engine { return &Engine{all: map[string]*Normalized{}} }

func (e *Engine) Validate(f any) error { _, err := e.Normalize("", "", f); return err }

func (e *Engine) Normalize(index, collection string, f any) (*Normalized, error) {
	m, ok := f.(map[string]any)
	if !ok {
		return nil, &ParseError{Message: "filters must be an object"}
	}
	n := &Normalized{Index: index, Collection: collection}
	if len(m) == 0 {
		n.all = true
	} else if eq, ok := m["equals"].(map[string]any); ok && len(m) == 1 && len(eq) == 1 {
		for k, v := range eq {
			n.field, n.value = k, v
		}
	} else {
		return nil, &ParseError{Path: "", Message: "unsupported in placeholder"}
	}
	n.Canonical, _ = json.Marshal(f)
	sum := sha256.Sum256([]byte(index + "/" + collection + "/" + string(n.Canonical)))
	n.ID = hex.EncodeToString(sum[:])
	return n, nil
}

func FromCanonical(index, collection string, c json.RawMessage) (*Normalized, error) {
	var f any
	if err := json.Unmarshal(c, &f); err != nil {
		return nil, err
	}
	return New(Options{}).Normalize(index, collection, f)
}

func (e *Engine) Store(n *Normalized) { e.mu.Lock(); e.all[n.ID] = n; e.mu.Unlock() }
func (e *Engine) Register(i, c string, f any) (*Normalized, error) {
	n, err := e.Normalize(i, c, f)
	if err == nil {
		e.Store(n)
	}
	return n, err
}
func (e *Engine) Remove(id string) { e.mu.Lock(); delete(e.all, id); e.mu.Unlock() }
func (e *Engine) Has(id string) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.all[id] != nil
}
func (e *Engine) IDs(i, c string) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for id, n := range e.all {
		if n.Index == i && n.Collection == c {
			out = append(out, id)
		}
	}
	return out
}
func (e *Engine) Test(i, c, id string, src map[string]any) []string {
	return e.AppendTest(nil, i, c, id, src)
}
func (e *Engine) AppendTest(dst []string, i, c, id string, src map[string]any) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for rid, n := range e.all {
		if n.Index != i || n.Collection != c {
			continue
		}
		if n.all {
			dst = append(dst, rid)
			continue
		}
		v, ok := src[n.field]
		if n.field == "_id" {
			v, ok = id, true
		}
		if ok && v == n.value {
			dst = append(dst, rid)
		}
	}
	return dst
}
