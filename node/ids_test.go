package node

import (
	"regexp"
	"testing"
	"time"
)

func TestNewIDShapeAndOrder(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
	t0 := time.UnixMilli(1_700_000_000_000)
	seen := map[string]bool{}
	prevMax := ""
	for ms := 0; ms < 1000; ms++ {
		// Several ids in one millisecond are distinct, and all sort
		// after those of earlier milliseconds.
		curMax := ""
		for range 3 {
			id := newID(t0.Add(time.Duration(ms) * time.Millisecond))
			if !shape.MatchString(id) {
				t.Fatalf("id %q is not 20 URL-safe characters", id)
			}
			if seen[id] {
				t.Fatalf("id %q made twice", id)
			}
			seen[id] = true
			if id <= prevMax {
				t.Fatalf("id %q of a later millisecond sorts before %q", id, prevMax)
			}
			curMax = max(curMax, id)
		}
		prevMax = curMax
	}
	if a, b := newID(time.UnixMilli(1<<47-1)), newID(time.UnixMilli(1<<47)); a >= b {
		t.Fatalf("ids across a byte carry do not sort: %q >= %q", a, b)
	}
}
