package filter

import "math"

// geoGrid is a multi-level grid over (lon, lat) degrees. A shape is stored
// in the cells it overlaps at the finest level where its envelope spans at
// most gridMaxCells cells per axis, so a point query looks up one cell per
// level and only tests shapes of comparable size near the point.
//
// Matching reads it without the lock (see cellTable and rlist).
type geoGrid struct {
	levels [len(gridCellSizes)]cellTable
	global rlist[*atomEntry] // envelopes too large for any level
}

var gridCellSizes = [...]float64{0.01, 0.04, 0.16, 0.64, 2.56, 10.24, 40.96}

const gridMaxCells = 3

func cellCoord(deg, size float64) int64 { return int64(math.Floor(deg / size)) }

func cellKey(x, y int64) uint64 { return uint64(uint32(int32(x)))<<32 | uint64(uint32(int32(y))) }

// spans returns the lon intervals of a shape's envelope (two when a box
// crosses the antimeridian).
func spans(s *shape) [][2]float64 {
	if s.wrap {
		return [][2]float64{{s.minLon, 180}, {-180, s.maxLon}}
	}
	return [][2]float64{{s.minLon, s.maxLon}}
}

func (g *geoGrid) level(s *shape) int {
	if math.IsNaN(s.minLat+s.maxLat+s.minLon+s.maxLon) || math.IsInf(s.minLat+s.maxLat+s.minLon+s.maxLon, 0) {
		return -1
	}
	for l, size := range gridCellSizes {
		ny := cellCoord(s.maxLat, size) - cellCoord(s.minLat, size) + 1
		nx := int64(0)
		for _, sp := range spans(s) {
			nx += cellCoord(sp[1], size) - cellCoord(sp[0], size) + 1
		}
		if nx <= gridMaxCells && ny <= gridMaxCells {
			return l
		}
	}
	return -1
}

// cells appends the keys of the cells a shape overlaps at level l.
func (g *geoGrid) cells(dst []uint64, s *shape, l int) []uint64 {
	size := gridCellSizes[l]
	for _, sp := range spans(s) {
		for x := cellCoord(sp[0], size); x <= cellCoord(sp[1], size); x++ {
			for y := cellCoord(s.minLat, size); y <= cellCoord(s.maxLat, size); y++ {
				dst = append(dst, cellKey(x, y))
			}
		}
	}
	return dst
}

func (g *geoGrid) insert(ae *atomEntry) {
	s := ae.a.geo
	l := g.level(s)
	if l < 0 {
		g.global.add(ae)
		return
	}
	var buf [2 * gridMaxCells * gridMaxCells]uint64
	for _, k := range g.cells(buf[:0], s, l) {
		g.levels[l].add(k, ae)
	}
}

func (g *geoGrid) remove(ae *atomEntry) {
	s := ae.a.geo
	l := g.level(s)
	if l < 0 {
		g.global.removeFunc(func(x *atomEntry) bool { return x == ae })
		return
	}
	var buf [2 * gridMaxCells * gridMaxCells]uint64
	for _, k := range g.cells(buf[:0], s, l) {
		g.levels[l].remove(k, ae)
	}
}

func (g *geoGrid) query(m *matchState, p point) {
	if math.IsNaN(p.lat) || math.IsNaN(p.lon) {
		return
	}
	for l := range g.levels {
		s := g.levels[l].t.Load()
		if s == nil {
			continue
		}
		size := gridCellSizes[l]
		list := s.get(cellKey(cellCoord(p.lon, size), cellCoord(p.lat, size)))
		if list == nil {
			continue
		}
		cell := list.load()
		for i := range cell {
			c := &cell[i]
			if p.lat < c.minLat || p.lat > c.maxLat || p.lon < c.minLon || p.lon > c.maxLon {
				continue
			}
			if c.ae.a.geo.contains(p) {
				m.hit(c.ae)
			}
		}
	}
	for _, ae := range g.global.load() {
		if ae.a.geo.contains(p) {
			m.hit(ae)
		}
	}
}
