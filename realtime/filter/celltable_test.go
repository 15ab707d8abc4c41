package filter

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// cellTable must behave like a map under random inserts and removals,
// including the backward-shift deletion across wrap-around.
func TestCellTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var tab cellTable
	ref := map[uint64][]*atomEntry{} // what each cell should hold
	entries := make([]*atomEntry, 64)
	for i := range entries {
		entries[i] = &atomEntry{slot: int32(i), a: &atom{geo: &shape{}}}
	}
	for step := 0; step < 20000; step++ {
		k := uint64(r.IntN(300))
		ae := entries[r.IntN(len(entries))]
		if r.IntN(3) == 0 {
			tab.remove(k, ae)
			if i := slices.Index(ref[k], ae); i >= 0 {
				ref[k] = slices.Delete(ref[k], i, i+1)
				if len(ref[k]) == 0 {
					delete(ref, k)
				}
			}
		} else if !slices.Contains(ref[k], ae) {
			tab.add(k, ae)
			ref[k] = append(ref[k], ae)
		}
		if step%97 == 0 {
			for k := uint64(0); k < 300; k++ {
				got, want := tab.get(k), ref[k]
				if len(got) != len(want) {
					t.Fatalf("step %d key %d: %d entries, want %d", step, k, len(got), len(want))
				}
			}
			if tab.n != len(ref) {
				t.Fatalf("step %d: n=%d, want %d", step, tab.n, len(ref))
			}
		}
	}
}
