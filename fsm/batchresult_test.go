package fsm

import (
	"encoding/json"
	"errors"
	"testing"
)

// decodeBatchResultJSON is DecodeBatchResult's encoding/json path, which
// the fast one must agree with.
func decodeBatchResultJSON(b []byte) ([]SubResult, error) {
	var r struct {
		B []SubResult `json:"b"`
	}
	err := json.Unmarshal(b, &r)
	return r.B, err
}

func sameSubResults(a, b []SubResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if string(a[i].Result) != string(b[i].Result) || a[i].Err != b[i].Err || a[i].Failed != b[i].Failed {
			return false
		}
	}
	return true
}

func TestDecodeBatchResultReadsWhatEncodeBatchResultWrites(t *testing.T) {
	rs := []any{
		[]byte(`{"w":{"items":[{"_id":"a","after":{"_source":{"s":"}\"],{","n":1.5e3,"t":true,"z":null}}}]}}`),
		[]byte(nil),
		errors.New(`bad "quoted" \ text, with a } and ],`),
		[]byte(`{}`),
		errors.New(""),
		42, // neither bytes nor an error
		[]byte(`{"ms":[{"v":"é\u2028"}],"sec":[1,[2,{"x":[]}]]}`),
	}
	b := encodeBatchResult(rs)
	got, err := DecodeBatchResult(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := decodeBatchResultJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSubResults(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if len(got) != len(rs) || !got[2].Failed || got[2].Err != `bad "quoted" \ text, with a } and ],` || !got[4].Failed {
		t.Fatalf("results: %+v", got)
	}
	for _, bad := range []string{`{"b":[{"r":{"a":1}]}`, `{"b":[`, `{"b":{}}`} {
		if _, err := DecodeBatchResult([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// DecodeBatchResult answers exactly what encoding/json answers.
func FuzzDecodeBatchResult(f *testing.F) {
	f.Add(encodeBatchResult([]any{[]byte(`{"w":{}}`), errors.New("x"), []byte(nil)}))
	f.Add([]byte(`{"b":[{"r":"s"},{"r":[1,{"a":"]"}]},{"e":"\u00e9\"","f":true}]}`))
	f.Add([]byte(`{"b":[]}`))
	f.Add([]byte(`{"b":[{"r":null},{"r":-1.5e-3},{"r":false}],"b":[{"e":"dup"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gerr := DecodeBatchResult(b)
		want, werr := decodeBatchResultJSON(b)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: DecodeBatchResult %v, encoding/json %v", b, gerr, werr)
		}
		if gerr == nil && !sameSubResults(got, want) {
			t.Fatalf("%q: DecodeBatchResult %+v, encoding/json %+v", b, got, want)
		}
	})
}
