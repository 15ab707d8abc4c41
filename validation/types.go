package validation

import (
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime/filter"
)

// vtype is one of Kuzzle's validation types: the typeOptions it accepts,
// how it checks them, and how it checks a value.
type vtype struct {
	options  []string
	children bool
	parse    func(opts map[string]any) (typeOptions, error)
	// check returns "" when the value is valid, else Kuzzle's message.
	check func(o *typeOptions, v any, now time.Time) string
}

var types = map[string]vtype{
	"anything": {parse: noOptions, check: func(*typeOptions, any, time.Time) string { return "" }},
	"boolean": {parse: noOptions, check: func(_ *typeOptions, v any, _ time.Time) string {
		if _, ok := v.(bool); !ok {
			return "The field must be of type boolean."
		}
		return ""
	}},
	"date":       {options: []string{"range", "formats"}, parse: parseDateOptions, check: checkDate},
	"email":      {options: []string{"notEmpty"}, parse: parseNotEmpty, check: stringCheck(isEmail, "The string must be a valid email address.")},
	"enum":       {options: []string{"values"}, parse: parseEnum, check: checkEnum},
	"geo_point":  {parse: noOptions, check: checkGeoPoint},
	"geo_shape":  {options: []string{"shapeTypes"}, parse: parseGeoShape, check: checkGeoShape},
	"integer":    {options: []string{"range"}, parse: parseRange, check: numberCheck(true)},
	"ip_address": {options: []string{"notEmpty"}, parse: parseNotEmpty, check: stringCheck(isIP, "The string must be a valid IP address.")},
	"numeric":    {options: []string{"range"}, parse: parseRange, check: numberCheck(false)},
	"object":     {options: []string{"strict"}, children: true, parse: parseObject, check: checkObject},
	"string":     {options: []string{"length"}, parse: parseLength, check: checkString},
	"url":        {options: []string{"notEmpty"}, parse: parseNotEmpty, check: stringCheck(isURL, "The string must be a valid URL.")},
}

func noOptions(map[string]any) (typeOptions, error) { return typeOptions{}, nil }

func assertErr(id string, args ...string) error { return kerror.New(id, args...) }

// minMax reads {min, max}, both numbers, min <= max.
func minMax(opts map[string]any, name string) (lo, hi *float64, err error) {
	raw, has := opts[name]
	if !has {
		return nil, nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok || !allowed(m, []string{"min", "max"}) {
		return nil, nil, assertErr("validation.assert.unexpected_properties", name, "min, max")
	}
	for _, k := range []string{"min", "max"} {
		v, has := m[k]
		if !has {
			continue
		}
		n, ok := number(v)
		if !ok {
			return nil, nil, assertErr("validation.assert.invalid_type", name+"."+k, "number")
		}
		if k == "min" {
			lo = &n
		} else {
			hi = &n
		}
	}
	if lo != nil && hi != nil && *lo > *hi {
		return nil, nil, assertErr("validation.assert.invalid_range", name, "min", "max")
	}
	return lo, hi, nil
}

func parseRange(opts map[string]any) (typeOptions, error) {
	lo, hi, err := minMax(opts, "range")
	return typeOptions{min: lo, max: hi}, err
}

func parseLength(opts map[string]any) (typeOptions, error) {
	lo, hi, err := minMax(opts, "length")
	return typeOptions{min: lo, max: hi}, err
}

func parseNotEmpty(opts map[string]any) (typeOptions, error) {
	v, has := opts["notEmpty"]
	if !has {
		return typeOptions{}, nil
	}
	b, ok := v.(bool)
	if !ok {
		return typeOptions{}, assertErr("validation.assert.invalid_type", "notEmpty", "boolean")
	}
	return typeOptions{notEmpty: b}, nil
}

func parseEnum(opts map[string]any) (typeOptions, error) {
	raw, has := opts["values"]
	if !has {
		return typeOptions{}, assertErr("validation.types.missing_enum_values")
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return typeOptions{}, assertErr("validation.assert.invalid_type", "values", "string[]")
	}
	values := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			return typeOptions{}, assertErr("validation.assert.invalid_type", "values", "string[]")
		}
		values = append(values, s)
	}
	return typeOptions{values: values}, nil
}

func parseObject(opts map[string]any) (typeOptions, error) {
	v, has := opts["strict"]
	if !has {
		return typeOptions{}, nil
	}
	b, ok := v.(bool)
	if !ok {
		return typeOptions{}, assertErr("validation.assert.invalid_type", "strict", "boolean")
	}
	return typeOptions{strict: &b}, nil
}

func checkObject(_ *typeOptions, v any, _ time.Time) string {
	if _, ok := v.(map[string]any); !ok {
		return "The value must be an object."
	}
	return ""
}

func checkGeoPoint(_ *typeOptions, v any, _ time.Time) string {
	if !filter.IsGeopoint(v) {
		return "Invalid GeoPoint format"
	}
	return ""
}

// jsLength is a string's length as JavaScript counts it (UTF-16 units),
// which is what Kuzzle's length option bounds.
func jsLength(s string) int { return len(utf16.Encode([]rune(s))) }

func checkString(o *typeOptions, v any, _ time.Time) string {
	s, ok := v.(string)
	if !ok {
		return "The field must be a string."
	}
	n := float64(jsLength(s))
	if o.min != nil && n < *o.min {
		return fmt.Sprintf(`Invalid string length. Expected min: %s. Received: %d ("%s")`, fmtNumber(*o.min), int(n), s)
	}
	if o.max != nil && n > *o.max {
		return fmt.Sprintf(`Invalid string length. Expected max: %s. Received: %d ("%s")`, fmtNumber(*o.max), int(n), s)
	}
	return ""
}

func numberCheck(integer bool) func(o *typeOptions, v any, _ time.Time) string {
	return func(o *typeOptions, v any, _ time.Time) string {
		n, ok := number(v)
		if !ok {
			if integer {
				return "The field must be an integer."
			}
			return "The field must be a number."
		}
		if integer && n != float64(int64(n)) {
			return "The field must be an integer."
		}
		if o.min != nil && n < *o.min {
			return fmt.Sprintf("Value %s is lesser than the allowed minimum (%s)", fmtNumber(n), fmtNumber(*o.min))
		}
		if o.max != nil && n > *o.max {
			return fmt.Sprintf("Value %s is greater than the allowed maximum (%s)", fmtNumber(n), fmtNumber(*o.max))
		}
		return ""
	}
}

func checkEnum(o *typeOptions, v any, _ time.Time) string {
	s, ok := v.(string)
	if !ok {
		return "The field must be a string."
	}
	if !slices.Contains(o.values, s) {
		return `The field only accepts following values: "` + strings.Join(o.values, ", ") + `".`
	}
	return ""
}

// stringCheck builds the check of email, ip_address and url: a string,
// possibly empty unless notEmpty, that valid accepts.
func stringCheck(valid func(string) bool, msg string) func(o *typeOptions, v any, _ time.Time) string {
	return func(o *typeOptions, v any, _ time.Time) string {
		s, ok := v.(string)
		if !ok {
			return "The field must be a string."
		}
		if s == "" {
			if o.notEmpty {
				return "The string must not be empty."
			}
			return ""
		}
		if !valid(s) {
			return msg
		}
		return ""
	}
}

func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && validHost(s[at+1:])
}

// validHost accepts a domain name with a top-level domain, as the
// validator package Kuzzle uses does by default.
func validHost(h string) bool {
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r > 127) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	for _, r := range tld {
		if r >= '0' && r <= '9' {
			return false
		}
	}
	return len(tld) >= 2
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func isURL(s string) bool {
	if strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	raw := s
	if !strings.Contains(s, "://") {
		raw = "http://" + s
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "ftp":
	default:
		return false
	}
	h := u.Hostname()
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	return validHost(h)
}
