package embedded

import (
	"encoding/json"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage/query"
)

// MergeMapping checks a mapping update, raw, as collection:update's is
// checked (shape, field types, the default write limits) and returns the
// mapping current ({dynamic, _meta, properties}) becomes with it merged
// in, by collection:update's rules: properties deep-merged, a field's type
// unchangeable, dynamic and _meta replaced when given. where names the
// collection in limit messages. It serves mappings kept outside the store
// (security:update*Mapping), so that they follow the same rules.
func MergeMapping(current map[string]any, raw json.RawMessage, where string) (map[string]any, error) {
	in, err := parseMappings(raw)
	if err != nil {
		return nil, err
	}
	v := &validator{lim: WriteLimits{}.withDefaults(), where: where}
	if err := v.nesting(in); err != nil {
		return nil, err
	}
	props, _ := in["properties"].(map[string]any)
	if err := v.mappingShape(props, nil); err != nil {
		return nil, err
	}
	cur, _ := deepCopy(current).(map[string]any)
	mp := newMapping(cur, "true")
	if err := mp.update(in); err != nil {
		return nil, kerror.From(err)
	}
	if countFields(mp.Properties, true) > v.lim.MappingTotalFields {
		return nil, v.fieldsError()
	}
	return mp.view(), nil
}

// MappingFieldTypes resolves field paths against a {dynamic, _meta,
// properties} mapping as the store does for its collections' queries.
func MappingFieldTypes(m map[string]any) query.FieldTypes {
	cur, _ := deepCopy(m).(map[string]any)
	return newMapping(cur, "true").fieldType
}
