package validation

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzParse: any specification either parses or is refused with messages,
// never panics; a parsed one checks any document without panicking, and
// its JSON compiles again on a replica (what the fsm relies on), its
// fields then in the JSON's order (fieldOrder reads any bytes).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"strict":true,"fields":{"a":{"type":"string","typeOptions":{"length":{"min":1}}}}}`,
		`{"fields":{"o":{"type":"object","multivalued":{"value":true,"maxCount":2}},"o/d":{"type":"date","typeOptions":{"formats":["date"],"range":{"max":"NOW"}}}}}`,
		`{"fields":{"e":{"type":"enum","typeOptions":{"values":["a"]},"defaultValue":"a","mandatory":true}}}`,
		`{"validators":[{"range":{"n":{"gt":1}}},{"exists":"x"}]}`,
		`{"fields":{"g":{"type":"geo_point"},"i":{"type":"ip_address"},"u":{"type":"url"},"m":{"type":"email","typeOptions":{"notEmpty":true}}}}`,
		`{"fields":{"a/b/c":{"type":"integer"}}}`,
		`{"fields":{"s":{"type":"geo_shape","typeOptions":{"shapeTypes":["polygon","geometrycollection"]}},"w":{"type":"date","typeOptions":{"formats":["week_date_time","weekyear"]}},"2":{"type":"anything"},"s":{"type":"geo_shape"}}}`,
	} {
		f.Add(s, `{"a":"x","o":[{"d":"2020-01-01"}],"n":2,"x":1}`)
	}
	f.Fuzz(func(t *testing.T, spec, doc string) {
		var raw any
		if json.Unmarshal([]byte(spec), &raw) != nil {
			return
		}
		s, errs := Parse("i", "c", raw)
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("spec %v with errors %v", s, errs)
		}
		if s == nil {
			return
		}
		again, errs := ParseJSON("i", "c", []byte(spec))
		if again == nil {
			t.Fatalf("parsed once, refused from its JSON: %v", errs)
		}
		var d map[string]any
		if json.Unmarshal([]byte(doc), &d) != nil {
			return
		}
		_ = s.Check("id", d, time.Unix(0, 0))
		_ = again.Check("id", d, time.Unix(0, 0))
		s.Report("id", d, time.Unix(0, 0))
		s.ApplyDefaults(d, false)
	})
}
