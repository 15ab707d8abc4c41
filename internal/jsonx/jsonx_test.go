package jsonx_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/internal/jsonx"
	"github.com/korumdb/korum/storage"
)

func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`{"controller":"document","action":"get","_id":"x","jwt":"eyJh.eyJf.sig"}`,
		`{"a":{"x":1},"a":{"y":2}}`, "{\"a\":\"\xff\"}", `{"a":1e400}`, `{"a":1} x`, `{"a":"\ud800"}`,
		`{"a":12345678901234567890,"b":-0,"c":[1,{"d":null}]}`, `[]`, `"s"`, `{`, ` {"a" : true } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsEncodingJSON[map[string]any](t, data)
		sameAsEncodingJSON[any](t, data)
	})
}

// FuzzUnmarshalWrite checks the log entries' document writes: a
// storage.Write is what the state machine decodes for every write, on
// every replica, and replicas of the previous release decode it with
// encoding/json.
func FuzzUnmarshalWrite(f *testing.F) {
	for _, s := range []string{
		`{"op":"doc.create","index":"i","collection":"c","now":1700000000000,"author":"-1","docs":[{"_id":"a","body":{"x":1,"y":[true,null,"s"]}}]}`,
		`{"op":"doc.bulk","docs":[{"_id":"a","op":"doc.update","body":{"n":{"m":2}},"fields":["a.b"]}],"limit":10,"verbatim":true,"refresh":"wait_for"}`,
		`{"op":"collection.create","mappings":{"dynamic":"strict","properties":{}},"settings":null,"query":{"match_all":{}}}`,
		`{"op":"doc.updateByQuery","changes":{"a":1},"Op":"x"}`, `{"OP":"doc.create"}`, `{"docs":[{"_ID":"x"}]}`,
		`{"mappings":null}`, `{"now":1.5}`, `{"now":"1"}`, `{"docs":null,"indexes":["a","a"]}`, `{"op":"a","op":"b"}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(sameAsEncodingJSON[storage.Write])
}

// FuzzUnmarshalResponse checks the state machine's results, which a
// proposer decodes for every command it proposed.
func FuzzUnmarshalResponse(f *testing.F) {
	for _, s := range []string{
		`{"w":{"items":[{"_id":"a","after":{"_id":"a","_version":1,"_source":{"x":1,"_kuzzle_info":{"author":"-1","createdAt":1700000000000}}},"created":true}]}}`,
		`{"w":{"items":[{"_id":"a","before":{"_id":"a","_version":3,"_source":{}},"updatedFields":["a.b"],"seq":{"t":1,"s":9},"prevSeq":{"t":1,"s":8}}]}}`,
		`{"w":{"err":{"id":"services.storage.unknown_index","code":1,"status":404,"message":"m","props":["i"],"errors":[{"a":1}],"count":2}}}`,
		`{"ms":[{"v":"OK"},{"e":"x"},{"v":[1,"a",null]}],"sec":{"a":[1]},"dropped":["a"],"existed":true}`,
		`{"sec":null}`, `{"sec":  {"a" : 1} }`, `{"w":null,"W":{}}`, `{"w":{"items":[{"err":{"cause":"x"}}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(sameAsEncodingJSON[fsm.Response])
}

// sameAsEncodingJSON fails unless jsonx decodes data into a T as
// encoding/json does: the same value, or the same error.
func sameAsEncodingJSON[T any](t *testing.T, data []byte) {
	var want, got T
	werr := json.Unmarshal(data, &want)
	gerr := jsonx.Unmarshal(data, &got)
	if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
		t.Fatalf("errors differ: encoding/json %v, jsonx %v", werr, gerr)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("values differ: encoding/json %#v, jsonx %#v", want, got)
	}
}

// An authenticated document:get as the SDK sends it.
var benchRequest = []byte(`{"controller":"document","action":"get","index":"bench","collection":"docs","_id":"hot","requestId":"3f0b1c2d-1111-2222-3333-444455556666","volatile":{"sdkInstanceId":"9b1f7a10-4f8e-4a51-8f3e-1e0b8a5e2c11","sdkName":"js@7.11.0"},"jwt":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJfaWQiOiJyZWFkZXIiLCJpYXQiOjE3NjQ4ODAwMDAsImV4cCI6MTc2NDg4MzYwMCwiZXhwTXMiOjE3NjQ4ODM2MDAwMDAsImp0aSI6ImFiY2RlZiIsImdlbiI6MX0.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}`)

// go test -run XXX -bench Unmarshal -count 5 ./internal/jsonx
func BenchmarkUnmarshalEncodingJSON(b *testing.B) {
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchRequest, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalJSON(b *testing.B) {
	for b.Loop() {
		var m map[string]any
		if err := jsonx.Unmarshal(benchRequest, &m); err != nil {
			b.Fatal(err)
		}
	}
}
