package memstore

import (
	"strconv"
	"testing"
)

// BenchmarkApplySet is the cost of one string write applied.
func BenchmarkApplySet(b *testing.B) {
	s := New()
	c := &Command{Now: 1, Cmds: [][]string{{"set", "k", "v"}}}
	for i := 0; b.Loop(); i++ {
		c.Cmds[0][2] = strconv.Itoa(i)
		s.Apply(c)
	}
}

// BenchmarkApplySaddFullSet is the worst case of a collection write: a
// member added to a set at its size bound, which copies the set (undo)
// and measures it again.
func BenchmarkApplySaddFullSet(b *testing.B) {
	s := New()
	args := []string{"sadd", "s"}
	for i := range MaxElements - 1 {
		args = append(args, strconv.Itoa(i))
	}
	s.Apply(&Command{Now: 1, Cmds: [][]string{args}})
	c := &Command{Now: 1, Cmds: [][]string{{"sadd", "s", "x"}, {"srem", "s", "x"}}}
	for b.Loop() {
		s.Apply(c)
	}
}
