package filter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Benchmarks in the shape of Koncorde's benchmark.js: 10,000 filters of one
// keyword, then matching one document. bench/compare.sh runs the same shapes
// through Koncorde (bench/koncorde_bench.js) and prints the ratios.

const benchFilters = 10000

type benchCase struct {
	name string
	gen  func(r *rand.Rand) map[string]any
	doc  func(r *rand.Rand) map[string]any
}

const randChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

func randString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = randChars[r.IntN(len(randChars))]
	}
	return string(b)
}

// randPosition is geojson-random's position(): uniform lon/lat.
func randPosition(r *rand.Rand) (lon, lat float64) {
	return r.Float64()*360 - 180, r.Float64()*180 - 90
}

// randPolygon is geojson-random's polygon(1, vertices) with the default
// 10° maximal radial length, returned as [lat, lon] points.
func randPolygon(r *rand.Rand, vertices int) []any {
	offsets := make([]float64, vertices+1)
	for i := range offsets {
		offsets[i] = r.Float64()
		if i > 0 {
			offsets[i] += offsets[i-1]
		}
	}
	hubLon, hubLat := randPosition(r)
	pts := make([]any, 0, vertices+1)
	for _, o := range offsets {
		a := o * 2 * math.Pi / offsets[len(offsets)-1]
		s := r.Float64()
		lon, lat := hubLon+s*10*math.Sin(a), hubLat+s*10*math.Cos(a)
		pts = append(pts, []any{lat, lon})
	}
	pts[len(pts)-1] = pts[0]
	return pts
}

var benchCases = []benchCase{
	{"equals",
		func(r *rand.Rand) map[string]any {
			return map[string]any{"equals": map[string]any{"str": randString(r, 20)}}
		},
		func(r *rand.Rand) map[string]any { return map[string]any{"str": randString(r, 20)} }},
	{"exists",
		func(r *rand.Rand) map[string]any {
			return map[string]any{"exists": map[string]any{"field": randString(r, 20)}}
		},
		func(r *rand.Rand) map[string]any { return map[string]any{randString(r, 20): true} }},
	{"geoBoundingBox",
		func(r *rand.Rand) map[string]any {
			lon, lat := randPosition(r)
			return map[string]any{"geoBoundingBox": map[string]any{"point": map[string]any{
				"bottom": lat - .5, "left": lon, "right": lon + .5, "top": lat}}}
		},
		func(*rand.Rand) map[string]any { return map[string]any{"point": []any{0.0, 0.0}} }},
	{"geoDistance",
		func(r *rand.Rand) map[string]any {
			lon, lat := randPosition(r)
			return map[string]any{"geoDistance": map[string]any{"distance": "500m", "point": []any{lat, lon}}}
		},
		func(*rand.Rand) map[string]any { return map[string]any{"point": []any{0.0, 0.0}} }},
	{"geoDistanceRange",
		func(r *rand.Rand) map[string]any {
			lon, lat := randPosition(r)
			return map[string]any{"geoDistanceRange": map[string]any{"from": "500m", "to": "1km", "point": []any{lat, lon}}}
		},
		func(*rand.Rand) map[string]any { return map[string]any{"point": []any{0.0, 0.0}} }},
	{"geoPolygon",
		func(r *rand.Rand) map[string]any {
			return map[string]any{"geoPolygon": map[string]any{"point": map[string]any{"points": randPolygon(r, 5)}}}
		},
		func(*rand.Rand) map[string]any { return map[string]any{"point": []any{0.0, 0.0}} }},
	{"in",
		func(r *rand.Rand) map[string]any {
			vals := make([]any, 5)
			for i := range vals {
				vals[i] = randString(r, 20)
			}
			return map[string]any{"in": map[string]any{"str": vals}}
		},
		func(r *rand.Rand) map[string]any { return map[string]any{"str": randString(r, 20)} }},
	{"range",
		func(r *rand.Rand) map[string]any {
			b := float64(r.IntN(20001) - 10000)
			return map[string]any{"range": map[string]any{"integer": map[string]any{"gte": b, "lte": b + 100}}}
		},
		func(r *rand.Rand) map[string]any { return map[string]any{"integer": float64(r.IntN(20001) - 10000)} }},
}

func BenchmarkMatch(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			e := New(Options{})
			for i := 0; i < benchFilters; i++ {
				if _, err := e.Register("i", bc.name, bc.gen(r)); err != nil {
					b.Fatal(err)
				}
			}
			doc := bc.doc(r)
			buf := e.AppendTest(nil, "i", bc.name, "", doc)
			matches := len(buf)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				buf = e.AppendTest(buf[:0], "i", bc.name, "", doc)
			}
			b.ReportMetric(float64(matches), "matches")
		})
	}
}

// BenchmarkMatchHitHeavy: 100,000 filters (equals AND range), one document
// matching exactly 1,000 of them.
func BenchmarkMatchHitHeavy(b *testing.B) {
	e, doc := hitHeavyEngine(b)
	buf := e.AppendTest(nil, "i", "c", "", doc)
	if len(buf) != 1000 {
		b.Fatalf("document matches %d filters, want 1000", len(buf))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf = e.AppendTest(buf[:0], "i", "c", "", doc)
	}
}

func hitHeavyEngine(b testing.TB) (*Engine, map[string]any) {
	e := New(Options{})
	// filter i: color = c(i%10) AND price in [i/10, i/10 + 1000): the
	// document (color c0, price 5000) matches the filters with i%10 == 0
	// and 4000 < i/10 ≤ 5000, exactly 1,000 of them.
	for i := 0; i < 100000; i++ {
		lo := float64(i / 10)
		f := map[string]any{"and": []any{
			map[string]any{"equals": map[string]any{"color": fmt.Sprintf("c%d", i%10)}},
			map[string]any{"range": map[string]any{"price": map[string]any{"gte": lo, "lt": lo + 1000}}},
		}}
		if _, err := e.Register("i", "c", f); err != nil {
			b.Fatal(err)
		}
	}
	return e, map[string]any{"color": "c0", "price": 5000.0}
}

// BenchmarkRegister100k registers 100,000 distinct filters mixing keywords.
func BenchmarkRegister100k(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	filters := make([]map[string]any, 100000)
	for i := range filters {
		filters[i] = benchCases[i%len(benchCases)].gen(r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e := New(Options{})
		for _, f := range filters {
			if _, err := e.Register("i", "c", f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestMissAllocatesNothing(t *testing.T) {
	for _, bc := range benchCases {
		r := rand.New(rand.NewPCG(5, 6))
		e := New(Options{})
		for i := 0; i < 1000; i++ {
			if _, err := e.Register("i", "c", bc.gen(r)); err != nil {
				t.Fatal(err)
			}
		}
		doc := map[string]any{"str": "nope", "integer": 1e9, "point": []any{89.9, 179.9}, "other": map[string]any{"x": 1.0}}
		if got := e.Test("i", "c", "some-id", doc); got != nil {
			t.Fatalf("%s: unexpected match %v", bc.name, got)
		}
		if n := testing.AllocsPerRun(100, func() { e.Test("i", "c", "some-id", doc) }); n != 0 {
			t.Errorf("%s: %v allocations per missed Test, want 0", bc.name, n)
		}
	}
}

// BenchmarkMatchScaling shows that a miss costs about the same with 1,000
// or 100,000 filters for the indexed keywords.
func BenchmarkMatchScaling(b *testing.B) {
	for _, bc := range benchCases {
		if bc.name != "equals" && bc.name != "exists" && bc.name != "range" {
			continue
		}
		for _, n := range []int{1000, 100000} {
			b.Run(fmt.Sprintf("%s/%d", bc.name, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				e := New(Options{})
				for i := 0; i < n; i++ {
					if _, err := e.Register("i", "c", bc.gen(r)); err != nil {
						b.Fatal(err)
					}
				}
				doc := bc.doc(r)
				if bc.name == "range" {
					doc = map[string]any{"integer": 1e9} // a miss
				}
				var buf []string
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					buf = e.AppendTest(buf[:0], "i", "c", "", doc)
				}
			})
		}
	}
}
