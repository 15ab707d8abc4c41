package embedded

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/storage/query"
)

// forbiddenNameChars are the characters Kuzzle refuses in index and
// collection names (ES index name rules plus Kuzzle's own separators).
const forbiddenNameChars = "\\/*?\"<>| \t\r\n,+#:.%&"

// validName applies Kuzzle's index/collection name rules: non-empty,
// lowercase, at most 126 bytes (so that Kuzzle's "@&index.collection" alias
// fits ES's 255-byte limit), none of the forbidden characters, and no leading
// underscore (reserved for internal collections such as _kuzzle_keep).
// reservedCollection is the name of Kuzzle's hidden collection, which
// keeps an empty index alive in Elasticsearch: no client may create it.
const reservedCollection = "_kuzzle_keep"

func validName(name string) bool {
	return name != "" && len(name) <= 126 && strings.ToLower(name) == name &&
		!strings.ContainsAny(name, forbiddenNameChars) && !strings.HasPrefix(name, "_") &&
		name != "_all"
}

// Mapping is a collection mapping as Kuzzle exposes it.
type mapping struct {
	Dynamic    string         `json:"dynamic"`
	Meta       map[string]any `json:"_meta,omitempty"`
	Properties map[string]any `json:"properties"`
	// DynamicTemplates is kept opaque: stored and returned, not applied.
	DynamicTemplates any `json:"dynamic_templates,omitempty"`
}

var rootMappingKeys = []string{"properties", "_meta", "dynamic", "dynamic_templates"}

// knownTypes are the Elasticsearch 7 field data types; anything else is
// invalid_mapping_type, as ES would refuse it.
var knownTypes = map[string]bool{
	"text": true, "keyword": true, "constant_keyword": true, "wildcard": true, "match_only_text": true,
	"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true,
	"half_float": true, "scaled_float": true, "unsigned_long": true, "date": true, "date_nanos": true,
	"boolean": true, "binary": true, "object": true, "nested": true, "flattened": true,
	"geo_point": true, "geo_shape": true, "point": true, "shape": true, "ip": true, "version": true,
	"integer_range": true, "float_range": true, "long_range": true, "double_range": true,
	"date_range": true, "ip_range": true, "completion": true, "search_as_you_type": true,
	"token_count": true, "alias": true, "rank_feature": true, "rank_features": true,
	"dense_vector": true, "sparse_vector": true, "histogram": true, "percolator": true,
	"join": true, "aggregate_metric_double": true, "annotated_text": true, "murmur3": true,
}

// parseMappings decodes and validates a {dynamic,_meta,properties} object.
// Booleans given for dynamic are turned into strings, as Kuzzle does.
func parseMappings(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, kerror.Wrap(err, "services.storage.invalid_argument", "mappings", "an object")
	}
	if m == nil {
		m = map[string]any{}
	}
	if err := checkMapping(m, "", true); err != nil {
		return nil, err
	}
	return m, nil
}

func didYouMean(key string, allowed []string) string {
	for _, a := range allowed {
		if strings.Contains(a, key) || strings.Contains(key, a) {
			return fmt.Sprintf(" Did you mean %q?", a)
		}
	}
	return ""
}

// checkMapping validates one object level (the root or an object field).
func checkMapping(m map[string]any, path string, root bool) error {
	allowed := rootMappingKeys
	if !root {
		allowed = append([]string{"type"}, rootMappingKeys...)
	}
	for _, k := range sortedKeys(m) {
		p := joinPath(path, k)
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return kerror.New("services.storage.invalid_mapping", p, didYouMean(k, allowed))
		}
		switch k {
		case "dynamic":
			switch d := m[k].(type) {
			case bool:
				m[k] = fmt.Sprint(d)
			case string:
				if d != "true" && d != "false" && d != "strict" {
					return kerror.New("services.storage.invalid_mapping", p,
						fmt.Sprintf(` Incorrect dynamic property value (%s). Should be one of "true", "false", "strict"`, d))
				}
			default:
				return kerror.New("services.storage.invalid_mapping", p, " Dynamic property value should be a string.")
			}
		case "_meta":
			if _, ok := m[k].(map[string]any); !ok {
				return kerror.New("services.storage.invalid_mapping", p, " _meta should be an object.")
			}
		case "type":
			t, ok := m[k].(string)
			if !ok || !knownTypes[t] {
				return kerror.New("services.storage.invalid_mapping_type", path, fmt.Sprint(m[k]))
			}
		case "properties":
			props, ok := m[k].(map[string]any)
			if !ok {
				return kerror.New("services.storage.invalid_mapping", p, " properties should be an object.")
			}
			for _, f := range sortedKeys(props) {
				fp := joinPath(path, f)
				def, ok := props[f].(map[string]any)
				if !ok || f == "" {
					return kerror.New("services.storage.invalid_mapping", joinPath(p, f), " A field mapping should be an object.")
				}
				if _, isObject := def["properties"]; isObject {
					if err := checkMapping(def, fp, false); err != nil {
						return err
					}
					continue
				}
				// Leaf field: ES validates its parameters; the type is the
				// one mistake we can recognise without reimplementing ES.
				if t, has := def["type"]; has {
					ts, ok := t.(string)
					if !ok || !knownTypes[ts] {
						return kerror.New("services.storage.invalid_mapping_type", fp, fmt.Sprint(t))
					}
				}
				if d, has := def["dynamic"]; has {
					if err := checkMapping(map[string]any{"dynamic": d}, fp, false); err != nil {
						return err
					}
					def["dynamic"] = fmt.Sprint(d)
				}
			}
		}
	}
	return nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newMapping builds the stored mapping of a new collection.
func newMapping(in map[string]any, defaultDynamic string) *mapping {
	mp := &mapping{Dynamic: defaultDynamic, Properties: map[string]any{}}
	mp.merge(in, defaultDynamic)
	return mp
}

// update merges a mapping update into mp: dynamic, _meta and
// dynamic_templates are replaced when given, properties are deep-merged
// (lodash.merge semantics, as Kuzzle), and a field's type cannot change.
func (mp *mapping) update(in map[string]any) error {
	if props, ok := in["properties"].(map[string]any); ok {
		if err := checkTypeChanges(mp.Properties, props, ""); err != nil {
			return err
		}
	}
	mp.merge(in, mp.Dynamic)
	return nil
}

func (mp *mapping) merge(in map[string]any, keepDynamic string) {
	if d, ok := in["dynamic"].(string); ok {
		mp.Dynamic = d
	} else {
		mp.Dynamic = keepDynamic
	}
	if m, ok := in["_meta"].(map[string]any); ok {
		mp.Meta = m
	}
	if dt, ok := in["dynamic_templates"]; ok {
		mp.DynamicTemplates = dt
	}
	if props, ok := in["properties"].(map[string]any); ok {
		mergeMaps(mp.Properties, props)
	}
}

func checkTypeChanges(old, in map[string]any, path string) error {
	for _, f := range sortedKeys(in) {
		nd, _ := in[f].(map[string]any)
		od, _ := old[f].(map[string]any)
		if nd == nil || od == nil {
			continue
		}
		fp := joinPath(path, f)
		ot, oHas := od["type"].(string)
		nt, nHas := nd["type"].(string)
		_, oObj := od["properties"]
		_, nObj := nd["properties"]
		if (oHas && nHas && ot != nt) || (oHas && nObj && ot != "object" && ot != "nested") ||
			(nHas && oObj && nt != "object" && nt != "nested") {
			return kerror.New("services.storage.cannot_change_mapping", fp)
		}
		op, _ := od["properties"].(map[string]any)
		np, _ := nd["properties"].(map[string]any)
		if op != nil && np != nil {
			if err := checkTypeChanges(op, np, fp); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeMaps deep-merges src into dst: objects merge recursively, everything
// else (arrays included) replaces (storage.MergeInto).
func mergeMaps(dst, src map[string]any) { storage.MergeInto(dst, src) }

func deepCopy(v any) any { return storage.DeepCopy(v) }

// view is what GetMapping returns: {dynamic, _meta, properties}.
func (mp *mapping) view() map[string]any {
	props := deepCopy(mp.Properties).(map[string]any)
	// Kuzzle hides its own metadata mapping from getMapping.
	delete(props, "_kuzzle_info")
	out := map[string]any{"dynamic": mp.Dynamic, "properties": props}
	if mp.Meta != nil {
		out["_meta"] = deepCopy(mp.Meta)
	}
	if mp.DynamicTemplates != nil {
		out["dynamic_templates"] = deepCopy(mp.DynamicTemplates)
	}
	return out
}

// strictViolation returns the first field (in sorted path order) that a
// "strict" level of the mapping does not declare, or "".
func (mp *mapping) strictViolation(src map[string]any) string {
	return strictCheck(src, mp.Properties, mp.Dynamic, "", true)
}

func strictCheck(obj map[string]any, props map[string]any, dynamic, path string, root bool) string {
	for _, k := range sortedKeys(obj) {
		if root && k == "_kuzzle_info" {
			continue
		}
		fp := joinPath(path, k)
		def, declared := props[k].(map[string]any)
		if !declared {
			if dynamic == "strict" {
				return fp
			}
			continue
		}
		sub, isObj := def["properties"].(map[string]any)
		if !isObj {
			continue
		}
		subDynamic := dynamic
		if d, ok := def["dynamic"].(string); ok {
			subDynamic = d
		}
		var children []map[string]any
		switch v := obj[k].(type) {
		case map[string]any:
			children = append(children, v)
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					children = append(children, m)
				}
			}
		}
		for _, c := range children {
			if bad := strictCheck(c, sub, subDynamic, fp, false); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// addDynamicFields extends the mapping, like Elasticsearch's dynamic
// mapping, with the fields of src that it does not declare wherever the
// effective dynamic policy is "true". It reports whether the mapping
// changed. Types are inferred as ES does by default: integers → long, other
// numbers → float, booleans → boolean, date-looking strings → date, other
// strings → text with a keyword sub-field, objects → properties. Inferred
// types are only reported by getMapping; the engine does not coerce or
// reject later values of another type.
func (mp *mapping) addDynamicFields(src map[string]any) bool {
	return inferInto(mp.Properties, src, mp.Dynamic, true, false)
}

// wouldAddDynamicFields reports whether addDynamicFields would change the
// mapping, without changing it.
func (mp *mapping) wouldAddDynamicFields(src map[string]any) bool {
	return inferInto(mp.Properties, src, mp.Dynamic, true, true)
}

// inferInto adds the fields of obj that props does not declare, where the
// dynamic policy allows, and reports whether it added any. With dry set it
// changes nothing and only reports whether it would.
func inferInto(props, obj map[string]any, dynamic string, root, dry bool) bool {
	changed := false
	for k, v := range obj {
		if root && k == "_kuzzle_info" {
			continue
		}
		def, declared := props[k].(map[string]any)
		if declared {
			sub, isObj := def["properties"].(map[string]any)
			if !isObj {
				continue
			}
			subDynamic := dynamic
			if d, ok := def["dynamic"].(string); ok {
				subDynamic = d
			}
			for _, child := range objectsOf(v) {
				if inferInto(sub, child, subDynamic, false, dry) {
					if dry {
						return true
					}
					changed = true
				}
			}
			continue
		}
		if dynamic != "true" {
			continue
		}
		if nd := inferType(v); nd != nil {
			if dry {
				return true
			}
			props[k] = nd
			changed = true
		}
	}
	return changed
}

func objectsOf(v any) []map[string]any {
	switch t := v.(type) {
	case map[string]any:
		return []map[string]any{t}
	case []any:
		var out []map[string]any
		for _, e := range t {
			out = append(out, objectsOf(e)...)
		}
		return out
	}
	return nil
}

func inferType(v any) map[string]any {
	switch t := v.(type) {
	case string:
		if dateLike.MatchString(t) {
			return map[string]any{"type": "date"}
		}
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": json.Number("256")}}}
	case bool:
		return map[string]any{"type": "boolean"}
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return map[string]any{"type": "float"}
		}
		return map[string]any{"type": "long"}
	case float64:
		if t == float64(int64(t)) {
			return map[string]any{"type": "long"}
		}
		return map[string]any{"type": "float"}
	case map[string]any:
		props := map[string]any{}
		inferInto(props, t, "true", false, false)
		return map[string]any{"properties": props}
	case []any:
		// ES maps an array by its first non-null element; objects of an
		// array all contribute their fields.
		objs := objectsOf(t)
		if len(objs) > 0 {
			props := map[string]any{}
			for _, o := range objs {
				inferInto(props, o, "true", false, false)
			}
			return map[string]any{"properties": props}
		}
		for _, e := range t {
			if nd := inferType(e); nd != nil {
				return nd
			}
		}
	}
	return nil
}

// dateLike matches ES's default dynamic_date_formats:
// strict_date_optional_time and yyyy/MM/dd [HH:mm:ss] [Z].
var dateLike = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?|\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?( ?(Z|[+-]\d{4}))?)$`)

// fieldType resolves a dotted field path to its mapped type, through object
// "properties" and multi-field "fields" ("name.keyword"). It returns
// "object" for object fields, "" for unmapped ones, and query.Unindexed for
// those that leave the mapping where the effective dynamic policy (the
// collection's, or that of the innermost object declaring one) is "false"
// or "strict": ES does not index such fields, so no query finds them.
func (mp *mapping) fieldType(field string) string {
	parts := strings.Split(field, ".")
	props := mp.Properties
	dynamic := mp.Dynamic
	for i, part := range parts {
		def, ok := props[part].(map[string]any)
		if !ok {
			// Kuzzle maps its own metadata in every collection.
			if (dynamic == "false" || dynamic == "strict") && !(i == 0 && part == "_kuzzle_info") {
				return query.Unindexed
			}
			return ""
		}
		last := i == len(parts)-1
		sub, isObject := def["properties"].(map[string]any)
		if last {
			if t, ok := def["type"].(string); ok {
				return t
			}
			if isObject {
				return "object"
			}
			return ""
		}
		if isObject {
			props = sub
			if d, ok := def["dynamic"].(string); ok {
				dynamic = d
			}
			continue
		}
		if fields, ok := def["fields"].(map[string]any); ok && i == len(parts)-2 {
			if f, ok := fields[parts[i+1]].(map[string]any); ok {
				t, _ := f["type"].(string)
				return t
			}
		}
		return ""
	}
	return ""
}
