package security

import (
	"fmt"
	"sort"

	"github.com/korumdb/korum/kerror"
)

// ParseRole validates a role body ({controllers: {name: {actions: {name:
// bool}}}}) as Kuzzle's Role.validateDefinition does.
func ParseRole(id string, body map[string]any) (*Role, error) {
	if body == nil {
		return nil, kerror.New("api.assert.body_required")
	}
	raw, ok := body["controllers"]
	if !ok || raw == nil {
		return nil, kerror.New("api.assert.missing_argument", id+".controllers")
	}
	ctrls, ok := raw.(map[string]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", id+".controllers", "object")
	}
	if len(ctrls) == 0 {
		return nil, kerror.New("api.assert.empty_argument", id+".controllers")
	}
	r := &Role{Controllers: make(map[string]Actions, len(ctrls))}
	for name, v := range ctrls {
		c, ok := v.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", name, "object")
		}
		if len(c) == 0 {
			return nil, kerror.New("api.assert.empty_argument", name)
		}
		av, ok := c["actions"]
		if !ok {
			return nil, kerror.New("api.assert.missing_argument", name)
		}
		acts, ok := av.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", name+".actions", "object")
		}
		if len(acts) == 0 {
			return nil, kerror.New("api.assert.empty_argument", name+".actions")
		}
		a := Actions{Actions: make(map[string]bool, len(acts))}
		for an, b := range acts {
			bv, ok := b.(bool)
			if !ok {
				return nil, kerror.New("api.assert.invalid_type", name+".actions."+an, "boolean")
			}
			a.Actions[an] = bv
		}
		r.Controllers[name] = a
	}
	if id == Anonymous && !r.allows("auth", "login") {
		return nil, kerror.New("security.role.login_required")
	}
	return r, nil
}

// ParseProfile validates a profile body ({policies: [{roleId,
// restrictedTo}], rateLimit}) as Kuzzle's Profile.validateDefinition does.
func ParseProfile(id string, body map[string]any) (*Profile, error) {
	if body == nil {
		return nil, kerror.New("api.assert.body_required")
	}
	p := &Profile{}
	switch rl := body["rateLimit"].(type) {
	case nil:
	case float64:
		if rl != float64(int(rl)) {
			return nil, kerror.New("api.assert.invalid_type", "rateLimit", "integer")
		}
		if rl < 0 {
			return nil, kerror.New("api.assert.invalid_argument", "rateLimit", "positive integer, or zero")
		}
		p.RateLimit = int(rl)
	default:
		return nil, kerror.New("api.assert.invalid_type", "rateLimit", "integer")
	}
	raw, ok := body["policies"]
	if !ok || raw == nil {
		return nil, kerror.New("api.assert.missing_argument", id+".policies")
	}
	pols, ok := raw.([]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", id+".policies", "object[]")
	}
	if len(pols) == 0 {
		return nil, kerror.New("api.assert.empty_argument", id+".policies")
	}
	for i, v := range pols {
		path := fmt.Sprintf("%s.policies[%d]", id, i)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", path, "object")
		}
		roleID, _ := m["roleId"].(string)
		if roleID == "" {
			return nil, kerror.New("api.assert.missing_argument", path+".roleId")
		}
		pol := Policy{RoleID: roleID}
		for k := range m {
			if k != "roleId" && k != "restrictedTo" {
				return nil, kerror.New("api.assert.unexpected_argument", path+"."+k, `"roleId", "restrictedTo"`)
			}
		}
		if rt, ok := m["restrictedTo"]; ok && rt != nil {
			list, ok := rt.([]any)
			if !ok {
				return nil, kerror.New("api.assert.invalid_type", path+".restrictedTo", "object[]")
			}
			for j, rv := range list {
				rpath := fmt.Sprintf("%s.restrictedTo[%d]", path, j)
				rm, ok := rv.(map[string]any)
				if !ok {
					return nil, kerror.New("api.assert.invalid_type", rpath, "object")
				}
				index, _ := rm["index"].(string)
				if index == "" {
					return nil, kerror.New("api.assert.missing_argument", rpath+".index")
				}
				res := Restriction{Index: index}
				for k, cv := range rm {
					switch k {
					case "index":
					case "collections":
						if cv == nil {
							continue
						}
						cols, ok := cv.([]any)
						if !ok {
							return nil, kerror.New("api.assert.invalid_type", rpath+".collections", "string[]")
						}
						for _, c := range cols {
							cs, ok := c.(string)
							if !ok {
								return nil, kerror.New("api.assert.invalid_type", rpath+".collections", "string[]")
							}
							res.Collections = append(res.Collections, cs)
						}
					default:
						return nil, kerror.New("api.assert.unexpected_argument", rpath+"."+k, `"index", "collections"`)
					}
				}
				// Sorted, so that the rights check can binary-search.
				sort.Strings(res.Collections)
				pol.RestrictedTo = append(pol.RestrictedTo, res)
			}
		}
		p.Policies = append(p.Policies, pol)
	}
	if id == Anonymous {
		found := false
		for _, pol := range p.Policies {
			found = found || pol.RoleID == Anonymous
		}
		if !found {
			return nil, kerror.New("security.profile.missing_anonymous_role")
		}
	}
	return p, nil
}

// ParseUserContent validates a user's content ({profileIds, ...}):
// profileIds is required when required is set (creations).
func ParseUserContent(content map[string]any, required bool) (*User, error) {
	u := &User{Content: map[string]any{}}
	for k, v := range content {
		if k == "profileIds" || k == "_kuzzle_info" {
			continue
		}
		u.Content[k] = v
	}
	raw, ok := content["profileIds"]
	if !ok || raw == nil {
		if required {
			return nil, kerror.New("api.assert.missing_argument", "body.content.profileIds")
		}
		return u, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "body.content.profileIds", "string[]")
	}
	if len(list) == 0 {
		return nil, kerror.New("api.assert.empty_argument", "body.content.profileIds")
	}
	for _, v := range list {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, kerror.New("api.assert.invalid_type", "body.content.profileIds", "string[]")
		}
		u.ProfileIDs = append(u.ProfileIDs, s)
	}
	return u, nil
}
