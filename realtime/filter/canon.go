package filter

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"sort"
)

// maxTerms bounds the disjunctive normal form. Koncorde has no such bound
// but enumerates a 2^k truth table instead, which never finishes long before
// this limit is reached.
const maxTerms = 1 << 14

// consensusLimit bounds the prime-implicant computation; above it the
// absorbed DNF is kept as is (still deterministic, just less merging).
const consensusLimit = 512

type lit struct {
	at  *atom
	neg bool
}

// form is a normalized filter: an OR of ANDs of literals.
type form struct {
	terms      [][]lit
	everything bool // the single empty conjunction: always true
	canonical  []byte
}

// term is a conjunction as two bitsets over the atoms of one filter.
type term struct{ pos, neg []uint64 }

func (t term) conflicts() bool {
	for i := range t.pos {
		if t.pos[i]&t.neg[i] != 0 {
			return true
		}
	}
	return false
}

// subsetOf reports whether every literal of t is in u.
func (t term) subsetOf(u term) bool {
	for i := range t.pos {
		if t.pos[i]&^u.pos[i] != 0 || t.neg[i]&^u.neg[i] != 0 {
			return false
		}
	}
	return true
}

func (t term) size() int {
	n := 0
	for i := range t.pos {
		n += bits.OnesCount64(t.pos[i]) + bits.OnesCount64(t.neg[i])
	}
	return n
}

// normalizeBudget bounds the work of normalizing one filter, counted in
// conjunctions built and pairs of conjunctions compared (absorption is
// quadratic): a filter of a few hundred bytes can otherwise ask for
// seconds of CPU, e.g. an and of 14 ors of two conditions (16384
// conjunctions) took 8 s to be accepted and one more or took 0.5 s to be
// refused. Normalization stops as soon as the budget is spent, so a
// refusal costs at most the budget; filters within it normalize as before.
const normalizeBudget = 1 << 22

type dnfBuilder struct {
	nw    int
	atoms []*atom
	index map[string]int
	// work is what this normalization has spent of normalizeBudget.
	work int
}

var errTooComplex = &ParseError{Message: "Filter too complex: normalizing it exceeds the work allowed for one filter"}

// spend counts n units of work, and fails once the budget is exceeded.
func (d *dnfBuilder) spend(n int) error {
	d.work += n
	if d.work > normalizeBudget {
		return errTooComplex
	}
	return nil
}

func (d *dnfBuilder) newTerm() term {
	w := make([]uint64, 2*d.nw)
	return term{pos: w[:d.nw:d.nw], neg: w[d.nw:]}
}

func (d *dnfBuilder) collect(e *expr) {
	if e == nil {
		return
	}
	if e.op == 'l' {
		if _, ok := d.index[e.at.key]; !ok {
			d.index[e.at.key] = len(d.atoms)
			d.atoms = append(d.atoms, e.at)
		}
		return
	}
	for _, k := range e.kids {
		d.collect(k)
	}
}

var errTooManyTerms = &ParseError{Message: fmt.Sprintf("Filter too complex: its normalized form exceeds %d conjunctions", maxTerms)}

// dnf expands e (negated if neg) into absorbed conjunctions.
func (d *dnfBuilder) dnf(e *expr, neg bool) ([]term, error) {
	switch e.op {
	case 'l':
		if e.at.kind == kindNothing {
			if neg {
				return []term{d.newTerm()}, nil
			}
			return nil, nil
		}
		t := d.newTerm()
		i := d.index[e.at.key]
		if neg {
			t.neg[i/64] |= 1 << (i % 64)
		} else {
			t.pos[i/64] |= 1 << (i % 64)
		}
		return []term{t}, nil
	case 'n':
		return d.dnf(e.kids[0], !neg)
	}
	isAnd := (e.op == 'a') != neg
	if !isAnd {
		var out []term
		for _, k := range e.kids {
			sub, err := d.dnf(k, neg)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			if len(out) > maxTerms {
				return nil, errTooManyTerms
			}
		}
		return d.absorb(out)
	}
	cur := []term{d.newTerm()}
	for _, k := range e.kids {
		sub, err := d.dnf(k, neg)
		if err != nil {
			return nil, err
		}
		// The product is checked while it is built, never allocated
		// whole before the limits are looked at.
		next := make([]term, 0, min(len(cur)*len(sub), maxTerms+1))
		for _, a := range cur {
			for _, b := range sub {
				if err := d.spend(1); err != nil {
					return nil, err
				}
				t := d.newTerm()
				for i := range t.pos {
					t.pos[i] = a.pos[i] | b.pos[i]
					t.neg[i] = a.neg[i] | b.neg[i]
				}
				if !t.conflicts() {
					next = append(next, t)
					if len(next) > maxTerms {
						return nil, errTooManyTerms
					}
				}
			}
		}
		if cur, err = d.absorb(next); err != nil {
			return nil, err
		}
		if len(cur) == 0 {
			return nil, nil
		}
	}
	return cur, nil
}

// absorb removes duplicates and every conjunction that contains another.
func (d *dnfBuilder) absorb(ts []term) ([]term, error) {
	if len(ts) < 2 {
		return ts, nil
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].size() < ts[j].size() })
	out := ts[:0:0]
	for _, t := range ts {
		if err := d.spend(len(out) * d.nw); err != nil {
			return nil, err
		}
		keep := true
		for _, k := range out {
			if k.subsetOf(t) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, t)
		}
	}
	return out, nil
}

// primeImplicants closes the DNF under consensus (Blake canonical form).
// The result depends only on the boolean function, not on how the filter was
// written, which is what makes equivalent filters share a room id. It
// returns nil when the work exceeds a fixed budget (the caller then keeps
// the absorbed DNF, still deterministic, only less merged).
func (d *dnfBuilder) primeImplicants(ts []term) []term {
	const budget = 1 << 20 // pair checks
	work := 0
	ts = append([]term(nil), ts...)
	alive := make([]bool, len(ts))
	for i := range alive {
		alive[i] = true
	}
	// every pair is examined once: j < i, with i growing as terms are added
	for i := 1; i < len(ts); i++ {
		for j := 0; j < i && alive[i]; j++ {
			if !alive[j] {
				continue
			}
			if work++; work > budget {
				return nil
			}
			a, b := ts[i], ts[j]
			var opp, n int
			for w := range a.pos {
				x := a.pos[w]&b.neg[w] | a.neg[w]&b.pos[w]
				if x != 0 {
					n += bits.OnesCount64(x)
					opp = w*64 + bits.TrailingZeros64(x)
				}
			}
			if n != 1 {
				continue
			}
			c := d.newTerm()
			for w := range c.pos {
				c.pos[w] = a.pos[w] | b.pos[w]
				c.neg[w] = a.neg[w] | b.neg[w]
			}
			c.pos[opp/64] &^= 1 << (opp % 64)
			c.neg[opp/64] &^= 1 << (opp % 64)
			absorbed := false
			for k, t := range ts {
				if alive[k] && t.subsetOf(c) {
					absorbed = true
					break
				}
			}
			if absorbed {
				continue
			}
			for k, t := range ts {
				if alive[k] && c.subsetOf(t) {
					alive[k] = false
				}
			}
			ts = append(ts, c)
			alive = append(alive, true)
			if len(ts) > 4*consensusLimit {
				return nil
			}
		}
		// j loop may have killed i; the outer loop moves on
	}
	out := ts[:0]
	for k, t := range ts {
		if alive[k] {
			out = append(out, t)
		}
	}
	return out
}

// toForm normalizes a standardized tree.
func (p *parser) toForm(tree *expr) (*form, error) {
	if tree == nil {
		return finishForm(nil, true), nil
	}
	if p.maxConds > 0 && p.count > p.maxConds {
		return nil, &ParseError{Message: fmt.Sprintf("Filter too complex: exceeds the configured maximum number of conditions (conditions: %d, max: %d)", p.count, p.maxConds)}
	}
	// Most filters are one (possibly negated) condition: skip the DNF
	// machinery, the result is the same.
	if l, ok := singleLiteral(tree); ok {
		if l.at.kind == kindNothing {
			return finishForm(nil, l.neg), nil
		}
		return finishForm([][]lit{{l}}, false), nil
	}
	d := &dnfBuilder{index: map[string]int{}, work: p.work}
	defer func() { p.work = d.work }()
	d.collect(tree)
	d.nw = (len(d.atoms) + 63) / 64
	if d.nw == 0 {
		d.nw = 1
	}
	ts, err := d.dnf(tree, false)
	if err != nil {
		return nil, err
	}
	if len(ts) <= consensusLimit {
		if pi := d.primeImplicants(ts); pi != nil {
			ts = pi
		}
	}
	var terms [][]lit
	for _, t := range ts {
		var ls []lit
		for i, a := range d.atoms {
			w, b := i/64, uint64(1)<<(i%64)
			if t.pos[w]&b != 0 {
				ls = append(ls, lit{at: a})
			} else if t.neg[w]&b != 0 {
				ls = append(ls, lit{at: a, neg: true})
			}
		}
		ls, ok := reduceTerm(ls)
		if !ok {
			continue
		}
		if len(ls) == 0 {
			return finishForm(nil, true), nil
		}
		terms = append(terms, ls)
	}
	terms, err = d.absorbLits(terms)
	if err != nil {
		return nil, err
	}
	return finishForm(terms, false), nil
}

func singleLiteral(e *expr) (lit, bool) {
	neg := false
	for e.op == 'n' {
		neg = !neg
		e = e.kids[0]
	}
	if e.op != 'l' {
		return lit{}, false
	}
	return lit{at: e.at, neg: neg}, true
}

// reduceTerm applies what is known about conditions on the same field:
// it drops conjunctions that can never hold and literals implied by others.
// It is deliberately conservative: a rule here must be true for every
// document.
func reduceTerm(ls []lit) ([]lit, bool) {
	// every rule below relates two literals on the same field
	shared := false
	for i := 0; i < len(ls) && !shared; i++ {
		for j := 0; j < i; j++ {
			if ls[i].at.field == ls[j].at.field && ls[i].at.kind != kindMatch && ls[j].at.kind != kindMatch {
				shared = true
				break
			}
		}
	}
	if !shared {
		return ls, true
	}
	eq := map[string]*atom{}
	for _, l := range ls {
		if !l.neg && l.at.kind == kindEquals {
			if prev, ok := eq[l.at.field]; ok && !scalarEqual(prev.val, l.at.val) {
				return nil, false
			}
			eq[l.at.field] = l.at
		}
	}
	present := map[string]bool{} // fields some positive literal needs present
	absent := map[string]bool{}  // fields a negated plain exists needs absent
	for _, l := range ls {
		a := l.at
		if a.kind == kindExists && !a.array && l.neg {
			absent[a.field] = true
		}
		if !l.neg && (a.kind == kindEquals || a.kind == kindRange || a.kind == kindRegexp || a.kind == kindGeo || a.kind == kindExists) {
			present[a.field] = true
		}
	}
	for f := range absent {
		if present[f] {
			return nil, false
		}
	}
	out := ls[:0:0]
	for _, l := range ls {
		a := l.at
		e, hasEq := eq[a.field]
		if a.kind == kindExists && !a.array && !l.neg {
			if implied := hasEq || impliesPresence(ls, a.field); implied {
				continue
			}
		}
		if hasEq && a != e && a.kind != kindMatch && a.kind != kindSelect && a.kind != kindNothing {
			holds, known := atomOnValue(a, e.val)
			if known {
				if holds == l.neg {
					return nil, false
				}
				continue
			}
		}
		out = append(out, l)
	}
	return out, true
}

func impliesPresence(ls []lit, field string) bool {
	for _, l := range ls {
		if !l.neg && l.at.field == field && l.at.kind != kindMatch && l.at.kind != kindSelect &&
			!(l.at.kind == kindExists && !l.at.array) {
			return true
		}
	}
	return false
}

// atomOnValue evaluates a when its field is known to hold the scalar v.
func atomOnValue(a *atom, v any) (holds, known bool) {
	switch a.kind {
	case kindEquals:
		return scalarEqual(a.val, v), true
	case kindExists:
		if !a.array {
			return true, true
		}
		return false, true // a scalar is not an array
	case kindRange:
		f, ok := asNumber(v)
		return ok && a.inRange(f), true
	case kindRegexp:
		s, ok := v.(string)
		return ok && a.re.MatchString(s), true
	}
	return false, false
}

func (d *dnfBuilder) absorbLits(terms [][]lit) ([][]lit, error) {
	sort.SliceStable(terms, func(i, j int) bool { return len(terms[i]) < len(terms[j]) })
	var out [][]lit
	for _, t := range terms {
		// Comparing t with a shorter conjunction k costs up to
		// len(k)*len(t) literal comparisons.
		if err := d.spend(len(out) * len(t) * len(t)); err != nil {
			return nil, err
		}
		keep := true
		for _, k := range out {
			if litSubset(k, t) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, t)
		}
	}
	return out, nil
}

func litSubset(a, b []lit) bool {
	for _, x := range a {
		found := false
		for _, y := range b {
			if x.neg == y.neg && x.at.key == y.at.key {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func litJSON(l lit) string {
	k := l.at.key
	if l.neg {
		return k[:len(k)-1] + `,"not":true}`
	}
	return k[:len(k)-1] + `,"not":false}`
}

// finishForm sorts literals and conjunctions and renders the canonical JSON.
func finishForm(terms [][]lit, everything bool) *form {
	f := &form{everything: everything}
	if everything {
		f.canonical = []byte(`[[{"everything":true,"not":false}]]`)
		return f
	}
	if len(terms) == 0 {
		f.canonical = []byte(`[[{"nothing":true,"not":false}]]`)
		return f
	}
	if len(terms) == 1 && len(terms[0]) == 1 {
		l := terms[0][0]
		k := l.at.key
		b := make([]byte, 0, len(k)+20)
		b = append(b, "[["...)
		b = append(b, k[:len(k)-1]...)
		if l.neg {
			b = append(b, `,"not":true}]]`...)
		} else {
			b = append(b, `,"not":false}]]`...)
		}
		f.terms, f.canonical = terms, b
		return f
	}
	rendered := make([]string, len(terms))
	var js []string
	for i, t := range terms {
		js = js[:0]
		for _, l := range t {
			js = append(js, litJSON(l))
		}
		sort.Sort(litSorter{t, js})
		var b bytes.Buffer
		b.WriteByte('[')
		for j := range t {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(js[j])
		}
		b.WriteByte(']')
		rendered[i] = b.String()
	}
	order := make([]int, len(terms))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return rendered[order[a]] < rendered[order[b]] })
	var b bytes.Buffer
	b.WriteByte('[')
	for i, o := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(rendered[o])
		f.terms = append(f.terms, terms[o])
	}
	b.WriteByte(']')
	f.canonical = b.Bytes()
	return f
}

// litSorter sorts literals by their precomputed JSON.
type litSorter struct {
	ls []lit
	js []string
}

func (s litSorter) Len() int           { return len(s.ls) }
func (s litSorter) Less(i, j int) bool { return s.js[i] < s.js[j] }
func (s litSorter) Swap(i, j int) {
	s.ls[i], s.ls[j] = s.ls[j], s.ls[i]
	s.js[i], s.js[j] = s.js[j], s.js[i]
}

// roomID derives the room id. It is replicated state: see doc.go before
// changing anything here.
func roomID(index, collection string, canonical []byte) string {
	const prefix = "korum/filter/v1"
	var stack [512]byte
	buf := stack[:0]
	if n := len(prefix) + len(index) + len(collection) + len(canonical) + 3*binary.MaxVarintLen64; n > len(stack) {
		buf = make([]byte, 0, n)
	}
	buf = append(buf, prefix...)
	buf = binary.AppendUvarint(buf, uint64(len(index)))
	buf = append(buf, index...)
	buf = binary.AppendUvarint(buf, uint64(len(collection)))
	buf = append(buf, collection...)
	buf = binary.AppendUvarint(buf, uint64(len(canonical)))
	buf = append(buf, canonical...)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

func (a *atom) inRange(f float64) bool {
	if a.hasLo {
		if f < a.lo || (f == a.lo && !a.loIncl) {
			return false
		}
	}
	if a.hasHi {
		if f > a.hi || (f == a.hi && !a.hiIncl) {
			return false
		}
	}
	return true
}
