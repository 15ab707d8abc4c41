package api

import (
	"testing"
	"time"
)

func TestReleaseOnlyAfterAStormIsOver(t *testing.T) {
	var r releaser
	s := time.Second
	steps := []struct {
		upgrades uint64
		at       time.Duration
		want     bool
	}{
		{10, 1 * s, false},    // a few connections
		{10, 10 * s, false},   // quiet, but not a storm
		{2000, 11 * s, false}, // a storm
		{3000, 12 * s, false}, // still going
		{3000, 13 * s, false}, // quiet for 1 s only
		{3000, 14 * s, true},  // quiet for 2 s: release
		{3000, 15 * s, false}, // once
		{5000, 16 * s, false}, // another storm
		{5000, 30 * s, false}, // over, but within 30 s of the last release
		{5000, 44 * s, true},  // 30 s later
	}
	for i, st := range steps {
		if got := r.due(st.upgrades, st.at); got != st.want {
			t.Fatalf("step %d (%d upgrades at %s): due %v, want %v", i, st.upgrades, st.at, got, st.want)
		}
	}
}
