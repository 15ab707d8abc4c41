package filter

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary JSON to the parser: no panic, Validate and
// Normalize agree, canonical forms survive a FromCanonical round trip and
// normalizing is idempotent on the meaning.
func FuzzParse(f *testing.F) {
	for _, c := range validationCases {
		f.Add(c.filter)
	}
	for _, c := range matchCases {
		f.Add(c.filter)
	}
	f.Add(`{"and":[{"or":[{"equals":{"a":1}},{"not":{"exists":"b[\"x\"]"}}]},{"bool":{"should_not":[{"range":{"n":{"gt":1}}}]}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		e := New(Options{MaxConditions: 20})
		verr := e.Validate(v)
		n, nerr := e.Normalize("i", "c", v)
		if verr != nil && nerr == nil {
			t.Fatalf("Validate rejects (%v) what Normalize accepts", verr)
		}
		if verr != nil {
			if _, ok := verr.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError", verr)
			}
		}
		if nerr != nil {
			return
		}
		m, err := FromCanonical("i", "c", n.Canonical)
		if err != nil {
			t.Fatalf("FromCanonical(%s): %v", n.Canonical, err)
		}
		if m.ID != n.ID {
			t.Fatalf("FromCanonical changed the id of %s", n.Canonical)
		}
		e.Store(n)
		e.Test("i", "c", "x", map[string]any{"a": 1.0, "b": []any{"x"}, "n": 2.0})
	})
}

// FuzzMatch compares the indexed engine with the naive evaluation of the
// canonical forms and with the plain meaning of the filters, over random
// filters and documents drawn from a seed.
func FuzzMatch(f *testing.F) {
	for _, s := range []uint64{0, 1, 2, 3, 42, 1 << 40} {
		f.Add(s, uint8(20), uint8(20))
	}
	f.Fuzz(func(t *testing.T, seed uint64, nf, nd uint8) {
		g := newGen(seed)
		e := New(Options{})
		type reg struct {
			n    *Normalized
			tree *expr
		}
		var regs []reg
		for i := 0; i < int(nf%40)+1; i++ {
			fl := g.top()
			n, err := e.Register("i", "c", fl)
			if err != nil {
				continue
			}
			p := &parser{maxConds: 100}
			tree, _ := p.standardize(fl, "")
			regs = append(regs, reg{n, tree})
			if i%7 == 3 && len(regs) > 1 { // exercise removal too
				gone := regs[0].n.ID
				e.Remove(gone)
				regs = slices.DeleteFunc(regs, func(r reg) bool { return r.n.ID == gone })
			}
		}
		for i := 0; i < int(nd%40)+1; i++ {
			id, src := g.doc()
			doc := src
			if id != "" {
				doc = withID(src, id)
			}
			got := sortedStrings(e.Test("i", "c", id, src)...)
			var want []string
			for _, r := range regs {
				canon := r.n.f.eval(doc)
				if plain := evalExpr(r.tree, doc); plain != canon {
					t.Fatalf("canonical form %s disagrees with the filter on %s", r.n.Canonical, appendJSON(nil, doc))
				}
				if canon && !slices.Contains(want, r.n.ID) {
					want = append(want, r.n.ID)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("doc %s: engine %v, naive %v", appendJSON(nil, doc), got, want)
			}
		}
	})
}
