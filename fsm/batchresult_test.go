package fsm

import (
	"encoding/json"
	"errors"
	"reflect"
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

func TestSplitBatchResultReadsWhatEncodeBatchResultWrites(t *testing.T) {
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
	fast, ok := splitBatchResult(b)
	if !ok {
		t.Fatalf("the fast path refused %s", b)
	}
	want, err := decodeBatchResultJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSubResults(fast, want) {
		t.Fatalf("fast %+v\nwant %+v", fast, want)
	}
	if len(fast) != len(rs) || !fast[2].Failed || fast[2].Err != `bad "quoted" \ text, with a } and ],` || !fast[4].Failed {
		t.Fatalf("results: %+v", fast)
	}
	got, err := DecodeBatchResult(b)
	if err != nil || !reflect.DeepEqual(got, fast) {
		t.Fatalf("DecodeBatchResult: %+v, %v", got, err)
	}
	// Anything else goes to encoding/json, which says what is wrong.
	for _, bad := range []string{`{"b":[{"r":{"a":1}]}`, `{"b":[{"x":1}]}`, ` {"b":[]}`, `{"b":[{"r":1} ]}`, `{"b":[`} {
		if _, ok := splitBatchResult([]byte(bad)); ok {
			t.Errorf("the fast path accepted %s", bad)
		}
	}
	if _, err := DecodeBatchResult([]byte(`{"b":[{"r":{"a":1}]}`)); err == nil {
		t.Error("a broken result decoded")
	}
}

// Whatever the fast path accepts, encoding/json reads the same way (when
// the input is valid JSON: the fast path leaves validating each result to
// DecodeResponse).
func FuzzSplitBatchResult(f *testing.F) {
	f.Add(encodeBatchResult([]any{[]byte(`{"w":{}}`), errors.New("x"), []byte(nil)}))
	f.Add([]byte(`{"b":[{"r":"s"},{"r":[1,{"a":"]"}]},{"e":"\u00e9\"","f":true}]}`))
	f.Add([]byte(`{"b":[]}`))
	f.Add([]byte(`{"b":[{"r":null},{"r":-1.5e-3},{"r":false}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := splitBatchResult(b)
		if !ok || !json.Valid(b) {
			return
		}
		want, err := decodeBatchResultJSON(b)
		if err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", b, err)
		}
		if !sameSubResults(fast, want) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, want)
		}
	})
}
