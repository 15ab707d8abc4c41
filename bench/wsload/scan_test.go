package main

import (
	"encoding/json"
	"testing"
)

func TestTypeAndRoom(t *testing.T) {
	for _, tc := range []struct {
		in        string
		typ, room string
		ok        bool
	}{
		{`{"type":"document","room":"r-0"}`, `"document"`, `"r-0"`, true},
		{` { "room" : "r" , "type":"user" } `, `"user"`, `"r"`, true},
		{`{"result":{"type":"x","room":"y"},"type":"document","room":"r"}`, `"document"`, `"r"`, true},
		{`{"s":"a \"type\":\"x\" }","type":"document"}`, `"document"`, ``, true},
		{`{"a":[1,{"room":"no"}],"n":-1.5e3,"t":true,"z":null}`, ``, ``, true},
		{`{"type":"document","room":"r"`, ``, ``, false},
		{`{"type":"document","room":"r"}x`, ``, ``, false},
		{`{"type" "document"}`, ``, ``, false},
		{`["type","document"]`, ``, ``, false},
		{`{}`, ``, ``, true},
		{``, ``, ``, false},
	} {
		typ, room, ok := typeAndRoom([]byte(tc.in))
		if ok != tc.ok || (ok && (string(typ) != tc.typ || string(room) != tc.room)) {
			t.Errorf("%s: got %q %q %v", tc.in, typ, room, ok)
		}
	}
}

// FuzzTypeAndRoom checks the scanner against encoding/json: on a valid
// object it must succeed and find the values encoding/json decodes.
func FuzzTypeAndRoom(f *testing.F) {
	f.Add([]byte(`{"status":200,"result":{"_source":{"type":"x"}},"type":"document","room":"abc-0"}`))
	f.Add([]byte(`{"type":"a","type":"b","room":"\"q\\"}`))
	f.Add([]byte(`{"a":[{"b":"]}"}],"room":1}`))
	f.Add([]byte(`{"typ\u0065":"document","ro\u006fm":"r"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, room, ok := typeAndRoom(data)
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		if !ok {
			t.Fatalf("a valid object was refused: %q", data)
		}
		same := func(name string, raw []byte) {
			want, found := m[name]
			if !found {
				if raw != nil {
					t.Fatalf("%s found in %q: %q", name, data, raw)
				}
				return
			}
			var a, b any
			if json.Unmarshal(want, &a) != nil || json.Unmarshal(raw, &b) != nil {
				t.Fatalf("%s of %q: %q, want %q", name, data, raw, want)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("%s of %q: %q, want %q", name, data, raw, want)
			}
		}
		same("type", typ)
		same("room", room)
	})
}
