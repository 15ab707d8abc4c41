package validation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/korumdb/korum/kerror"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func mustParse(t *testing.T, spec string) *Spec {
	t.Helper()
	s, errs := Parse("i", "c", mustJSON(t, spec))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", spec, errs)
	}
	return s
}

// errID returns the kerror id of err, "" for nil.
func errID(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ke *kerror.Error
	if !errors.As(err, &ke) {
		t.Fatalf("not a kerror: %v", err)
	}
	return ke.ID
}

// Malformed specifications are refused with Kuzzle's message for each
// mistake; several mistakes are all reported.
func TestParseErrors(t *testing.T) {
	cases := []struct{ spec, want string }{
		{`{"foo":1}`, `The object "i.c" contains unexpected properties (allowed: strict, fields, validators).`},
		{`{"fields":{"a":{"type":"string","bad":1}}}`, `The object "i.c.a" contains unexpected properties`},
		{`{"fields":{"a":{}}}`, `Missing property "type" in field "i.c.a".`},
		{`{"fields":{"a":{"type":"nope"}}}`, `In "i.c.a": unknown type "nope".`},
		{`{"fields":{"a":{"type":"string","multivalued":{}}}}`, `Missing property "value" in field "i.c.a.multivalued".`},
		{`{"fields":{"a":{"type":"string","multivalued":{"value":"yes"}}}}`, `Wrong type for parameter "i.c.a.multivalued.value" (expected: boolean).`},
		{`{"fields":{"a":{"type":"string","multivalued":{"value":false,"minCount":1}}}}`, `Field "i.c.a": cannot set a property "minCount" if the field is not multivalued.`},
		{`{"fields":{"a":{"type":"string","multivalued":{"value":true,"minCount":3,"maxCount":2}}}}`, `Property "i.c.a": invalid range (minCount > maxCount).`},
		{`{"fields":{"a":{"type":"string","typeOptions":{"range":{}}}}}`, `The object "i.c.a" contains unexpected properties (allowed: length).`},
		{`{"fields":{"a":{"type":"string","typeOptions":{"length":{"min":"1"}}}}}`, `Wrong type for parameter "length.min" (expected: number).`},
		{`{"fields":{"a":{"type":"numeric","typeOptions":{"range":{"min":3,"max":1}}}}}`, `Property "range": invalid range (min > max).`},
		{`{"fields":{"a":{"type":"enum"}}}`, `The "enum" type requires a "values" property`},
		{`{"fields":{"a":{"type":"enum","typeOptions":{"values":[1]}}}}`, `Wrong type for parameter "values" (expected: string[]).`},
		{`{"fields":{"a":{"type":"date","typeOptions":{"formats":["nope"]}}}}`, `The following date types are invalid: nope.`},
		{`{"fields":{"a":{"type":"geo_shape","typeOptions":{"shapeTypes":["point","square","blob"]}}}}`, `The following shapes are invalid: square,blob.`},
		{`{"fields":{"a":{"type":"geo_shape","typeOptions":{"shapeTypes":[]}}}}`, `Wrong type for parameter "shapeTypes" (expected: string[]).`},
		{`{"fields":{"a":{"type":"date","typeOptions":{"range":{"min":"yesterday"}}}}}`, `Cannot parse the date value: "yesterday".`},
		{`{"fields":{"a":{"type":"email","typeOptions":{"notEmpty":1}}}}`, `Wrong type for parameter "notEmpty" (expected: boolean).`},
		{`{"fields":{"a":{"type":"object","typeOptions":{"strict":"x"}}}}`, `Wrong type for parameter "strict" (expected: boolean).`},
		{`{"fields":{"a/b":{"type":"string"}}}`, `All levels of an object have to be defined in the specification.`},
		{`{"fields":{"a":{"type":"object"},"b/c":{"type":"string"}}}`, `The parent field of the field "b.c" is not defined.`},
		{`{"fields":{"a":{"type":"string"},"a/b":{"type":"string"}}}`, `The field type "string" is not allowed to have children fields.`},
		{`{"validators":[{"nope":{}}]}`, `Invalid filters validator: `},
	}
	for _, c := range cases {
		s, errs := Parse("i", "c", mustJSON(t, c.spec))
		if s != nil || len(errs) == 0 || !strings.Contains(strings.Join(errs, "|"), c.want) {
			t.Errorf("%s: got %v, want %q", c.spec, errs, c.want)
		}
	}
	_, errs := Parse("i", "c", mustJSON(t, `{"fields":{"a":{},"b":{"type":"x"}}}`))
	if len(errs) < 2 {
		t.Errorf("several mistakes, reported %v", errs)
	}
	if _, errs := Parse("i", "c", "not an object"); len(errs) != 1 {
		t.Errorf("a string spec: %v", errs)
	}
}

// Each type accepts and refuses what Kuzzle's does, with its message.
func TestTypes(t *testing.T) {
	cases := []struct {
		field, doc string
		want       string // "" when valid, else a part of the message
	}{
		{`{"type":"string"}`, `"x"`, ""},
		{`{"type":"string"}`, `1`, "The field must be a string."},
		{`{"type":"string","typeOptions":{"length":{"min":2,"max":3}}}`, `"a"`, "Invalid string length. Expected min: 2."},
		{`{"type":"string","typeOptions":{"length":{"min":2,"max":3}}}`, `"abcd"`, "Invalid string length. Expected max: 3."},
		{`{"type":"string","typeOptions":{"length":{"max":1}}}`, `"é"`, ""},
		{`{"type":"integer"}`, `3`, ""},
		{`{"type":"integer"}`, `3.5`, "The field must be an integer."},
		{`{"type":"integer","typeOptions":{"range":{"min":0,"max":10}}}`, `11`, "Value 11 is greater than the allowed maximum (10)"},
		{`{"type":"numeric","typeOptions":{"range":{"min":0.5}}}`, `0.25`, "Value 0.25 is lesser than the allowed minimum (0.5)"},
		{`{"type":"numeric"}`, `"1"`, "The field must be a number."},
		{`{"type":"boolean"}`, `false`, ""},
		{`{"type":"boolean"}`, `"true"`, "The field must be of type boolean."},
		{`{"type":"anything"}`, `[1,{"a":2}]`, "The field is not a multivalued field"},
		{`{"type":"anything"}`, `{"a":2}`, ""},
		{`{"type":"enum","typeOptions":{"values":["a","b"]}}`, `"b"`, ""},
		{`{"type":"enum","typeOptions":{"values":["a","b"]}}`, `"c"`, `The field only accepts following values: "a, b".`},
		{`{"type":"email"}`, `"me@example.com"`, ""},
		{`{"type":"email"}`, `"me@example"`, "The string must be a valid email address."},
		{`{"type":"email"}`, `""`, ""},
		{`{"type":"email","typeOptions":{"notEmpty":true}}`, `""`, "The string must not be empty."},
		{`{"type":"ip_address"}`, `"::1"`, ""},
		{`{"type":"ip_address"}`, `"10.0.0.256"`, "The string must be a valid IP address."},
		{`{"type":"url"}`, `"https://kuzzle.io/docs?a=1"`, ""},
		{`{"type":"url"}`, `"not a url"`, "The string must be a valid URL."},
		{`{"type":"geo_point"}`, `{"lat":43.6,"lon":3.9}`, ""},
		{`{"type":"geo_point"}`, `"43.6, 3.9"`, ""},
		{`{"type":"geo_point"}`, `{"lat":"north"}`, "Invalid GeoPoint format"},
		{`{"type":"object"}`, `{"x":1}`, ""},
		{`{"type":"geo_shape"}`, `{"type":"point","coordinates":[3.9,43.6]}`, ""},
		{`{"type":"geo_shape"}`, `{"type":"point","coordinates":[200,43.6]}`, `The shape type "point" has bad coordinates.`},
		{`{"type":"geo_shape"}`, `{"type":"polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"orientation":"cw"}`, ""},
		{`{"type":"geo_shape"}`, `{"type":"polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}`, `The shape type "polygon" has bad coordinates.`},
		{`{"type":"geo_shape"}`, `{"type":"polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"orientation":"up"}`, "The orientation property has not a valid value."},
		{`{"type":"geo_shape"}`, `{"type":"multipoint","coordinates":[[0,0],[0,91]]}`, `One of the shapes in  the shape type "multipoint" has bad coordinates.`},
		{`{"type":"geo_shape"}`, `{"type":"circle","coordinates":[0,0],"radius":"10km"}`, ""},
		{`{"type":"geo_shape"}`, `{"type":"circle","coordinates":[0,0],"radius":"far"}`, "The radius property has not a valid format."},
		{`{"type":"geo_shape"}`, `{"type":"circle","coordinates":[0,0]}`, `The radius property is mandatory for the "circle" shape type.`},
		{`{"type":"geo_shape"}`, `{"type":"envelope","coordinates":[[0,1],[1,0]]}`, ""},
		{`{"type":"geo_shape"}`, `{"type":"geometrycollection","geometries":[{"type":"point","coordinates":[0,0]},{"type":"linestring","coordinates":[[0,0]]}]}`, `The shape type "linestring" has bad coordinates.`},
		{`{"type":"geo_shape"}`, `{"type":"geometrycollection","coordinates":[0,0],"geometries":[]}`, `The coordinates property must not be provided for the "geometrycollection" shape type.`},
		{`{"type":"geo_shape"}`, `{"coordinates":[0,0]}`, "The shape object has no type defined."},
		{`{"type":"geo_shape"}`, `{"type":"point","coordinates":[0,0],"extra":1}`, "The shape object has a not allowed property."},
		{`{"type":"geo_shape","typeOptions":{"shapeTypes":["point"]}}`, `{"type":"linestring","coordinates":[[0,0],[1,1]]}`, "The provided shape type is not allowed."},
		{`{"type":"object"}`, `"x"`, "The value must be an object."},
		{`{"type":"date"}`, `1700000000000`, ""},
		{`{"type":"date"}`, `"2020-01-01"`, "The date format is invalid."},
		{`{"type":"date","typeOptions":{"formats":["date","epoch_second"]}}`, `"2020-01-31"`, ""},
		{`{"type":"date","typeOptions":{"formats":["strict_date_optional_time"]}}`, `"2020-01-31T10:00:00Z"`, ""},
		{`{"type":"date","typeOptions":{"formats":["date"],"range":{"min":"2021-01-01"}}}`, `"2020-01-31"`, "The provided date is before the defined minimum."},
		{`{"type":"date","typeOptions":{"range":{"max":"NOW"}}}`, `1900000000000`, "The provided date is after the defined maximum."},
		{`{"type":"date","typeOptions":{"range":{"max":"NOW"}}}`, `1700000000000`, ""},
		// Week-based formats (moment's "en" locale: weeks from Sunday, week 1
		// holds January 1st): 2024-W01-1 is Monday January 1st, 2024.
		{`{"type":"date","typeOptions":{"formats":["week_date"],"range":{"min":"2024-01-02"}}}`, `"2024-W01-1"`, "The provided date is before the defined minimum."},
		{`{"type":"date","typeOptions":{"formats":["week_date"],"range":{"min":"2024-01-02"}}}`, `"2024-W01-2"`, ""},
		{`{"type":"date","typeOptions":{"formats":["week_date"],"range":{"max":"2023-12-31"}}}`, `"2024-W01-0"`, ""},
		{`{"type":"date","typeOptions":{"formats":["week_date"]}}`, `"2024-W53-1"`, "The date format is invalid."},
		{`{"type":"date","typeOptions":{"formats":["week_date"]}}`, `"2024-W01-7"`, "The date format is invalid."},
		{`{"type":"date","typeOptions":{"formats":["basic_week_date"]}}`, `"2024W013"`, ""},
		{`{"type":"date","typeOptions":{"formats":["week_date_time"],"range":{"min":"2024-01-03T10:00:00Z"}}}`, `"2024-W01-3T09:00:00.000Z"`, "The provided date is before the defined minimum."},
		{`{"type":"date","typeOptions":{"formats":["week_date_time"],"range":{"min":"2024-01-03T10:00:00Z"}}}`, `"2024-W01-3T11:00:00.000+01:00"`, ""},
		{`{"type":"date","typeOptions":{"formats":["basic_week_date_time_no_millis"]}}`, `"2024W013T101500Z"`, ""},
		{`{"type":"date","typeOptions":{"formats":["weekyear_week_day"]}}`, `"2024523"`, ""},
		{`{"type":"date","typeOptions":{"formats":["strict_weekyear_week"]}}`, `"202453"`, "The date format is invalid."},
		{`{"type":"date","typeOptions":{"formats":["weekyear"]}}`, `"2024"`, ""},
		{`{"type":"date","typeOptions":{"formats":["weekyear"]}}`, `"2024-W01"`, "The date format is invalid."},
		{`{"type":"string","multivalued":{"value":true,"minCount":1,"maxCount":2}}`, `["a"]`, ""},
		{`{"type":"string","multivalued":{"value":true,"minCount":1,"maxCount":2}}`, `[]`, "Not enough elements. Minimum count is set to 1."},
		{`{"type":"string","multivalued":{"value":true,"maxCount":2}}`, `["a","b","c"]`, "Too many elements. Maximum count is set to 2."},
		{`{"type":"string","multivalued":{"value":true}}`, `"a"`, "The field must be multivalued, unary value provided."},
		{`{"type":"string","multivalued":{"value":true}}`, `["a",1]`, "The field must be a string."},
	}
	for _, c := range cases {
		s := mustParse(t, `{"fields":{"f":`+c.field+`}}`)
		err := s.Check("id", mustJSON(t, `{"f":`+c.doc+`}`), now)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s with %s: %v", c.field, c.doc, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s with %s: got %v, want %q", c.field, c.doc, err, c.want)
		case c.want != "" && errID(t, err) != "validation.check.failed_field":
			t.Errorf("%s with %s: id %s", c.field, c.doc, errID(t, err))
		}
	}
}

// mandatory, strict (collection and object levels), nested fields and
// validators, with Kuzzle's ids and messages.
func TestDocumentRules(t *testing.T) {
	s := mustParse(t, `{"strict":true,"fields":{
		"name":{"type":"string","mandatory":true},
		"addr":{"type":"object"},
		"addr/city":{"type":"string","mandatory":true},
		"tags":{"type":"object","multivalued":{"value":true},"typeOptions":{"strict":false}},
		"tags/k":{"type":"string"}
	},"validators":[{"range":{"age":{"gte":0}}}]}`)
	cases := []struct{ doc, id, msg string }{
		{`{"name":"a"}`, "validation.check.failed_document", "The document does not match validation filters."},
		{`{"age":1}`, "validation.check.failed_document", `The document validation is strict. Cannot add unspecified sub-field "age"`},
		{`{}`, "validation.check.failed_field", `Validation failed. Field "name": The field is mandatory.`},
		{`{"name":"a","addr":{}}`, "validation.check.failed_field", `Field "addr.city": The field is mandatory.`},
		{`{"name":"a","addr":{"city":"x","zip":1}}`, "validation.check.failed_field", `Field "addr": The field is set to "strict"; cannot add unspecified sub-field "zip".`},
	}
	for _, c := range cases {
		err := s.Check("x", mustJSON(t, c.doc), now)
		if errID(t, err) != c.id || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want %s %q", c.doc, err, c.id, c.msg)
		}
	}
	// Strictness off below tags: an unknown sub-field passes there. The
	// validators need age, which strict forbids: a non-strict copy shows
	// both pass together.
	loose := mustParse(t, `{"fields":{"tags":{"type":"object","multivalued":{"value":true}},"tags/k":{"type":"string"}},
		"validators":[{"range":{"age":{"gte":0}}}]}`)
	if err := loose.Check("x", mustJSON(t, `{"age":3,"tags":[{"k":"a","other":1}]}`), now); err != nil {
		t.Errorf("valid document refused: %v", err)
	}
	if err := loose.Check("x", mustJSON(t, `{"age":3,"tags":[{"k":1}]}`), now); errID(t, err) != "validation.check.failed_field" ||
		!strings.Contains(err.Error(), `"tags.k"`) {
		t.Errorf("a bad nested value in an array: %v", err)
	}

	valid, report := s.Report("x", mustJSON(t, `{"age":-1,"addr":{"city":2}}`), now)
	b, _ := json.Marshal(report)
	if valid || !strings.Contains(string(b), `"documentScope":["The document validation is strict`) {
		t.Errorf("report: %v %s", valid, b)
	}
	valid, report = loose.Report("x", mustJSON(t, `{"age":-1,"tags":[{"k":1}]}`), now)
	b, _ = json.Marshal(report)
	want := `{"documentScope":["The document does not match validation filters."],"fieldScope":{"children":{"tags":{"children":{"k":{"messages":["The field must be a string."]}}}}}}`
	if valid || string(b) != want {
		t.Errorf("report:\n got %s\nwant %s", b, want)
	}
}

// Defaults fill absent fields on creation and null ones on update; a
// mandatory field with a default is not required; falsy defaults are not
// applied (Kuzzle's behaviour).
func TestDefaults(t *testing.T) {
	s := mustParse(t, `{"fields":{
		"a":{"type":"string","mandatory":true,"defaultValue":"x"},
		"b":{"type":"integer","defaultValue":0},
		"o":{"type":"object"},
		"o/c":{"type":"string","defaultValue":"y"}
	}}`)
	doc := mustJSON(t, `{"o":{}}`)
	if err := s.Check("id", doc, now); err != nil {
		t.Fatal(err)
	}
	s.ApplyDefaults(doc, false)
	if b, _ := json.Marshal(doc); string(b) != `{"a":"x","o":{"c":"y"}}` {
		t.Errorf("created: %s", b)
	}
	upd := mustJSON(t, `{"a":null,"o":{}}`)
	s.ApplyDefaults(upd, true)
	if b, _ := json.Marshal(upd); string(b) != `{"a":"x","o":{}}` {
		t.Errorf("updated: %s", b)
	}
	if !s.HasDefaults() || mustParse(t, `{"fields":{"a":{"type":"string"}}}`).HasDefaults() {
		t.Error("HasDefaults")
	}
}

// The replicated state: set, replace, delete, JSON round trip.
func TestState(t *testing.T) {
	s := NewState()
	if s.Spec("i", "c") != nil || s.Len() != 0 {
		t.Fatal("not empty")
	}
	if s.Apply(&Command{Index: "i", Collection: "c", Spec: json.RawMessage(`{"fields":{"a":{"type":"integer"}}}`)}) {
		t.Error("reported a previous spec")
	}
	s.Apply(&Command{Index: "i", Collection: "d", Spec: json.RawMessage(`{"strict":true}`)})
	if s.Spec("i", "c") == nil || s.Len() != 2 {
		t.Fatal("not applied")
	}
	b, err := json.Marshal(s)
	if err != nil || string(b) != `{"i":{"c":{"fields":{"a":{"type":"integer"}}},"d":{"strict":true}}}` {
		t.Fatalf("%s %v", b, err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil || back.Spec("i", "c") == nil || len(back.All()) != 2 {
		t.Fatalf("round trip: %v %+v", err, back.All())
	}
	if !s.Apply(&Command{Index: "i", Collection: "c"}) || s.Spec("i", "c") != nil {
		t.Error("delete")
	}
	s.Replace(&back)
	if s.Len() != 2 {
		t.Error("replace")
	}
	s.Replace(nil)
	if s.Len() != 0 {
		t.Error("replace with nil")
	}
}

// Of several failing fields, the one reported is the first in the
// specification's own order (Kuzzle's), read from its JSON: the same bytes
// give the same order on every replica.
func TestFieldOrder(t *testing.T) {
	doc := mustJSON(t, `{"zeta":"x","alpha":"y","obj":{"b":"x","a":"y"},"2":"x","10":"x"}`)
	for _, c := range []struct{ spec, want string }{
		{`{"fields":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}}}`, `Field "zeta"`},
		{`{"fields":{"alpha":{"type":"integer"},"zeta":{"type":"integer"}}}`, `Field "alpha"`},
		{`{"fields":{"obj":{"type":"object"},"obj/b":{"type":"integer"},"obj/a":{"type":"integer"}}}`, `Field "obj.b"`},
		// JavaScript enumerates index-like keys first, ascending.
		{`{"fields":{"zeta":{"type":"integer"},"10":{"type":"integer"},"2":{"type":"integer"}}}`, `Field "2"`},
		// A repeated key keeps its first place.
		{`{"fields":{"zeta":{"type":"integer"},"alpha":{"type":"integer"},"zeta":{"type":"integer"}}}`, `Field "zeta"`},
	} {
		s, errs := ParseJSON("i", "c", []byte(c.spec))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.spec, errs)
		}
		if err := s.Check("id", doc, now); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %s", c.spec, err, c.want)
		}
	}
	// Parse, from a decoded map, can only sort.
	var m map[string]any
	_ = json.Unmarshal([]byte(`{"fields":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}}}`), &m)
	s, _ := Parse("i", "c", m)
	if err := s.Check("id", doc, now); err == nil || !strings.Contains(err.Error(), `Field "alpha"`) {
		t.Errorf("sorted: %v", err)
	}
}
