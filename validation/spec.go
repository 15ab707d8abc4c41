package validation

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime/filter"
)

// Limits of a specification: it is held in memory on every node and walked
// on every write to its collection, so its size is bounded.
const (
	maxFields = 1000
	maxDepth  = 32
)

// Spec is a compiled collection specification. It is immutable and safe
// for concurrent use.
type Spec struct {
	index, collection string
	strict            bool
	root              *field // type "object", children only
	// validators holds one filter, {bool: {must: validators}}; nil when
	// the specification has none.
	validators  *filter.Engine
	validatorID string
}

// field is one node of the field tree.
type field struct {
	path       []string
	typ        string
	mandatory  bool
	hasDefault bool
	def        any
	multi      bool
	minCount   *float64
	maxCount   *float64
	opts       typeOptions
	children   map[string]*field
	names      []string // children's names, in the specification's order
}

// typeOptions is the union of the types' options, checked by their parser.
type typeOptions struct {
	min, max       *float64 // string length, numeric and integer range
	dateMin        *dateBound
	dateMax        *dateBound
	formats        []string
	values         []string
	notEmpty       bool
	strict         *bool    // object
	shapeTypes     []string // geo_shape
	allowsChildren bool
}

var specProps = []string{"strict", "fields", "validators"}
var fieldProps = []string{"mandatory", "type", "defaultValue", "description", "multivalued", "typeOptions"}
var multiProps = []string{"value", "minCount", "maxCount"}

// Parse checks and compiles a specification. It returns every problem
// found, as Kuzzle's validateFormat does in verbose mode; a nil Spec comes
// with at least one message.
func Parse(index, collection string, raw any) (*Spec, []string) {
	return parse(index, collection, raw, nil)
}

// parse is Parse with the order the fields are checked in (the fields'
// keys; nil: sorted).
func parse(index, collection string, raw any, order []string) (*Spec, []string) {
	spec, ok := raw.(map[string]any)
	where := index + "." + collection
	if !ok || !allowed(spec, specProps) {
		return nil, []string{kerror.New("validation.assert.unexpected_properties", where, strings.Join(specProps, ", ")).Message}
	}
	s := &Spec{index: index, collection: collection, strict: truthy(spec["strict"]),
		root: &field{typ: "object", children: map[string]*field{}, opts: typeOptions{allowsChildren: true}}}
	if f := spec["fields"]; truthy(f) {
		fields, ok := f.(map[string]any)
		if !ok {
			return nil, []string{kerror.New("validation.assert.invalid_type", where+".fields", "object").Message}
		}
		if len(fields) > maxFields {
			return nil, []string{kerror.New("validation.assert.invalid_type", where+".fields",
				fmt.Sprintf("an object of at most %d fields", maxFields)).Message}
		}
		if errs := s.parseFields(where, fields, order); len(errs) > 0 {
			return nil, errs
		}
	}
	if v, ok := spec["validators"].([]any); ok && len(v) > 0 {
		e := filter.New(filter.Options{})
		n, err := e.Register(index, collection, map[string]any{"bool": map[string]any{"must": v}})
		if err != nil {
			return nil, []string{kerror.New("validation.assert.invalid_filters", err.Error()).Message}
		}
		s.validators, s.validatorID = e, n.ID
	}
	return s, nil
}

// ParseJSON is Parse over a specification's JSON, whose fields are then
// checked in the order the JSON holds them (Kuzzle's: its objects keep
// their keys' order), where Parse can only sort them.
func ParseJSON(index, collection string, raw []byte) (*Spec, []string) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, []string{err.Error()}
	}
	return parse(index, collection, v, fieldOrder(raw))
}

func (s *Spec) parseFields(where string, fields map[string]any, order []string) []string {
	var errs []string
	names := slices.Sorted(maps.Keys(fields))
	// rank is each field's place in the check order.
	rank := make(map[string]int, len(fields))
	for i, name := range names {
		rank[name] = i
	}
	if len(order) == len(fields) {
		for i, name := range order {
			rank[name] = i
		}
	}
	byDepth := map[int][]*field{}
	deepest := 0
	for _, name := range names {
		f, fe := parseField(where+"."+name, fields[name])
		if len(fe) > 0 {
			errs = append(errs, fe...)
			continue
		}
		f.path = strings.Split(name, "/")
		if len(f.path) > maxDepth {
			errs = append(errs, kerror.New("validation.assert.invalid_type", where+"."+name,
				fmt.Sprintf("a path of at most %d levels", maxDepth)).Message)
			continue
		}
		byDepth[len(f.path)] = append(byDepth[len(f.path)], f)
		deepest = max(deepest, len(f.path))
	}
	if len(errs) > 0 {
		return errs
	}
	// Build the tree level by level, as Kuzzle does: every level must be
	// declared, and only objects hold children.
	for depth := 1; depth <= deepest; depth++ {
		level, ok := byDepth[depth]
		if !ok {
			return []string{kerror.New("validation.assert.missing_nested_spec").Message}
		}
		for _, f := range level {
			parent := s.root
			for _, seg := range f.path[:len(f.path)-1] {
				p, ok := parent.children[seg]
				if !ok {
					return []string{kerror.New("validation.assert.missing_parent", strings.Join(f.path, ".")).Message}
				}
				parent = p
			}
			if !parent.opts.allowsChildren {
				return []string{kerror.New("validation.assert.unexpected_children", parent.typ).Message}
			}
			if parent.children == nil {
				parent.children = map[string]*field{}
			}
			parent.children[f.path[len(f.path)-1]] = f
		}
	}
	sortChildren(s.root, rank)
	return nil
}

// sortChildren orders every level's children by their place in the
// specification (rank, by full path).
func sortChildren(f *field, rank map[string]int) {
	f.names = f.names[:0]
	for name, c := range f.children {
		f.names = append(f.names, name)
		sortChildren(c, rank)
	}
	sort.Slice(f.names, func(i, j int) bool {
		a, b := f.children[f.names[i]], f.children[f.names[j]]
		return rank[strings.Join(a.path, "/")] < rank[strings.Join(b.path, "/")]
	})
}

// parseField checks one field's specification, collecting its problems in
// Kuzzle's order: shape, type, multivalued, then the type's options.
func parseField(where string, raw any) (*field, []string) {
	var errs []string
	add := func(id string, args ...string) { errs = append(errs, kerror.New(id, args...).Message) }
	spec, ok := raw.(map[string]any)
	if !ok || !allowed(spec, fieldProps) {
		add("validation.assert.unexpected_properties", where, strings.Join(fieldProps, ", "))
	}
	typ, hasType := spec["type"]
	if !hasType {
		add("validation.assert.missing_type", where)
	}
	name, _ := typ.(string)
	t, known := types[name]
	if !known {
		add("validation.assert.unknown_type", where, jsString(typ))
	}
	f := &field{typ: name, mandatory: truthy(spec["mandatory"])}
	if mv, has := spec["multivalued"]; has {
		m, ok := mv.(map[string]any)
		if !ok || !allowed(m, multiProps) {
			add("validation.assert.unexpected_properties", where+".multivalued", strings.Join(multiProps, ", "))
		}
		v, hasValue := m["value"]
		if !hasValue {
			add("validation.assert.missing_value", where+".multivalued")
		}
		b, isBool := v.(bool)
		if !isBool {
			add("validation.assert.invalid_type", where+".multivalued.value", "boolean")
		}
		f.multi = b
		for _, k := range []string{"minCount", "maxCount"} {
			c, has := m[k]
			if !has {
				continue
			}
			if !b {
				add("validation.assert.not_multivalued", where, k)
				continue
			}
			n, ok := number(c)
			if !ok || n < 0 || n != math.Trunc(n) {
				add("validation.assert.invalid_type", where+".multivalued."+k, "positive integer")
				continue
			}
			if k == "minCount" {
				f.minCount = &n
			} else {
				f.maxCount = &n
			}
		}
		if f.minCount != nil && f.maxCount != nil && *f.minCount > *f.maxCount {
			add("validation.assert.invalid_range", where, "minCount", "maxCount")
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if d, has := spec["defaultValue"]; has {
		f.hasDefault, f.def = true, d
	}
	opts := map[string]any{}
	if o, has := spec["typeOptions"]; has {
		m, ok := o.(map[string]any)
		if !ok || !allowed(m, t.options) {
			return nil, []string{kerror.New("validation.assert.unexpected_properties", where, strings.Join(t.options, ", ")).Message}
		}
		opts = m
	}
	var err error
	if f.opts, err = t.parse(opts); err != nil {
		return nil, []string{err.Error()}
	}
	f.opts.allowsChildren = t.children
	return f, nil
}

// allowed reports whether m holds only the given keys.
func allowed(m map[string]any, keys []string) bool {
	for k := range m {
		found := false
		for _, a := range keys {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// truthy is JavaScript's truthiness, which Kuzzle applies to strict,
// mandatory and defaultValue.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 && !math.IsNaN(x)
	case json.Number:
		f, err := x.Float64()
		return err != nil || f != 0
	}
	return true
}

// number reads a JSON number, decoded either way.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// jsString renders a value the way a JavaScript template string would.
func jsString(v any) string {
	switch x := v.(type) {
	case nil:
		return "undefined"
	case string:
		return x
	case float64:
		return fmtNumber(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fmtNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprint(f)
}
