package filter

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestEquivalentFiltersShareID(t *testing.T) {
	e := New(Options{})
	groups := [][]string{
		{ // reordered clauses, nesting, duplicates
			`{"and":[{"equals":{"a":1}},{"equals":{"b":2}}]}`,
			`{"and":[{"equals":{"b":2}},{"equals":{"a":1}}]}`,
			`{"and":[{"and":[{"equals":{"b":2}}]},{"equals":{"a":1}},{"equals":{"a":1}}]}`,
			`{"bool":{"must":[{"equals":{"b":2}},{"equals":{"a":1}}]}}`,
			`{"not":{"or":[{"not":{"equals":{"a":1}}},{"not":{"equals":{"b":2}}}]}}`,
		},
		{ // in vs or of equals
			`{"in":{"a":["x","y"]}}`,
			`{"or":[{"equals":{"a":"y"}},{"equals":{"a":"x"}}]}`,
			`{"bool":{"should":[{"equals":{"a":"x"}},{"equals":{"a":"y"}}]}}`,
			`{"not":{"and":[{"not":{"equals":{"a":"x"}}},{"not":{"equals":{"a":"y"}}}]}}`,
		},
		{ // the example of Koncorde's documentation
			`{"and":[{"not":{"in":{"some_document_field":["foo","bar"]}}},{"missing":"another_field"}]}`,
			`{"not":{"or":[{"or":[{"equals":{"some_document_field":"foo"}},{"equals":{"some_document_field":"bar"}}]},{"exists":"another_field"}]}}`,
		},
		{ // ids and _id equals; missing vs not exists; double negation
			`{"ids":{"values":["x"]}}`,
			`{"equals":{"_id":"x"}}`,
			`{"not":{"not":{"equals":{"_id":"x"}}}}`,
		},
		{ // absorption, consensus and implied conditions
			`{"equals":{"a":1}}`,
			`{"or":[{"equals":{"a":1}},{"and":[{"equals":{"a":1}},{"exists":"b"}]}]}`,
			`{"or":[{"and":[{"equals":{"a":1}},{"exists":"b"}]},{"and":[{"equals":{"a":1}},{"missing":"b"}]}]}`,
			`{"and":[{"equals":{"a":1}},{"exists":"a"}]}`,
			`{"and":[{"equals":{"a":1}},{"range":{"a":{"gte":0}}}]}`,
			`{"and":[{"equals":{"a":1}},{"not":{"equals":{"a":2}}}]}`,
		},
		{ // contradictions
			`{"nothing":true}`,
			`{"and":[{"equals":{"a":1}},{"equals":{"a":2}}]}`,
			`{"and":[{"exists":"a"},{"missing":"a"}]}`,
			`{"and":[{"equals":{"a":5}},{"range":{"a":{"lt":3}}}]}`,
			`{"and":[{"equals":{"a":"x"}},{"not":{"regexp":{"a":"^x$"}}}]}`,
		},
		{ // tautologies
			`{}`,
			`{"or":[{"exists":"a"},{"missing":"a"}]}`,
			`{"not":{"nothing":true}}`,
		},
		{ // regexp: equivalent flag spellings
			`{"regexp":{"s":"x"}}`,
			`{"regexp":{"s":{"value":"x"}}}`,
			`{"regexp":{"s":{"value":"x","flags":"g"}}}`,
		},
		{ // geopoint and distance formats
			`{"geoDistance":{"p":[43,5],"distance":"1km"}}`,
			`{"geoDistance":{"p":"43, 5","distance":"1000m"}}`,
			`{"geoDistance":{"p":{"lat":43,"lon":5},"distance":"1 kilometer"}}`,
			`{"geoDistance":{"p":{"lat_lon":[43,5]},"distance":"1000"}}`,
		},
	}
	seen := map[string]int{}
	for gi, g := range groups {
		var id string
		for _, s := range g {
			n, err := e.Normalize("i", "c", mustJSON(t, s))
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if id == "" {
				id = n.ID
			} else if n.ID != id {
				t.Errorf("group %d: %s has canonical form %s, differing from the group's first", gi, s, n.Canonical)
			}
			if len(n.ID) != 64 {
				t.Errorf("id %q is not 64 hex characters", n.ID)
			}
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("groups %d and %d share an id", prev, gi)
		}
		seen[id] = gi
	}
}

func TestDifferentFiltersDifferentIDs(t *testing.T) {
	e := New(Options{})
	filters := []string{
		`{"equals":{"a":1}}`, `{"equals":{"a":"1"}}`, `{"equals":{"b":1}}`,
		`{"not":{"equals":{"a":1}}}`, `{"range":{"a":{"gt":1}}}`, `{"range":{"a":{"gte":1}}}`,
		`{"exists":"a"}`, `{"exists":"a[1]"}`, `{"exists":"a[\"1\"]"}`,
		`{"regexp":{"a":"x"}}`, `{"regexp":{"a":{"value":"x","flags":"i"}}}`,
		`{"match":{"a":1}}`, `{"match":{"a":[1]}}`,
		`{"select":{"field":"a","index":0,"query":{"equals":{"value":1}}}}`,
		`{"select":{"field":"a","index":1,"query":{"equals":{"value":1}}}}`,
		`{"or":[{"equals":{"a":1}},{"equals":{"b":1}}]}`,
		`{"and":[{"equals":{"a":1}},{"equals":{"b":1}}]}`,
	}
	ids := map[string]string{}
	for _, s := range filters {
		n, err := e.Normalize("i", "c", mustJSON(t, s))
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := ids[n.ID]; ok {
			t.Errorf("%s and %s share an id", s, other)
		}
		ids[n.ID] = s
		// the id is scoped by index and collection
		for _, scope := range [][2]string{{"i", "d"}, {"j", "c"}, {"ic", ""}, {"", "ic"}} {
			m, _ := e.Normalize(scope[0], scope[1], mustJSON(t, s))
			if m.ID == n.ID {
				t.Errorf("%s: same id in %v", s, scope)
			}
		}
	}
}

// The room id is replicated state: pin a few so that an accidental change
// of the canonical form or of the derivation fails loudly.
func TestRoomIDsAreStable(t *testing.T) {
	e := New(Options{})
	pinned := map[string]string{
		`{}`:                 "",
		`{"equals":{"a":1}}`: "",
		`{"and":[{"in":{"s":["x","y"]}},{"range":{"n":{"gte":1.5,"lt":1e300}}},{"not":{"geoDistance":{"p":[43,5],"distance":"1km"}}}]}`: "",
	}
	canon := map[string]string{
		`{}`:                 `[[{"everything":true,"not":false}]]`,
		`{"equals":{"a":1}}`: `[[{"equals":{"a":1},"not":false}]]`,
		`{"and":[{"in":{"s":["x","y"]}},{"range":{"n":{"gte":1.5,"lt":1e300}}},{"not":{"geoDistance":{"p":[43,5],"distance":"1km"}}}]}`: `[[{"equals":{"s":"x"},"not":false},{"geoDistance":{"p":{"distance":1000,"lat":43,"lon":5}},"not":true},{"range":{"n":{"gte":1.5,"lt":1e+300}},"not":false}],[{"equals":{"s":"y"},"not":false},{"geoDistance":{"p":{"distance":1000,"lat":43,"lon":5}},"not":true},{"range":{"n":{"gte":1.5,"lt":1e+300}},"not":false}]]`,
	}
	for f := range pinned {
		n, err := e.Normalize("idx", "coll", mustJSON(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if string(n.Canonical) != canon[f] {
			t.Errorf("%s: canonical\n%s\nwant\n%s", f, n.Canonical, canon[f])
		}
		if want := roomID("idx", "coll", []byte(canon[f])); n.ID != want {
			t.Errorf("%s: id %s, want %s", f, n.ID, want)
		}
	}
	// and the derivation itself
	if got := roomID("idx", "coll", []byte(`[[{"everything":true,"not":false}]]`)); got != pinnedEverythingID {
		t.Errorf("everything id: %s, want %s", got, pinnedEverythingID)
	}
}

// pinnedEverythingID was computed independently (Python hashlib) from the
// derivation documented in doc.go.
const pinnedEverythingID = "1687fb424d1375ba717134b0fb42f43859697200a10df4f79325d29a00498be5"

func TestFromCanonicalRoundTrip(t *testing.T) {
	e := New(Options{})
	g := newGen(42)
	for i := 0; i < 500; i++ {
		f := g.top()
		n, err := e.Normalize("i", "c", f)
		if err != nil {
			continue
		}
		// replicated bytes may be re-encoded on the way
		var v any
		if err := json.Unmarshal(n.Canonical, &v); err != nil {
			t.Fatalf("canonical is not JSON: %s", n.Canonical)
		}
		reencoded, _ := json.MarshalIndent(v, "", "  ")
		for _, raw := range [][]byte{n.Canonical, reencoded} {
			m, err := FromCanonical("i", "c", raw)
			if err != nil {
				t.Fatalf("%s: %v", n.Canonical, err)
			}
			if m.ID != n.ID || string(m.Canonical) != string(n.Canonical) {
				t.Fatalf("round trip changed %s into %s", n.Canonical, m.Canonical)
			}
		}
		// a rebuilt filter matches like the original
		m, _ := FromCanonical("i", "c", n.Canonical)
		for j := 0; j < 5; j++ {
			id, src := g.doc()
			d := src
			if id != "" {
				d = withID(src, id)
			}
			if n.f.eval(d) != m.f.eval(d) {
				t.Fatalf("%s: rebuilt filter disagrees on %v", n.Canonical, d)
			}
		}
	}
	if _, err := FromCanonical("i", "c", json.RawMessage(`{"equals":{"a":1}}`)); err == nil {
		t.Error("accepted a raw filter as canonical form")
	}
	if _, err := FromCanonical("i", "c", json.RawMessage(`[[{"bogus":1,"not":false}]]`)); err == nil {
		t.Error("accepted an unknown keyword")
	}
}

func TestStoreRemoveLifecycle(t *testing.T) {
	e := New(Options{})
	f1 := mustJSON(t, `{"equals":{"a":1}}`)
	f2 := mustJSON(t, `{"or":[{"equals":{"a":1}},{"range":{"n":{"gt":3}}}]}`)
	n1, err := e.Register("i", "c", f1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.Register("i", "c", f1)
	if again.ID != n1.ID {
		t.Fatal("same filter, different id")
	}
	n2, _ := e.Register("i", "c", f2)
	n3, _ := e.Register("i", "d", f1)
	if !e.Has(n1.ID) || !e.Has(n2.ID) || !e.Has(n3.ID) {
		t.Fatal("Has is false for stored filters")
	}
	if got := e.IDs("i", "c"); !slices.Equal(got, sortedStrings(n1.ID, n2.ID)) {
		t.Fatalf("IDs = %v", got)
	}
	doc := map[string]any{"a": 1.0, "n": 5.0}
	if got := e.Test("i", "c", "", doc); !slices.Equal(sortedStrings(got...), sortedStrings(n1.ID, n2.ID)) {
		t.Fatalf("Test = %v", got)
	}
	e.Remove(n1.ID)
	e.Remove(n1.ID) // idempotent
	if e.Has(n1.ID) {
		t.Fatal("removed filter still there")
	}
	if got := e.Test("i", "c", "", doc); !slices.Equal(got, []string{n2.ID}) {
		t.Fatalf("after removal Test = %v", got)
	}
	if got := e.Test("i", "d", "", doc); !slices.Equal(got, []string{n3.ID}) {
		t.Fatalf("other collection Test = %v", got)
	}
	e.Remove(n2.ID)
	if got := e.Test("i", "c", "", doc); got != nil {
		t.Fatalf("empty collection Test = %v", got)
	}
	if ids := e.IDs("i", "c"); len(ids) != 0 {
		t.Fatalf("IDs after removals = %v", ids)
	}
	// a Normalized rebuilt from replicated state can be stored as is
	m, err := FromCanonical("i", "c", n2.Canonical)
	if err != nil {
		t.Fatal(err)
	}
	e.Store(m)
	e.Store(&Normalized{ID: n1.ID, Index: "i", Collection: "c", Canonical: n1.Canonical})
	if got := e.Test("i", "c", "", doc); len(got) != 2 {
		t.Fatalf("re-stored filters: Test = %v", got)
	}
}

func sortedStrings(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// Removing filters must leave the indexes as if they had never been
// stored: compare with a fresh engine holding only the survivors.
func TestRemoveLeavesConsistentIndexes(t *testing.T) {
	g := newGen(7)
	e := New(Options{})
	var kept []*Normalized
	for i := 0; i < 400; i++ {
		n, err := e.Register("i", "c", g.top())
		if err != nil {
			continue
		}
		if i%3 == 0 {
			e.Remove(n.ID)
			continue
		}
		kept = append(kept, n)
	}
	fresh := New(Options{})
	for _, n := range kept {
		if e.Has(n.ID) {
			fresh.Store(n)
		}
	}
	for i := 0; i < 300; i++ {
		id, src := g.doc()
		a, b := sortedStrings(e.Test("i", "c", id, src)...), sortedStrings(fresh.Test("i", "c", id, src)...)
		if !slices.Equal(a, b) {
			t.Fatalf("doc %v: %v vs fresh %v", src, a, b)
		}
	}
}

func TestMaxConditions(t *testing.T) {
	var vals []string
	for i := 0; i < 101; i++ {
		vals = append(vals, fmt.Sprintf("%q", fmt.Sprint(i)))
	}
	f := mustJSON(t, `{"in":{"a":[`+strings.Join(vals, ",")+`]}}`)
	_, err := New(Options{}).Normalize("i", "c", f)
	want := "Filter too complex: exceeds the configured maximum number of conditions (conditions: 101, max: 100)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
	if err := New(Options{}).Validate(f); err != nil {
		t.Fatalf("Validate applies the limit: %v", err)
	}
	if _, err := New(Options{MaxConditions: -1}).Normalize("i", "c", f); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
	if _, err := New(Options{MaxConditions: 5}).Normalize("i", "c", mustJSON(t, `{"and":[{"equals":{"a":1}},{"in":{"b":["1","2","3","4","5"]}}]}`)); err == nil {
		t.Fatal("limit 5 accepted 6 conditions")
	}
	// a normal form that explodes is refused instead of hanging
	var ands []string
	for i := 0; i < 16; i++ {
		ands = append(ands, fmt.Sprintf(`{"in":{"f%d":["a","b"]}}`, i))
	}
	if _, err := New(Options{MaxConditions: -1}).Normalize("i", "c", mustJSON(t, `{"and":[`+strings.Join(ands, ",")+`]}`)); err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Fatalf("2^16 conjunctions: %v", err)
	}
}

func TestRegexpIsStateless(t *testing.T) {
	e := New(Options{})
	n, _ := e.Register("i", "c", mustJSON(t, `{"regexp":{"s":{"value":"a","flags":"g"}}}`))
	doc := map[string]any{"s": "banana"}
	for i := 0; i < 4; i++ {
		if got := e.Test("i", "c", "", doc); !slices.Equal(got, []string{n.ID}) {
			t.Fatalf("test %d: %v", i, got)
		}
	}
}

func TestIDInjection(t *testing.T) {
	e := New(Options{})
	n, _ := e.Register("i", "c", mustJSON(t, `{"ids":{"values":["x"]}}`))
	m, _ := e.Register("i", "c", mustJSON(t, `{"match":{"_id":"x"}}`))
	if got := sortedStrings(e.Test("i", "c", "x", map[string]any{"_id": "y"})...); !slices.Equal(got, sortedStrings(n.ID, m.ID)) {
		t.Fatalf("id not seen as _id: %v", got)
	}
	if got := e.Test("i", "c", "y", map[string]any{"_id": "x"}); got != nil {
		t.Fatalf("source _id overrode the id: %v", got)
	}
	if got := e.Test("i", "c", "", map[string]any{"_id": "x"}); len(got) != 2 {
		t.Fatalf("without id, source _id is a plain field: %v", got)
	}
}

func TestAppendTestReusesBuffer(t *testing.T) {
	e := New(Options{})
	n, _ := e.Register("i", "c", mustJSON(t, `{"exists":"a"}`))
	buf := make([]string, 1, 8)
	buf[0] = "keep"
	buf = e.AppendTest(buf, "i", "c", "", map[string]any{"a": 1.0})
	if !slices.Equal(buf, []string{"keep", n.ID}) {
		t.Fatalf("got %v", buf)
	}
}

// Test reads the indexes while Store/Remove mutate them; run with -race.
func TestConcurrentTestAndStore(t *testing.T) {
	e := New(Options{})
	g := newGen(99)
	var filters []any
	for i := 0; i < 200; i++ {
		filters = append(filters, g.top())
	}
	var docs []map[string]any
	var ids []string
	for i := 0; i < 50; i++ {
		id, d := g.doc()
		ids, docs = append(ids, id), append(docs, d)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.Test("i", "c", ids[i%len(ids)], docs[i%len(docs)])
			}
		}()
	}
	for round := 0; round < 3; round++ {
		var stored []string
		for _, f := range filters {
			if n, err := e.Register("i", "c", f); err == nil {
				stored = append(stored, n.ID)
			}
		}
		for _, id := range stored {
			e.Remove(id)
		}
	}
	close(stop)
	wg.Wait()
	if ids := e.IDs("i", "c"); len(ids) != 0 {
		t.Fatalf("left %d filters", len(ids))
	}
}

// Tests read the indexes without the lock while filters come and go: the
// filters stored for the whole duration must be matched exactly as if
// nothing else happened. The churn shares atoms and conjunctions with them
// (same small vocabulary), reuses freed slots, grows and shrinks the hash
// tables, the treap and the geo cells, and empties another collection
// (dropping it from the Engine) over and over.
func TestStableFiltersUnderConcurrentChurn(t *testing.T) {
	e := New(Options{})
	g := newGen(2024)
	stable := map[string]bool{}
	for len(stable) < 120 {
		if n, err := e.Register("i", "c", g.top()); err == nil {
			stable[n.ID] = true
		}
	}
	type probe struct {
		id   string
		doc  map[string]any
		want []string
	}
	var probes []probe
	for i := 0; i < 60; i++ {
		id, d := g.doc()
		probes = append(probes, probe{id, d, sortedStrings(e.Test("i", "c", id, d)...)})
	}
	var churn []any
	for len(churn) < 400 {
		var f any
		switch len(churn) % 4 {
		case 0, 1:
			f = g.top()
		case 2:
			f = map[string]any{"equals": map[string]any{g.pick(genFields): fmt.Sprint("v", len(churn))}}
		default:
			lo := float64(len(churn) % 9)
			f = map[string]any{"range": map[string]any{"n": map[string]any{"gte": lo, "lt": lo + 0.5}}}
		}
		if n, err := e.Normalize("i", "c", f); err == nil && !stable[n.ID] {
			churn = append(churn, f)
		}
	}

	stop := make(chan struct{})
	errs := make(chan string, 8)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []string
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := probes[i%len(probes)]
				buf = e.AppendTest(buf[:0], "i", "c", p.id, p.doc)
				var got []string
				for _, id := range buf {
					if stable[id] {
						got = append(got, id)
					}
				}
				if slices.Sort(got); !slices.Equal(got, p.want) {
					select {
					case errs <- fmt.Sprintf("doc %v: stable matches %v, want %v", p.doc, got, p.want):
					default:
					}
					return
				}
				// switch collections so that the cached one changes
				e.Test("i", "d", p.id, p.doc)
			}
		}()
	}
	for round := 0; round < 4; round++ {
		var ids []string
		for i, f := range churn {
			n, err := e.Register("i", "c", f)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, n.ID)
			if i%50 == 0 {
				m, _ := e.Register("i", "d", f)
				e.Remove(m.ID)
			}
		}
		for i := range ids { // remove in another order than stored
			e.Remove(ids[(i*7+round)%len(ids)])
		}
		for _, id := range ids {
			e.Remove(id)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if got := len(e.IDs("i", "c")); got != len(stable) {
		t.Fatalf("%d filters left, want %d", got, len(stable))
	}
}

// With more registered fields than document keys, Test walks the
// document, trying first the keys of a document seen before (see
// walkRoot). Documents here keep or change their key sets in every way:
// same keys, same number of other keys, more, fewer.
func TestWalkFollowsDocumentShapes(t *testing.T) {
	e := New(Options{})
	var stored []*Normalized
	for i := 0; i < 40; i++ {
		f := fmt.Sprintf("f%d", i)
		for _, flt := range []string{
			`{"exists":"` + f + `"}`,
			`{"equals":{"` + f + `":"v"}}`,
			`{"and":[{"equals":{"` + f + `":1}},{"missing":"f0"}]}`,
		} {
			n, err := e.Register("i", "c", mustJSON(t, flt))
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, n)
		}
	}
	g := newGen(5)
	for i := 0; i < 3000; i++ {
		doc := map[string]any{}
		for k := g.r.IntN(4); k >= 0; k-- {
			var v any = "v"
			if g.r.IntN(2) == 0 {
				v = 1.0
			}
			if g.r.IntN(5) == 0 {
				doc[fmt.Sprintf("other%d", g.r.IntN(3))] = v
			} else {
				doc[fmt.Sprintf("f%d", g.r.IntN(6))] = v
			}
		}
		var want []string
		for _, n := range stored {
			if n.f.eval(doc) {
				want = append(want, n.ID)
			}
		}
		if got := sortedStrings(e.Test("i", "c", "", doc)...); !slices.Equal(got, sortedStrings(want...)) {
			t.Fatalf("doc %v: got %d filters, want %d", doc, len(got), len(want))
		}
	}
}

// Equality probes go through a fingerprint computed in two places (the
// single-field fast path of AppendTest and eqString); a disagreement would
// hide stored values. Every string length class is covered, in a
// collection with one field and in one with several.
func TestEqualsAtEveryLength(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, fields := range [][]string{{"s"}, {"s", "t", "u"}} {
		e := New(Options{})
		ids := map[string]string{}
		for n := 0; n <= 70; n++ {
			v := randString(r, n)
			for _, f := range fields {
				nf, err := e.Register("i", "c", map[string]any{"equals": map[string]any{f: v}})
				if err != nil {
					t.Fatal(err)
				}
				ids[f+"="+v] = nf.ID
			}
		}
		for key, id := range ids {
			f, v, _ := strings.Cut(key, "=")
			if got := e.Test("i", "c", "", map[string]any{f: v}); !slices.Equal(got, []string{id}) {
				t.Fatalf("fields %v: %s=%q (length %d) matched %v", fields, f, v, len(v), got)
			}
			if v == "" {
				continue
			}
			changed := []byte(v)
			changed[r.IntN(len(changed))] ^= 0x20
			if got := e.Test("i", "c", "", map[string]any{f: string(changed)}); len(got) != 0 && ids[f+"="+string(changed)] == "" {
				t.Fatalf("fields %v: %s=%q matched %v", fields, f, changed, got)
			}
		}
	}
}

// TestExplodingFilterStopsEarly: a filter whose normal form explodes is
// refused once normalizeBudget is spent, before the explosion is built:
// the work done does not grow with the explosion (2^40 conjunctions for
// the largest one here), which the test checks by counting it.
func TestExplodingFilterStopsEarly(t *testing.T) {
	for _, n := range []int{10, 14, 16, 24, 40} {
		var ands []string
		for i := range n {
			ands = append(ands, fmt.Sprintf(`{"or":[{"equals":{"a%d":1}},{"equals":{"b%d":1}}]}`, i, i))
		}
		p := &parser{maxConds: -1}
		tree, err := p.standardize(mustJSON(t, `{"and":[`+strings.Join(ands, ",")+`]}`), "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.toForm(tree)
		if err == nil || !strings.Contains(err.Error(), "too complex") {
			t.Fatalf("%d ors: %v", n, err)
		}
		if p.work > 2*normalizeBudget {
			t.Fatalf("%d ors: %d units of work before the refusal", n, p.work)
		}
	}
	// Within the budget, normalization is unchanged.
	f := mustJSON(t, `{"and":[{"or":[{"equals":{"a":1}},{"equals":{"b":1}}]},{"or":[{"equals":{"c":1}},{"equals":{"d":1}}]}]}`)
	if _, err := New(Options{}).Normalize("i", "c", f); err != nil {
		t.Fatal(err)
	}
}
