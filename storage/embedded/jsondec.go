package embedded

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// decodeObject parses a stored _source into map[string]any with numbers as
// json.Number. It exists because every search decodes every document of the
// collection: encoding/json's reflection-based decoder was most of the cost
// of Get and of a scan. Strings with escapes or invalid UTF-8 fall back to
// encoding/json so the result is identical to json.Decoder with UseNumber.
func decodeObject(b []byte) (map[string]any, error) {
	p := parser{b: b}
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, errors.New("stored document is not a JSON object")
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, fmt.Errorf("trailing data at offset %d", p.i)
	}
	return v.(map[string]any), nil
}

type parser struct {
	b []byte
	i int
}

// maxNesting bounds the decoder's recursion. It must exceed the nesting of
// anything the engine can ever have written, or a stored value becomes
// unreadable and its collection unusable: documents arrive through
// encoding/json (at most 10000 levels) and a collection's mapping nests two
// levels per document level ("properties", then the field), so a mapping
// can reach about 20000 levels. The write limits (limits.go) keep new
// values far shallower; this bound is for everything already stored.
const maxNesting = 1 << 16

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.i, what)
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxNesting {
		return nil, p.fail("nesting too deep")
	}
	p.ws()
	if p.i >= len(p.b) {
		return nil, p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.lit("true")
	case c == 'f':
		return false, p.lit("false")
	case c == 'n':
		return nil, p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.fail("unexpected character")
}

func (p *parser) lit(s string) error {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return p.fail("invalid literal")
	}
	p.i += len(s)
	return nil
}

func (p *parser) object(depth int) (any, error) {
	p.i++ // '{'
	m := make(map[string]any, 8)
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.fail("expected a key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.fail("expected ':'")
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v
		p.ws()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, nil
		default:
			return nil, p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	p.i++ // '['
	a := []any{}
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.ws()
		if p.i >= len(p.b) {
			return nil, p.fail("unexpected end of array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return a, nil
		default:
			return nil, p.fail("expected ',' or ']'")
		}
	}
}

func (p *parser) str() (string, error) {
	start := p.i
	p.i++ // opening quote
	simple := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			raw := p.b[start:p.i]
			if simple {
				inner := raw[1 : len(raw)-1]
				if utf8.Valid(inner) {
					return string(inner), nil
				}
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", p.fail("invalid string")
			}
			return s, nil
		case c == '\\':
			simple = false
			p.i += 2
		case c < 0x20:
			return "", p.fail("control character in string")
		default:
			p.i++
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, p.fail("invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.fail("invalid number")
		}
	}
	return json.Number(p.b[start:p.i]), nil
}
