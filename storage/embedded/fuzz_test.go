package embedded

import (
	"testing"
	"time"
)

// FuzzScrollID checks that arbitrary scroll ids are refused cleanly.
func FuzzScrollID(f *testing.F) {
	e := &Engine{opts: Options{}}
	e.opts.withDefaults()
	e.opts.Now = func() time.Time { return time.Unix(0, 0) }
	good, err := e.encodeScroll(&scrollState{Index: "i", Collection: "c", Size: 1, TTL: 1000})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, id string) {
		st, err := e.decodeScroll(id)
		if err == nil && st.Size <= 0 {
			t.Fatalf("accepted invalid state %+v", st)
		}
	})
}

// FuzzParseDuration checks the scroll ttl parser on arbitrary input.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1m", "500", "1.5h", "2d", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { parseDuration(s) })
}
