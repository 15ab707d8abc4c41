package filter

import (
	"math"
	"sync/atomic"
)

// treap is an interval tree: a treap ordered by (low bound, slot) where each
// node also keeps the highest upper bound of its subtree, so a stabbing
// query visits O(k·log n) nodes for k hits and inserts/deletes stay
// O(log n) (registration of many range filters must stay cheap).
//
// It is persistent: published nodes are never modified, an update copies
// the O(log n) nodes on its path and publishes the new root, so matching
// reads it without the lock.
type treap struct {
	root atomic.Pointer[tnode]
	seq  uint64 // writer only
}

type tnode struct {
	lo, hi         float64 // -Inf/+Inf when unbounded
	loIncl, hiIncl bool    // copied from the atom to spare a pointer chase
	ae             *atomEntry
	prio           uint64
	maxHi          float64
	left, right    *tnode
}

func bounds(a *atom) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	if a.hasLo {
		lo = a.lo
	}
	if a.hasHi {
		hi = a.hi
	}
	return lo, hi
}

func (n *tnode) less(lo float64, slot int32) bool {
	return n.lo < lo || (n.lo == lo && n.ae.slot < slot)
}

func (n *tnode) fix() {
	m := n.hi
	if n.left != nil && n.left.maxHi > m {
		m = n.left.maxHi
	}
	if n.right != nil && n.right.maxHi > m {
		m = n.right.maxHi
	}
	n.maxHi = m
}

// splitmix64 gives deterministic, well spread priorities without any
// global random state.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (t *treap) insert(ae *atomEntry) {
	lo, hi := bounds(ae.a)
	t.seq++
	n := &tnode{lo: lo, hi: hi, loIncl: ae.a.loIncl || !ae.a.hasLo, hiIncl: ae.a.hiIncl || !ae.a.hasHi,
		ae: ae, prio: splitmix64(t.seq), maxHi: hi}
	t.root.Store(tinsert(t.root.Load(), n))
}

// tinsert returns root with the fresh node n added. Nodes of root are
// copied, never modified.
func tinsert(root, n *tnode) *tnode {
	if root == nil {
		return n
	}
	if n.prio > root.prio {
		n.left, n.right = tsplit(root, n.lo, n.ae.slot)
		n.fix()
		return n
	}
	c := *root
	if root.less(n.lo, n.ae.slot) {
		c.right = tinsert(root.right, n)
	} else {
		c.left = tinsert(root.left, n)
	}
	c.fix()
	return &c
}

// tsplit returns copies of the nodes of t ordered before (lo, slot) and of
// the others.
func tsplit(t *tnode, lo float64, slot int32) (before, after *tnode) {
	if t == nil {
		return nil, nil
	}
	c := *t
	if t.less(lo, slot) {
		c.right, after = tsplit(t.right, lo, slot)
		c.fix()
		return &c, after
	}
	before, c.left = tsplit(t.left, lo, slot)
	c.fix()
	return before, &c
}

func (t *treap) delete(ae *atomEntry) {
	lo, _ := bounds(ae.a)
	t.root.Store(tdelete(t.root.Load(), lo, ae))
}

func tdelete(root *tnode, lo float64, ae *atomEntry) *tnode {
	if root == nil {
		return nil
	}
	if root.ae == ae {
		return merge(root.left, root.right)
	}
	c := *root
	if root.less(lo, ae.slot) {
		c.right = tdelete(root.right, lo, ae)
	} else {
		c.left = tdelete(root.left, lo, ae)
	}
	c.fix()
	return &c
}

func merge(a, b *tnode) *tnode {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		c := *a
		c.right = merge(a.right, b)
		c.fix()
		return &c
	}
	c := *b
	c.left = merge(a, b.left)
	c.fix()
	return &c
}

// stab marks every range atom containing x.
func (t *treap) stab(m *matchState, x float64) { stab(t.root.Load(), m, x) }

func stab(n *tnode, m *matchState, x float64) {
	for n != nil && n.maxHi >= x {
		stab(n.left, m, x)
		if n.lo > x {
			return
		}
		if (n.lo < x || n.loIncl) && (x < n.hi || (x == n.hi && n.hiIncl)) {
			m.hit(n.ae)
		}
		n = n.right
	}
}
