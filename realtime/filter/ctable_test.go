package filter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Every byte of a string must reach its hash, at every length (the
// word-reading code has one branch per length class).
func TestHasherReadsEveryByte(t *testing.T) {
	h := newHasher()
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 80; n++ {
		b := []byte(randString(r, n))
		base := h.str(string(b))
		for i := range b {
			old := b[i]
			b[i] ^= 1 << r.IntN(8)
			if h.str(string(b)) == base {
				t.Fatalf("length %d: flipping byte %d keeps the hash", n, i)
			}
			b[i] = old
		}
	}
	if h.str("") == h.str("\x00") || h.str("ab") == h.str("ab\x00") {
		t.Fatal("length does not reach the hash")
	}
}

// Tables index with the low bits: structured keys must spread there too.
func TestHasherSpreadsLowBits(t *testing.T) {
	h := newHasher()
	const buckets, keys = 1024, 64 * 1024
	for _, format := range []string{"%d", "key%08d", "user-%d@example.com", strings.Repeat("x", 40) + "%d"} {
		var count [buckets]int
		seen := map[uint64]bool{}
		for i := 0; i < keys; i++ {
			v := h.str(fmt.Sprintf(format, i))
			if seen[v] {
				t.Fatalf("%q: collision at %d", format, i)
			}
			seen[v] = true
			count[v%buckets]++
		}
		for b, c := range count {
			if c > 3*keys/buckets {
				t.Fatalf("%q: bucket %d holds %d keys, mean %d", format, b, c, keys/buckets)
			}
		}
	}
	var count [buckets]int
	for i := 0; i < keys; i++ {
		count[h.num(float64(i))%buckets]++
	}
	for b, c := range count {
		if c > 3*keys/buckets {
			t.Fatalf("numbers: bucket %d holds %d keys", b, c)
		}
	}
	if h.num(0) != h.num(math.Copysign(0, -1)) {
		t.Fatal("-0 and 0 hash differently")
	}
}

func TestHashersAreSeeded(t *testing.T) {
	a, b := newHasher(), newHasher()
	if a.str("same") == b.str("same") && a.num(1) == b.num(1) {
		t.Fatal("two engines hash alike")
	}
}

// ctable must behave like a map under random puts and deletes, through
// tombstones, growth and shrinking, and never deny holding a stored key.
func TestCTableMatchesMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	h := newHasher()
	var tab ctable[string, int]
	ref := map[string]*int{}
	for step := 0; step < 50000; step++ {
		k := fmt.Sprint(r.IntN(2000))
		if step > 25000 {
			k = fmt.Sprint(r.IntN(50)) // shrink
		}
		if r.IntN(3) == 0 {
			tab.del(h.str(k), k)
			delete(ref, k)
		} else {
			v := new(int)
			*v = step
			tab.put(h.str(k), h.quick(k), k, v)
			ref[k] = v
		}
		if step%499 == 0 {
			for i := 0; i < 2000; i++ {
				k := fmt.Sprint(i)
				if got := tab.get(h.str(k), k); got != ref[k] {
					t.Fatalf("step %d: get(%s) = %v, want %v", step, k, got, ref[k])
				}
				if ref[k] != nil && !tab.mayHold(h.quick(k)) {
					t.Fatalf("step %d: %s is stored but its fingerprint bit is clear", step, k)
				}
			}
			if tab.len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
			}
		}
	}
}
