package jsonx

import (
	"encoding/json"
	"reflect"

	jsonv2 "github.com/go-json-experiment/json"
)

// Unmarshal decodes data into v exactly as encoding/json's Unmarshal
// does (same values, same errors), in about half the CPU for the common
// case. go-json-experiment/json (the prototype of Go's encoding/json/v2)
// decodes in one pass where encoding/json scans twice, which matters most
// for the long strings every authenticated request carries (its JWT).
//
// v2 differs from v1 on duplicate object names (it merges objects where v1
// keeps the last value), on invalid UTF-8 (v1 replaces it) and on struct
// members that match a field only case-insensitively (v1 takes them, v2
// ignores them), and its error messages differ; with v2's defaults and
// unknown members refused, those inputs all fail, and every failure is
// decoded again by encoding/json. So the answer is always
// encoding/json's: FuzzUnmarshalJSON checks it.
//
// Switch to the standard library's encoding/json/v2 once it is no longer
// an experiment.
func Unmarshal(data []byte, v any) error {
	if jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true)) == nil {
		return nil
	}
	// Drop what v2 decoded before it failed: encoding/json would merge
	// into it.
	reflect.ValueOf(v).Elem().SetZero()
	return json.Unmarshal(data, v)
}
