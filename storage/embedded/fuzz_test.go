package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
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

// FuzzDecodeObject checks the hand-written decoder against encoding/json
// (with UseNumber): same value on valid objects, an error otherwise.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,-2.5e3,"x\u00e9\n",true,false,null,{"b":{}}]}`, `{"a":"\xff"}`,
		`{"a":01}`, `{"a":1.}`, `{"a" : [ ] , "b":"\"q\""}`, `{"a":1} x`, `[1]`, `{"a":"` + "\x01" + `"}`, `{"a":-}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeObject(b)
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want map[string]any
		stdErr := dec.Decode(&want)
		if stdErr == nil {
			rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")
			if len(rest) > 0 || want == nil {
				stdErr = errors.New("trailing data or null")
			}
		}
		if stdErr != nil && strings.Contains(stdErr.Error(), "exceeded max depth") {
			// Deliberately deeper than encoding/json (see maxNesting).
			return
		}
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("%q: ours %v, encoding/json %v", b, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: ours %#v, encoding/json %#v", b, got, want)
		}
	})
}

// FuzzMergeMapping checks update*Mapping's parser and merge on arbitrary
// bodies: refused cleanly, or merged into a mapping that encodes and keeps
// every field the current mapping had, with its type. (It need not parse
// again: a leaf's parameters are not checked, as in collection:update, so
// {"o":{"x":1}} merges x into object o's definition.)
func FuzzMergeMapping(f *testing.F) {
	for _, s := range []string{`{}`, `{"properties":{"a":{"type":"text"}}}`, `{"dynamic":true,"_meta":{"x":1}}`,
		`{"properties":{"p":{"type":"keyword"}}}`, `{"properties":{"o":{"properties":{"x":{"type":"long"}}}}}`,
		`{"properties":{"a":{"type":"nope"}}}`, `{"propertiez":{}}`, `[]`, `null`} {
		f.Add([]byte(s))
	}
	current := map[string]any{"dynamic": "false", "properties": map[string]any{"p": map[string]any{"type": "keyword"},
		"o": map[string]any{"properties": map[string]any{"x": map[string]any{"type": "long"}}}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		merged, err := MergeMapping(current, b, "kuzzle:users")
		if err != nil {
			return
		}
		if _, err := json.Marshal(merged); err != nil {
			t.Fatal(err)
		}
		props := merged["properties"].(map[string]any)
		if p := props["p"].(map[string]any); p["type"] != "keyword" {
			t.Fatalf("field p changed type: %v", p)
		}
		if x := props["o"].(map[string]any)["properties"].(map[string]any)["x"].(map[string]any); x["type"] != "long" {
			t.Fatalf("field o.x changed type: %v", x)
		}
	})
}
