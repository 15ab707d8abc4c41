package filter

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync/atomic"
)

// ctable is a hash table that one writer at a time (the Engine's write
// lock) mutates while any number of readers look it up without a lock: the
// lookups of a Test that matches nothing must not touch the lock, whose
// shared counter costs more than the whole lookup.
//
// It is open addressing with linear probing. A slot holds the key's hash
// (0 until first used) and a pointer to an immutable entry, both written
// with atomics, the entry first: a reader that sees a hash also sees its
// entry. A slot's hash never goes back to 0, removal only clears the entry
// (a tombstone), so probe sequences seen by a reader never get shorter
// under it. Growth and purging of tombstones build a new slot array and
// publish it; the old one is never written again, so a reader still
// scanning it sees a consistent past state.
//
// Next to the slots, a bitset indexed by a cheap fingerprint of the key
// (q, chosen by the caller) answers most lookups of absent keys before the
// full hash is even computed: a clear bit proves absence. Bits are set
// before the entry is stored and only cleared by a rebuild.
type ctable[K comparable, V any] struct {
	t atomic.Pointer[cslots[K, V]]
	// writer only
	used int // slots whose hash is set: live entries and tombstones
	live int
}

type cslots[K comparable, V any] struct {
	mask   uint64
	slots  []cslot[K, V]
	quick  []atomic.Uint64 // 8 bits per slot
	qshift uint8           // bit index = q >> qshift
}

type cslot[K comparable, V any] struct {
	hash atomic.Uint64
	e    atomic.Pointer[centry[K, V]]
}

type centry[K comparable, V any] struct {
	hash, q uint64
	key     K
	val     *V
}

// Hashes are never 0 in slots, so that 0 marks a slot never used.
func slotHash(h uint64) uint64 { return h | 1 }

// mayHold tells whether a key of fingerprint q may be in the table.
func (t *ctable[K, V]) mayHold(q uint64) bool {
	s := t.t.Load()
	if s == nil {
		return false
	}
	b := q >> s.qshift
	return s.quick[b>>6].Load()&(1<<(b&63)) != 0
}

func (t *ctable[K, V]) get(h uint64, k K) *V {
	s := t.t.Load()
	if s == nil {
		return nil
	}
	h = slotHash(h)
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		switch sl.hash.Load() {
		case 0:
			return nil
		case h:
			if e := sl.e.Load(); e != nil && e.key == k {
				return e.val
			}
		}
	}
}

// put maps k, of hash h and fingerprint q, to v, replacing any previous
// value. Writer only.
func (t *ctable[K, V]) put(h, q uint64, k K, v *V) {
	h = slotHash(h)
	s := t.t.Load()
	if s == nil || 2*(t.used+1) > len(s.slots) {
		s = t.rebuild(t.live + 1)
	}
	s.setQuick(q)
	e := &centry[K, V]{hash: h, q: q, key: k, val: v}
	free := -1
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		sh := sl.hash.Load()
		if sh == 0 {
			if free < 0 {
				free = int(i)
				t.used++
			}
			break
		}
		old := sl.e.Load()
		if old == nil {
			if free < 0 {
				free = int(i)
			}
			continue
		}
		if sh == h && old.key == k {
			sl.e.Store(e)
			return
		}
	}
	t.live++
	sl := &s.slots[free]
	sl.e.Store(e)
	sl.hash.Store(h)
}

// del removes k if present. Writer only.
func (t *ctable[K, V]) del(h uint64, k K) {
	s := t.t.Load()
	if s == nil {
		return
	}
	h = slotHash(h)
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		switch sl.hash.Load() {
		case 0:
			return
		case h:
			if e := sl.e.Load(); e != nil && e.key == k {
				sl.e.Store(nil)
				t.live--
				if t.live == 0 {
					// nothing left to scan: let readers stop at the
					// nil table
					t.t.Store(nil)
					t.used = 0
				} else if 8*t.live < len(s.slots) && len(s.slots) > 16 {
					t.rebuild(t.live)
				}
				return
			}
		}
	}
}

// rebuild publishes a fresh slot array sized for n live entries, without
// tombstones.
func (t *ctable[K, V]) rebuild(n int) *cslots[K, V] {
	size := 8
	for size < 4*n {
		size *= 2
	}
	ns := &cslots[K, V]{mask: uint64(size - 1), slots: make([]cslot[K, V], size),
		quick: make([]atomic.Uint64, size/8), qshift: uint8(64 - bits.TrailingZeros(uint(size*8)))}
	if old := t.t.Load(); old != nil {
		for i := range old.slots {
			e := old.slots[i].e.Load()
			if e == nil {
				continue
			}
			ns.setQuick(e.q)
			j := e.hash & ns.mask
			for ns.slots[j].hash.Load() != 0 {
				j = (j + 1) & ns.mask
			}
			ns.slots[j].e.Store(e)
			ns.slots[j].hash.Store(e.hash)
		}
	}
	t.used = t.live
	t.t.Store(ns)
	return ns
}

func (s *cslots[K, V]) setQuick(q uint64) {
	b := q >> s.qshift
	s.quick[b>>6].Or(1 << (b & 63))
}

func (t *ctable[K, V]) len() int { return t.live }

// rlist is a slice that readers load without the lock. An append writes
// past the length of every slice handed out so far and then publishes the
// longer slice; a removal publishes a copy. An array a reader may hold is
// thus never written below that reader's length.
type rlist[T any] struct{ p atomic.Pointer[[]T] }

func (l *rlist[T]) load() []T {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

// add appends x. Writer only.
func (l *rlist[T]) add(x T) {
	s := append(l.load(), x)
	l.p.Store(&s)
}

// removeFunc removes the first element for which drop is true. Writer
// only.
func (l *rlist[T]) removeFunc(drop func(T) bool) {
	cur := l.load()
	for i, x := range cur {
		if !drop(x) {
			continue
		}
		if len(cur) == 1 {
			l.p.Store(nil)
			return
		}
		s := make([]T, 0, len(cur)-1)
		s = append(append(s, cur[:i]...), cur[i+1:]...)
		l.p.Store(&s)
		return
	}
}

// hasher hashes lookup keys with per-engine random keys, so that filter
// values chosen by clients cannot be made to collide on purpose. Strings
// are hashed inline by multiply-folding 8-byte words (hash/maphash costs
// three calls per string, a visible part of a miss); every word is
// whitened with a secret key before it is multiplied, so that no input
// can cancel the state.
type hasher struct{ k [5]uint64 }

func newHasher() hasher {
	seed := maphash.MakeSeed()
	var h hasher
	for i := range h.k {
		h.k[i] = maphash.Comparable(seed, i) | 1
	}
	return h
}

// fold is the 128-bit product of a and b folded onto 64 bits.
func fold(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32(s string) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// quick is a cheap fingerprint of s for ctable.mayHold: its high bits
// depend on the length and the first and last (up to) eight bytes. Values
// made to collide only defeat the shortcut, as the full lookup follows.
func (h *hasher) quick(s string) uint64 {
	n := len(s)
	if n >= 8 {
		return h.quickMix(quickLong(s), n)
	}
	var x uint64
	switch {
	case n >= 4:
		x = le32(s) | le32(s[n-4:])<<32
	case n > 0:
		x = uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16
	}
	return h.quickMix(x, n)
}

// quickLong and quickMix are quick's parts for len(s) >= 8. AppendTest
// spells quickLong out, as it does not inline; TestEqualsAtEveryLength
// checks that both agree.
func quickLong(s string) uint64 { return le64(s) ^ bits.RotateLeft64(le64(s[len(s)-8:]), 31) }

func (h *hasher) quickMix(x uint64, n int) uint64 {
	return (x ^ h.k[4] ^ uint64(n)) * 0x9e3779b97f4a7c15
}

func (h *hasher) str(s string) uint64 {
	n := len(s)
	var a, b uint64
	switch {
	case n > 16:
		// first and last 16 bytes (overlapping when n < 32) folded
		// independently, so that the two products run in parallel
		x := fold(le64(s)^h.k[1], le64(s[8:])^h.k[2])
		if n > 32 {
			x ^= h.long(s)
		}
		y := fold(le64(s[n-16:])^h.k[3], le64(s[n-8:])^h.k[4])
		return fold(x^h.k[0]^uint64(n), y)
	case n >= 8:
		a, b = le64(s), le64(s[n-8:])
	case n >= 4:
		a, b = le32(s), le32(s[n-4:])
	case n > 0:
		a = uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
	}
	return fold(fold(a^h.k[1], b^h.k[2])^h.k[0]^uint64(n), h.k[3])
}

// long folds the 16-byte blocks of s between the first and the last 16
// bytes (n > 32).
func (h *hasher) long(s string) uint64 {
	acc := h.k[0]
	for s = s[16:]; len(s) > 16; s = s[16:] {
		acc = fold(le64(s)^h.k[1], le64(s[8:])^acc)
	}
	return acc
}

// num hashes a float64 so that -0 and 0, which compare equal, collide.
func (h *hasher) num(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	return fold(math.Float64bits(f)^h.k[1], h.k[2])
}
