package filter

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// gen produces random filters and documents over a small vocabulary so that
// filters and documents actually interact. It is used by the differential
// test (to build the cases sent to Koncorde) and by the fuzz targets.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x6b6f6e636f726465))} }

var (
	genFields  = []string{"a", "b", "c.d", "n", "s", "arr", "obj", "_id"}
	genStrings = []string{"x", "y", "z", "xa", "Xy", "id1", "id2"}
	genIDs     = []string{"id1", "id2", "id3"}
)

// geo shapes are drawn from a fixed pool so that document points can be
// kept away from borders, where spherical vs ellipsoidal distances and
// straight vs geodesic polygon edges legitimately disagree.
type genShape struct {
	kind string
	sh   *shape
}

var genGeoShapes = []genShape{
	{kind: "box", sh: &shape{kind: geoBox, top: 45, left: 2, bottom: 43, right: 6}},
	{kind: "box", sh: &shape{kind: geoBox, top: 44.5, left: 4.5, bottom: 42, right: 8}},
	{kind: "circle", sh: &shape{kind: geoCircle, center: point{44, 4}, to: 100000}},
	{kind: "circle", sh: &shape{kind: geoCircle, center: point{43.5, 6}, to: 150000}},
	{kind: "annulus", sh: &shape{kind: geoAnnulus, center: point{44, 5}, from: 50000, to: 200000}},
	{kind: "poly", sh: &shape{kind: geoPoly, poly: []point{{43, 3}, {45.5, 4}, {44.5, 7}, {42.5, 6.5}}}},
	{kind: "poly", sh: &shape{kind: geoPoly, poly: []point{{42.5, 2.5}, {44, 2.5}, {44, 5}}}},
}

func init() {
	for _, s := range genGeoShapes {
		s.sh.init()
	}
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) scalar() any {
	switch g.r.IntN(10) {
	case 0, 1, 2:
		return float64(g.r.IntN(5))
	case 3:
		return float64(g.r.IntN(5)) + 0.5
	case 4, 5, 6:
		return g.pick(genStrings)
	case 7:
		return g.r.IntN(2) == 0
	case 8:
		return nil
	}
	return fmt.Sprint(g.r.IntN(3)) // "1" vs 1
}

func (g *gen) geopoint(p point) any {
	switch g.r.IntN(7) {
	case 0:
		return []any{p.lat, p.lon}
	case 1:
		return fmt.Sprintf("%v, %v", p.lat, p.lon)
	case 2:
		return map[string]any{"lat": p.lat, "lon": p.lon}
	case 3:
		return map[string]any{"lat_lon": []any{p.lat, p.lon}}
	case 4:
		return map[string]any{"latLon": map[string]any{"lat": p.lat, "lon": p.lon}}
	case 5:
		return map[string]any{"latLon": fmt.Sprintf("%v,%v", p.lat, p.lon)}
	}
	return map[string]any{"lat": fmt.Sprint(p.lat), "lon": fmt.Sprint(p.lon)}
}

func (g *gen) distance(m float64) string {
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("%gkm", m/1000)
	case 1:
		return fmt.Sprintf("%g m", m)
	case 2:
		return fmt.Sprintf("%g kilometers", m/1000)
	case 3:
		return fmt.Sprintf("%gm", m)
	}
	return fmt.Sprintf("%g meters", m)
}

func (g *gen) geoFilter() map[string]any {
	s := genGeoShapes[g.r.IntN(len(genGeoShapes))].sh
	const field = "pos"
	switch s.kind {
	case geoBox:
		var spec map[string]any
		switch g.r.IntN(3) {
		case 0:
			spec = map[string]any{"top": s.top, "left": s.left, "bottom": s.bottom, "right": s.right}
		case 1:
			spec = map[string]any{"top": fmt.Sprint(s.top), "left": s.left, "bottom": fmt.Sprint(s.bottom), "right": s.right}
		default:
			spec = map[string]any{"topLeft": g.geopoint(point{s.top, s.left}), "bottomRight": g.geopoint(point{s.bottom, s.right})}
		}
		return map[string]any{"geoBoundingBox": map[string]any{field: spec}}
	case geoCircle:
		return map[string]any{"geoDistance": map[string]any{field: g.geopoint(s.center), "distance": g.distance(s.to)}}
	case geoAnnulus:
		return map[string]any{"geoDistanceRange": map[string]any{field: g.geopoint(s.center), "from": g.distance(s.from), "to": g.distance(s.to)}}
	}
	var pts []any
	for _, p := range s.poly {
		pts = append(pts, g.geopoint(p))
	}
	return map[string]any{"geoPolygon": map[string]any{field: map[string]any{"points": pts}}}
}

// safePoint returns a point at least a safe margin away from every pooled
// shape's border.
func (g *gen) safePoint() point {
	for {
		p := point{lat: 41.5 + g.r.Float64()*5, lon: 1.5 + g.r.Float64()*7.5}
		p.lat = math.Round(p.lat*1e4) / 1e4
		p.lon = math.Round(p.lon*1e4) / 1e4
		if borderSafe(p) {
			return p
		}
	}
}

func borderSafe(p point) bool {
	for _, gs := range genGeoShapes {
		s := gs.sh
		switch s.kind {
		case geoBox:
			if math.Abs(p.lat-s.top) < 0.05 || math.Abs(p.lat-s.bottom) < 0.05 ||
				math.Abs(p.lon-s.left) < 0.05 || math.Abs(p.lon-s.right) < 0.05 {
				return false
			}
		case geoCircle, geoAnnulus:
			d := haversine(s.center, p)
			if math.Abs(d-s.to) < 0.02*s.to || (s.kind == geoAnnulus && math.Abs(d-s.from) < 0.02*s.to) {
				return false
			}
		case geoPoly:
			n := len(s.poly)
			for i := 0; i < n; i++ {
				if segDist(p, s.poly[i], s.poly[(i+1)%n]) < 0.08 {
					return false
				}
			}
		}
	}
	return true
}

func segDist(p, a, b point) float64 {
	dx, dy := b.lon-a.lon, b.lat-a.lat
	t := ((p.lon-a.lon)*dx + (p.lat-a.lat)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	x, y := a.lon+t*dx-p.lon, a.lat+t*dy-p.lat
	return math.Hypot(x, y)
}

func (g *gen) rangeSpec() map[string]any {
	lo := float64(g.r.IntN(4))
	hi := lo + float64(1+g.r.IntN(3))
	spec := map[string]any{}
	switch g.r.IntN(4) {
	case 0:
		spec[[]string{"gt", "gte"}[g.r.IntN(2)]] = lo
	case 1:
		spec[[]string{"lt", "lte"}[g.r.IntN(2)]] = hi
	default:
		spec[[]string{"gt", "gte"}[g.r.IntN(2)]] = lo
		spec[[]string{"lt", "lte"}[g.r.IntN(2)]] = hi
	}
	return spec
}

var genPatterns = []map[string]any{
	{"value": "^x"}, {"value": "y$"}, {"value": "X", "flags": "i"}, {"value": "a"},
	{"value": "^id[12]$"}, {"value": "^x.*", "flags": "im"},
}

func (g *gen) leaf() map[string]any {
	field := g.pick(genFields)
	switch g.r.IntN(16) {
	case 0, 1:
		return map[string]any{"equals": map[string]any{field: g.scalar()}}
	case 2:
		n := 1 + g.r.IntN(3)
		var vals []any
		for i := 0; i < n; i++ {
			vals = append(vals, g.pick(genStrings))
		}
		return map[string]any{"in": map[string]any{field: vals}}
	case 3:
		n := 1 + g.r.IntN(2)
		var vals []any
		for i := 0; i < n; i++ {
			vals = append(vals, g.pick(genIDs))
		}
		return map[string]any{"ids": map[string]any{"values": vals}}
	case 4, 5:
		kw := []string{"exists", "missing"}[g.r.IntN(2)]
		switch g.r.IntN(4) {
		case 0:
			return map[string]any{kw: map[string]any{"field": field}}
		case 1:
			v := string(appendJSON(nil, g.scalar()))
			return map[string]any{kw: "arr[" + v + "]"}
		}
		return map[string]any{kw: field}
	case 6, 7:
		f := []string{"n", "a", "c.d"}[g.r.IntN(3)]
		return map[string]any{"range": map[string]any{f: g.rangeSpec()}}
	case 8:
		f := []string{"s", "a", "_id"}[g.r.IntN(3)]
		p := genPatterns[g.r.IntN(len(genPatterns))]
		if len(p) == 1 && g.r.IntN(2) == 0 {
			return map[string]any{"regexp": map[string]any{f: p["value"]}}
		}
		return map[string]any{"regexp": map[string]any{f: p}}
	case 9, 10:
		return g.geoFilter()
	case 11:
		m := map[string]any{}
		switch g.r.IntN(4) {
		case 0:
			m["a"] = g.scalar()
		case 1:
			m["obj"] = map[string]any{"k": g.scalar()}
		case 2:
			m["arr"] = []any{g.scalar()}
		default:
			m["c.d"] = g.scalar()
		}
		return map[string]any{"match": m}
	case 12:
		var q map[string]any
		if g.r.IntN(2) == 0 {
			q = map[string]any{"equals": map[string]any{"value": g.scalar()}}
		} else {
			q = map[string]any{"range": map[string]any{"value": g.rangeSpec()}}
		}
		return map[string]any{"select": map[string]any{"field": "arr", "index": float64(g.r.IntN(4) - 2), "query": q}}
	case 13:
		if g.r.IntN(4) == 0 {
			return map[string]any{"nothing": true}
		}
		return map[string]any{"equals": map[string]any{field: g.scalar()}}
	}
	return map[string]any{"equals": map[string]any{field: g.scalar()}}
}

// top returns a filter: a third are a single (maybe negated) condition or
// a flat and/or of conditions, which Koncorde accepts for every keyword;
// the rest are nested combinations.
func (g *gen) top() map[string]any {
	switch g.r.IntN(9) {
	case 0:
		if g.r.IntN(5) == 0 {
			return map[string]any{} // everything
		}
		return g.leaf()
	case 1:
		return g.leaf()
	case 2:
		return map[string]any{"not": g.leaf()}
	case 3:
		n := 2 + g.r.IntN(2)
		kids := make([]any, n)
		for i := range kids {
			kids[i] = g.leaf()
			if g.r.IntN(3) == 0 {
				kids[i] = map[string]any{"not": kids[i]}
			}
		}
		return map[string]any{[]string{"and", "or"}[g.r.IntN(2)]: kids}
	}
	return g.filter(3)
}

func (g *gen) filter(depth int) map[string]any {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.leaf()
	}
	kids := func() []any {
		n := 1 + g.r.IntN(3)
		out := make([]any, n)
		for i := range out {
			out[i] = g.filter(depth - 1)
		}
		return out
	}
	switch g.r.IntN(5) {
	case 0, 1:
		return map[string]any{"and": kids()}
	case 2:
		return map[string]any{"or": kids()}
	case 3:
		return map[string]any{"not": g.filter(depth - 1)}
	}
	b := map[string]any{}
	for _, k := range []string{"must", "must_not", "should", "should_not"} {
		if g.r.IntN(2) == 0 {
			b[k] = kids()
		}
	}
	if len(b) == 0 {
		b["must"] = kids()
	}
	return map[string]any{"bool": b}
}

// invalid returns a filter that is (usually) rejected, exercising the
// validation paths and messages.
func (g *gen) invalid() any {
	bad := []any{
		map[string]any{"foo": map[string]any{"a": 1.0}},
		map[string]any{"equals": map[string]any{"a": 1.0}, "exists": "a"},
		map[string]any{"and": []any{}},
		map[string]any{"or": []any{map[string]any{}}},
		map[string]any{"and": map[string]any{"equals": map[string]any{"a": 1.0}}},
		map[string]any{"not": map[string]any{}},
		map[string]any{"equals": map[string]any{"a": []any{1.0}}},
		map[string]any{"equals": map[string]any{"a": 1.0, "b": 2.0}},
		map[string]any{"equals": "a"},
		map[string]any{"in": map[string]any{"a": []any{1.0}}},
		map[string]any{"in": map[string]any{"a": []any{}}},
		map[string]any{"ids": map[string]any{"values": "x"}},
		map[string]any{"ids": map[string]any{"foo": []any{"x"}}},
		map[string]any{"exists": ""},
		map[string]any{"exists": map[string]any{"field": ""}},
		map[string]any{"exists": "arr[x]"},
		map[string]any{"missing": map[string]any{"foo": "a"}},
		map[string]any{"range": map[string]any{"n": map[string]any{"gt": 3.0, "lt": 1.0}}},
		map[string]any{"range": map[string]any{"n": map[string]any{"gt": "1"}}},
		map[string]any{"range": map[string]any{"n": map[string]any{"foo": 1.0}}},
		map[string]any{"range": map[string]any{"n": map[string]any{}}},
		map[string]any{"range": map[string]any{"n": map[string]any{"gt": 1.0, "gte": 2.0}}},
		map[string]any{"regexp": map[string]any{"s": 12.0}},
		map[string]any{"regexp": map[string]any{"s": map[string]any{"value": "x", "foo": "i"}}},
		map[string]any{"regexp": map[string]any{"s": map[string]any{"flags": "i"}}},
		map[string]any{"geoBoundingBox": map[string]any{"pos": map[string]any{"top": "a", "left": 1.0, "bottom": 0.0, "right": 2.0}}},
		map[string]any{"geoBoundingBox": map[string]any{"pos": map[string]any{"top": 1.0}}},
		map[string]any{"geoDistance": map[string]any{"pos": []any{1.0, 2.0}}},
		map[string]any{"geoDistance": map[string]any{"pos": "nope", "distance": "1km"}},
		map[string]any{"geoDistance": map[string]any{"pos": []any{1.0, 2.0}, "distance": 12.0}},
		map[string]any{"geoDistanceRange": map[string]any{"pos": []any{1.0, 2.0}, "from": "2km", "to": "1km"}},
		map[string]any{"geoPolygon": map[string]any{"pos": map[string]any{"points": []any{[]any{1.0, 2.0}, []any{3.0, 4.0}}}}},
		map[string]any{"geoPolygon": map[string]any{"pos": map[string]any{"points": []any{[]any{1.0, 2.0}, "x", []any{3.0, 4.0}}}}},
		map[string]any{"match": map[string]any{}},
		map[string]any{"match": []any{1.0}},
		map[string]any{"select": map[string]any{"field": "arr", "index": 0.5, "query": map[string]any{"equals": map[string]any{"value": 1.0}}}},
		map[string]any{"select": map[string]any{"field": "arr", "index": 0.0}},
		map[string]any{"select": map[string]any{"field": "arr", "index": 0.0, "query": map[string]any{"foo": 1.0}}},
		map[string]any{"bool": map[string]any{"must": []any{map[string]any{"equals": map[string]any{"a": 1.0}}}, "foo": []any{}}},
		map[string]any{"bool": map[string]any{}},
		map[string]any{"bool": map[string]any{"should": []any{}}},
		map[string]any{"bool": map[string]any{"must_not": "x"}},
	}
	b := bad[g.r.IntN(len(bad))]
	// sometimes bury it inside an operand to exercise error paths
	switch g.r.IntN(4) {
	case 0:
		return map[string]any{"and": []any{g.leaf(), b}}
	case 1:
		return map[string]any{"not": b}
	}
	return b
}

func (g *gen) doc() (string, map[string]any) {
	d := map[string]any{}
	for _, f := range []string{"a", "b", "n", "s"} {
		if g.r.IntN(3) > 0 {
			d[f] = g.scalar()
		}
	}
	if g.r.IntN(3) > 0 {
		d["n"] = float64(g.r.IntN(7))
	}
	if g.r.IntN(2) == 0 {
		if g.r.IntN(4) == 0 {
			d["c"] = g.scalar()
		} else {
			d["c"] = map[string]any{"d": g.scalar()}
		}
	}
	if g.r.IntN(2) == 0 {
		arr := []any{}
		for i := g.r.IntN(4); i > 0; i-- {
			arr = append(arr, g.scalar())
		}
		d["arr"] = arr
	}
	if g.r.IntN(3) == 0 {
		d["obj"] = map[string]any{"k": g.scalar(), "l": g.scalar()}
	}
	if g.r.IntN(4) > 0 {
		d["pos"] = g.geopoint(g.safePoint())
	}
	id := ""
	if g.r.IntN(4) > 0 {
		id = g.pick(genIDs)
	}
	return id, d
}

// variant rewrites a filter into an equivalent one: shuffled and/or
// clauses and in values, in as an or of equals, double negations.
func (g *gen) variant(f any) any {
	m, ok := f.(map[string]any)
	if !ok || len(m) != 1 {
		return f
	}
	k, v := onlyKey(m)
	var out any = f
	switch k {
	case "and", "or":
		if arr, ok := v.([]any); ok {
			c := make([]any, len(arr))
			for i, p := range g.r.Perm(len(arr)) {
				c[i] = g.variant(arr[p])
			}
			out = map[string]any{k: c}
		}
	case "not":
		out = map[string]any{"not": g.variant(v)}
	case "in":
		if spec, ok := v.(map[string]any); ok && len(spec) == 1 {
			field, vals := onlyKey(spec)
			if arr, ok := vals.([]any); ok && len(arr) > 0 {
				c := make([]any, len(arr))
				for i, p := range g.r.Perm(len(arr)) {
					c[i] = arr[p]
				}
				if g.r.IntN(2) == 0 {
					out = map[string]any{"in": map[string]any{field: c}}
				} else {
					ors := make([]any, len(c))
					for i, x := range c {
						ors[i] = map[string]any{"equals": map[string]any{field: x}}
					}
					out = map[string]any{"or": ors}
				}
			}
		}
	}
	if g.r.IntN(4) == 0 {
		out = map[string]any{"not": map[string]any{"not": out}}
	}
	return out
}
