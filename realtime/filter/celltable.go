package filter

import "sync/atomic"

// cellTable is an open-addressing hash table from grid cell keys to the
// shapes stored in the cell. Point queries probe one cell per grid level, so
// this lookup is the hot path of geo matching; a Go map costs several times
// more for uint64 keys.
//
// Like ctable, it is read without the lock: keys are written once per
// slot array (an emptied cell keeps its key with an empty list, a
// tombstone that later insertions of the same key reuse), cell lists are
// rlists, and growth publishes a new slot array.
type cellTable struct {
	t    atomic.Pointer[cellSlots]
	n    int // cells holding shapes; writer only
	used int // slots with a key, tombstones included; writer only
}

type cellSlots struct {
	mask  uint64
	slots []cellSlot
}

type cellSlot struct {
	key  atomic.Uint64 // key+1; 0 marks a slot never used
	list rlist[cellEntry]
}

// cellEntry keeps the shape's envelope next to it so that scanning a cell
// rejects most candidates without touching the shape.
type cellEntry struct {
	minLat, maxLat, minLon, maxLon float64
	ae                             *atomEntry
}

func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (t *cellTable) get(k uint64) []cellEntry {
	if s := t.t.Load(); s != nil {
		if l := s.get(k); l != nil {
			return l.load()
		}
	}
	return nil
}

// get returns the list of cell k, nil if the cell was never used. Small
// enough to inline into the point query.
func (s *cellSlots) get(k uint64) *rlist[cellEntry] {
	for i := mix64(k) & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		switch sl.key.Load() {
		case 0:
			return nil
		case k + 1:
			return &sl.list
		}
	}
}

// slot returns the slot of k, or of the empty slot ending its probe
// sequence.
func (s *cellSlots) slot(k uint64) *cellSlot {
	for i := mix64(k) & s.mask; ; i = (i + 1) & s.mask {
		sl := &s.slots[i]
		switch sl.key.Load() {
		case 0, k + 1:
			return sl
		}
	}
}

func (t *cellTable) add(k uint64, ae *atomEntry) {
	s := t.t.Load()
	if s == nil || (t.used+1)*2 > len(s.slots) {
		s = t.rebuild()
	}
	sl := s.slot(k)
	if len(sl.list.load()) == 0 {
		t.n++
	}
	sh := ae.a.geo
	minLon, maxLon := sh.minLon, sh.maxLon
	if sh.wrap {
		minLon, maxLon = -180, 180
	}
	sl.list.add(cellEntry{sh.minLat, sh.maxLat, minLon, maxLon, ae})
	if sl.key.Load() == 0 {
		sl.key.Store(k + 1)
		t.used++
	}
}

// rebuild publishes a slot array without tombstones, with room for twice
// the cells in use.
func (t *cellTable) rebuild() *cellSlots {
	size := 16
	for size < 4*(t.n+1) {
		size *= 2
	}
	ns := &cellSlots{mask: uint64(size - 1), slots: make([]cellSlot, size)}
	if old := t.t.Load(); old != nil {
		for i := range old.slots {
			k := old.slots[i].key.Load()
			p := old.slots[i].list.p.Load()
			if k == 0 || p == nil {
				continue
			}
			sl := ns.slot(k - 1)
			sl.list.p.Store(p)
			sl.key.Store(k)
		}
	}
	t.used = t.n
	t.t.Store(ns)
	return ns
}

func (t *cellTable) remove(k uint64, ae *atomEntry) {
	s := t.t.Load()
	if s == nil {
		return
	}
	sl := s.slot(k)
	if sl.key.Load() == 0 {
		return
	}
	l := &sl.list
	before := len(l.load())
	l.removeFunc(func(e cellEntry) bool { return e.ae == ae })
	if before > 0 && len(l.load()) == 0 {
		t.n--
		if t.n == 0 {
			t.t.Store(nil)
			t.used = 0
		}
	}
}
