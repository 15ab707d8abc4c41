package fsm

import (
	"bytes"
	"encoding/json"
)

// splitBatchResult reads what encodeBatchResult writes without
// encoding/json, which validated the whole result, then scanned and copied
// it again, on every batch a node proposed (about 2% of a leader's CPU
// under writes). Results are slices of b, not validated: DecodeResponse
// parses each. ok is false for anything but encodeBatchResult's exact
// shapes, which DecodeBatchResult then hands to encoding/json.
func splitBatchResult(b []byte) (rs []SubResult, ok bool) {
	const head, tail = `{"b":[`, `]}`
	if !bytes.HasPrefix(b, []byte(head)) || !bytes.HasSuffix(b, []byte(tail)) || len(b) < len(head)+len(tail) {
		return nil, false
	}
	p := b[len(head) : len(b)-len(tail)]
	rs = make([]SubResult, 0, bytes.Count(p, []byte(`{"`))/2+1)
	for len(p) > 0 {
		if len(rs) > 0 {
			if p[0] != ',' {
				return nil, false
			}
			p = p[1:]
		}
		switch {
		case bytes.HasPrefix(p, []byte(`{}`)):
			rs = append(rs, SubResult{})
			p = p[2:]
		case bytes.HasPrefix(p, []byte(`{"r":`)):
			p = p[5:]
			n := skipValue(p)
			if n == 0 || n >= len(p) || p[n] != '}' {
				return nil, false
			}
			rs = append(rs, SubResult{Result: p[:n:n]})
			p = p[n+1:]
		case bytes.HasPrefix(p, []byte(`{"e":`)):
			p = p[5:]
			n := skipValue(p)
			if n == 0 || p[0] != '"' || !bytes.HasPrefix(p[n:], []byte(`,"f":true}`)) {
				return nil, false
			}
			var msg string
			if json.Unmarshal(p[:n], &msg) != nil {
				return nil, false
			}
			rs = append(rs, SubResult{Err: msg, Failed: true})
			p = p[n+len(`,"f":true}`):]
		default:
			return nil, false
		}
	}
	return rs, true
}

// skipValue returns the length of the JSON value p starts with, found by
// matching brackets outside strings, or 0 when p does not start with one
// that ends. It does not validate what it skips.
func skipValue(p []byte) int {
	depth := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '"':
			for i++; i < len(p) && p[i] != '"'; i++ {
				if p[i] == '\\' {
					i++
				}
			}
			if i >= len(p) {
				return 0
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // a scalar ended by its container
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		case ' ', '\t', '\r', '\n':
			if depth == 0 {
				return 0
			}
		}
	}
	return 0
}
