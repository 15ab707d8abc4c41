package filter

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Filters and documents arrive as encoding/json output (float64 numbers), but
// callers building them by hand may use Go integers or json.Number, so every
// number check goes through asNumber.
func asNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// isScalar reports whether v is a JSON scalar (string, number, bool, null).
func isScalar(v any) bool {
	switch v.(type) {
	case nil, string, bool:
		return true
	}
	_, ok := asNumber(v)
	return ok
}

// normScalar folds numbers to float64 so that equality is a plain ==.
func normScalar(v any) any {
	if f, ok := asNumber(v); ok {
		if f == 0 {
			return 0.0 // -0 and 0 are the same JSON value
		}
		return f
	}
	return v
}

// jsParseFloat mimics JavaScript's parseFloat (longest numeric prefix after
// leading white space) because Koncorde accepts geo coordinates given as
// strings such as "43.6 " or "12abc".
func jsParseFloat(v any) (float64, bool) {
	var s string
	switch x := v.(type) {
	case float64: // the usual case, ahead of asNumber's longer switch
		return x, !math.IsNaN(x)
	case string:
		s = x
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = jsString(e)
		}
		s = strings.Join(parts, ",")
	default:
		if f, ok := asNumber(v); ok {
			return f, !math.IsNaN(f)
		}
		return 0, false
	}
	s = strings.TrimLeft(s, " \t\n\r\v\f\u00a0\ufeff")
	if strings.HasPrefix(s, "Infinity") || strings.HasPrefix(s, "+Infinity") {
		return math.Inf(1), true
	}
	if strings.HasPrefix(s, "-Infinity") {
		return math.Inf(-1), true
	}
	// longest prefix matching [+-]?(digits[.digits]|.digits)([eE][+-]?digits)?
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		frac := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			frac++
		}
		if digits+frac > 0 {
			i = j
			digits += frac
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s[:i], "."), 64)
	if err != nil {
		// ParseFloat reports range errors with ±Inf, as JavaScript does.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// jsString renders a scalar the way JavaScript's String() does; it is only
// used where Koncorde relies on implicit string conversion.
func jsString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	case map[string]any:
		return "[object Object]"
	}
	if f, ok := asNumber(v); ok {
		return formatNumber(f)
	}
	return ""
}

// formatNumber is the canonical number spelling used in canonical forms:
// integers without exponent below 1e21, otherwise Go's shortest round-trip
// representation. It is part of the room id derivation: never change it.
func formatNumber(f float64) string { return string(appendNumber(nil, f)) }

func appendNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0')
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendJSONString writes s as a JSON string. The escaping is part of the
// room id derivation: only '"', '\\' and control characters are escaped and
// invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendJSON writes v as compact JSON with object keys sorted bytewise.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return appendJSONString(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := sortedKeys(x)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x[k])
		}
		return append(b, '}')
	}
	if f, ok := asNumber(v); ok {
		return appendNumber(b, f)
	}
	// Not a JSON value (e.g. a Go struct in a hand-built document): fall back
	// to encoding/json so the output is at least deterministic.
	raw, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonEqual is JavaScript's === on JSON scalars (false for objects/arrays,
// which Koncorde compares by reference).
func scalarEqual(a, b any) bool {
	fa, oka := asNumber(a)
	fb, okb := asNumber(b)
	if oka || okb {
		return oka && okb && fa == fb
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}
