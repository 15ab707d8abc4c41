package query

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// refWalk is the straightforward walk: at every object, look up every
// dotted prefix of the remaining path. Quadratic in the path's length, it
// is the specification the linear walk must agree with.
func refWalk(v any, parts []string, out []any) []any {
	if len(parts) == 0 {
		return flatten(v, out)
	}
	switch t := v.(type) {
	case map[string]any:
		for i := 1; i <= len(parts); i++ {
			if c, ok := t[strings.Join(parts[:i], ".")]; ok {
				out = refWalk(c, parts[i:], out)
			}
		}
	case []any:
		for _, e := range t {
			out = refWalk(e, parts, out)
		}
	}
	return out
}

func refCollect(src map[string]any, field string) []any {
	parts := strings.Split(field, ".")
	out := refWalk(src, parts, nil)
	if len(out) == 0 && len(parts) > 1 && parts[len(parts)-1] == "keyword" {
		out = refWalk(src, parts[:len(parts)-1], nil)
	}
	return out
}

// TestCollectMatchesReference compares the walk with refWalk on random
// documents with dotted keys, short paths and long ones (the two
// strategies of walker.walk), values and their order included.
func TestCollectMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "keyword", strings.Repeat("x", 40)}
	randKey := func() string {
		n := 1 + rng.IntN(3)
		k := make([]string, n)
		for i := range k {
			k[i] = segs[rng.IntN(len(segs))]
		}
		return strings.Join(k, ".")
	}
	var gen func(depth int) any
	gen = func(depth int) any {
		switch r := rng.IntN(6); {
		case depth > 3 || r == 0:
			return float64(rng.IntN(100))
		case r == 1:
			return []any{gen(depth + 1), gen(depth + 1)}
		case r == 2:
			return nil
		default:
			m := map[string]any{}
			for range 1 + rng.IntN(4) {
				m[randKey()] = gen(depth + 1)
			}
			return m
		}
	}
	for i := range 5000 {
		doc, ok := gen(0).(map[string]any)
		if !ok {
			continue
		}
		n := 1 + rng.IntN(6)
		parts := make([]string, n)
		for j := range parts {
			parts[j] = segs[rng.IntN(len(segs))]
		}
		field := strings.Join(parts, ".")
		got := collect(doc, newPath(field), nil)
		want := refCollect(doc, field)
		if len(got) != 0 || len(want) != 0 {
			if !reflect.DeepEqual(got, want) {
				b, _ := json.Marshal(doc)
				t.Fatalf("case %d: %s on %s: got %v, want %v", i, field, b, got, want)
			}
		}
	}
}

// TestCollectWorkIsLinear: a path of 100,000 segments used to cost about
// two seconds per document (a dotted key rebuilt for every prefix at every
// level). The work now stays within a small multiple of the document's
// size, which the test checks by counting it, not by timing it.
func TestCollectWorkIsLinear(t *testing.T) {
	long := strings.TrimSuffix(strings.Repeat("a.", 100000), ".")
	// Nested objects along the path, dotted keys that match a prefix,
	// arrays of objects, and wide objects.
	doc := map[string]any{"a.a": map[string]any{"a": 1.0}}
	cur := doc
	for range 50 {
		next := map[string]any{"z": 2.0, "a.a.a": []any{map[string]any{"a": 3.0}}}
		cur["a"] = next
		cur = next
	}
	wide := map[string]any{}
	for i := range 1000 {
		wide[fmt.Sprint("k", i)] = []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0}}
	}
	doc["w"] = wide
	size := 0
	var measure func(v any)
	measure = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				size += len(k) + 1
				measure(c)
			}
		case []any:
			for _, c := range t {
				measure(c)
			}
		}
	}
	measure(doc)
	p := newPath(long)
	_, work := collectCounting(doc, &p, nil)
	if work > 2*size {
		t.Fatalf("work %d for a document of %d key bytes: not linear", work, size)
	}
	// The same path, one segment off, on 1000 documents: the total work
	// grows with the documents, not with the square of the path.
	p = newPath(long + ".b")
	total := 0
	for range 1000 {
		_, w := collectCounting(doc, &p, nil)
		total += w
	}
	if total > 1000*2*size {
		t.Fatalf("work %d over 1000 documents", total)
	}
}
