package filter

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pipReference is the textbook crossing test with an explicit on-segment
// check, kept to validate the faster pointInPolygon.
func pipReference(poly []point, p point) bool {
	in := false
	n := len(poly)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := poly[j], poly[i]
		cross := (b.lon-a.lon)*(p.lat-a.lat) - (b.lat-a.lat)*(p.lon-a.lon)
		if cross == 0 &&
			p.lon >= math.Min(a.lon, b.lon) && p.lon <= math.Max(a.lon, b.lon) &&
			p.lat >= math.Min(a.lat, b.lat) && p.lat <= math.Max(a.lat, b.lat) {
			return true
		}
		if (a.lat > p.lat) != (b.lat > p.lat) {
			x := a.lon + (p.lat-a.lat)*(b.lon-a.lon)/(b.lat-a.lat)
			if p.lon < x {
				in = !in
			}
		}
	}
	return in
}

func TestPointInPolygon(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	// integer coordinates make vertices and edges easy to hit exactly
	for k := 0; k < 2000; k++ {
		n := 3 + r.IntN(6)
		poly := make([]point, n)
		for i := range poly {
			poly[i] = point{float64(r.IntN(11)), float64(r.IntN(11))}
		}
		for q := 0; q < 50; q++ {
			p := point{float64(r.IntN(13)) - 1, float64(r.IntN(13)) - 1}
			if q%2 == 0 {
				p = point{r.Float64()*12 - 1, r.Float64()*12 - 1}
			}
			if got, want := pointInPolygon(poly, p), pipReference(poly, p); got != want {
				t.Fatalf("polygon %v point %v: got %v, want %v", poly, p, got, want)
			}
		}
	}
	square := []point{{0, 0}, {0, 10}, {10, 10}, {10, 0}}
	for _, c := range []struct {
		p    point
		want bool
	}{{point{5, 5}, true}, {point{0, 0}, true}, {point{0, 5}, true}, {point{10, 10}, true}, {point{5, 10}, true}, {point{10.1, 5}, false}, {point{-1e-9, 5}, false}} {
		if got := pointInPolygon(square, c.p); got != c.want {
			t.Errorf("square, %v: got %v", c.p, got)
		}
	}
}
