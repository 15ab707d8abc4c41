package filter

// cellTable is an open-addressing hash table from grid cell keys to the
// shapes stored in the cell. Point queries probe one cell per grid level, so
// this lookup is the hot path of geo matching; a Go map costs several times
// more for uint64 keys.
type cellTable struct {
	keys []uint64 // key+1; 0 marks an empty slot
	vals [][]cellEntry
	n    int
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
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.keys) - 1)
	for i := mix64(k) & mask; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			return nil
		case k + 1:
			return t.vals[i]
		}
	}
}

func (t *cellTable) slot(k uint64) int {
	mask := uint64(len(t.keys) - 1)
	i := mix64(k) & mask
	for t.keys[i] != 0 && t.keys[i] != k+1 {
		i = (i + 1) & mask
	}
	return int(i)
}

func (t *cellTable) add(k uint64, ae *atomEntry) {
	if (t.n+1)*4 > len(t.keys)*3 {
		t.grow()
	}
	i := t.slot(k)
	if t.keys[i] == 0 {
		t.keys[i] = k + 1
		t.n++
	}
	sh := ae.a.geo
	minLon, maxLon := sh.minLon, sh.maxLon
	if sh.wrap {
		minLon, maxLon = -180, 180
	}
	t.vals[i] = append(t.vals[i], cellEntry{sh.minLat, sh.maxLat, minLon, maxLon, ae})
}

func (t *cellTable) grow() {
	size := 2 * len(t.keys)
	if size < 16 {
		size = 16
	}
	old, oldVals := t.keys, t.vals
	t.keys, t.vals = make([]uint64, size), make([][]cellEntry, size)
	for i, k := range old {
		if k != 0 {
			j := t.slot(k - 1)
			t.keys[j], t.vals[j] = k, oldVals[i]
		}
	}
}

func (t *cellTable) remove(k uint64, ae *atomEntry) {
	if t.n == 0 {
		return
	}
	i := t.slot(k)
	if t.keys[i] == 0 {
		return
	}
	list := t.vals[i]
	for j := range list {
		if list[j].ae == ae {
			last := len(list) - 1
			list[j] = list[last]
			list[last] = cellEntry{}
			list = list[:last]
			break
		}
	}
	t.vals[i] = list
	if len(list) > 0 {
		return
	}
	// backward-shift deletion keeps probe sequences intact without
	// tombstones
	mask := len(t.keys) - 1
	t.keys[i], t.vals[i] = 0, nil
	t.n--
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		home := int(mix64(t.keys[j]-1)) & mask
		// move j into the hole at i if its home is not in (i, j]
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			t.keys[j], t.vals[j] = 0, nil
			i = j
		}
	}
}
