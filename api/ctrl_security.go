package api

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage/embedded"
	"github.com/korumdb/korum/storage/query"
)

// securityController serves Kuzzle's security controller: users, profiles,
// roles, credentials and API keys, all in the replicated security state.
type securityController struct {
	sec    Security
	clock  Clock
	limits Limits
	// routes checks the controllers and actions a role names.
	routes roleRoutes
}

// roleRoutes is what role validation needs of the router.
type roleRoutes interface {
	actionExists(controller, action string) (controllerOK, actionOK bool)
	controllerNames() []string
}

func (c *securityController) actions() map[string]Handler {
	return map[string]Handler{
		"createFirstAdmin": c.createFirstAdmin,

		"createRole":          c.putRole(security.ModeCreate),
		"createOrReplaceRole": c.putRole(security.ModeUpsert),
		"updateRole":          c.updateRole,
		"getRole":             c.get(c.roleView, "security.role.not_found"),
		"mGetRoles":           c.mGet(c.roleView),
		"searchRoles":         c.searchRoles,
		"deleteRole":          c.del(security.OpDeleteRole),
		"mDeleteRoles":        c.mDelete(security.OpDeleteRole),

		"createProfile":          c.putProfile(security.ModeCreate),
		"createOrReplaceProfile": c.putProfile(security.ModeUpsert),
		"updateProfile":          c.putProfile(security.ModeReplace),
		"getProfile":             c.get(c.profileView, "security.profile.not_found"),
		"mGetProfiles":           c.mGet(c.profileView),
		"searchProfiles":         c.securitySearch("profiles", c.collectProfiles),
		"scrollProfiles":         c.securityScroll("profiles", c.collectProfiles),
		"deleteProfile":          c.del(security.OpDeleteProfile),
		"mDeleteProfiles":        c.mDelete(security.OpDeleteProfile),
		"getProfileRights":       c.getProfileRights,

		"createUser":           c.createUser(false),
		"createRestrictedUser": c.createUser(true),
		"replaceUser":          c.replaceUser,
		"updateUser":           c.updateUser(false),
		"upsertUser":           c.updateUser(true),
		"getUser":              c.get(c.userView, "security.user.not_found"),
		"mGetUsers":            c.mGet(c.userView),
		"searchUsers":          c.securitySearch("users", c.collectUsers),
		"scrollUsers":          c.securityScroll("users", c.collectUsers),
		"deleteUser":           c.del(security.OpDeleteUser),
		"mDeleteUsers":         c.mDelete(security.OpDeleteUser),
		"getUserRights":        c.getUserRights,
		"getUserStrategies":    c.getUserStrategies,
		"revokeTokens":         c.revokeTokens,

		"createCredentials":        c.setCredentials(security.ModeCreate),
		"updateCredentials":        c.setCredentials(security.ModeReplace),
		"deleteCredentials":        c.deleteCredentials,
		"getCredentials":           c.getCredentials,
		"getCredentialsById":       c.getCredentialsByID,
		"searchUsersByCredentials": c.searchUsersByCredentials,
		"hasCredentials":           c.hasCredentials,
		"validateCredentials":      c.validateCredentials,
		"getCredentialFields":      c.getCredentialFields,
		"getAllCredentialFields":   func(context.Context, *Request) (any, error) { return map[string]any{"local": localFields}, nil },

		"createApiKey":  c.createAPIKey,
		"searchApiKeys": c.searchAPIKeys,
		"deleteApiKey":  c.deleteAPIKey,
		"checkRights":   c.checkRights,
		// The mappings of Kuzzle's internal users, profiles and roles
		// collections, which admin tools read to build their forms, in the
		// replicated security state.
		"getUserMapping":       c.getMapping("users"),
		"getProfileMapping":    c.getMapping("profiles"),
		"getRoleMapping":       c.getMapping("roles"),
		"updateUserMapping":    c.updateMapping("users"),
		"updateProfileMapping": c.updateMapping("profiles"),
		"updateRoleMapping":    c.updateMapping("roles"),
		// The security state is in memory on every node: nothing to refresh.
		"refresh": func(context.Context, *Request) (any, error) { return nil, nil },
	}
}

var localFields = []string{"username", "password"}

// getMapping answers Kuzzle's get*Mapping: {mapping: properties}.
func (c *securityController) getMapping(collection string) Handler {
	return func(context.Context, *Request) (any, error) {
		m, _ := c.st().Mapping(collection)
		return map[string]any{"mapping": m["properties"]}, nil
	}
}

// maxMappingRounds bounds the merges of one update*Mapping that lose the
// race to concurrent updates of the same mapping.
const maxMappingRounds = 8

// updateMapping answers Kuzzle's update*Mapping: the body, {dynamic,
// _meta, properties}, is checked and merged into the collection's mapping
// by collection:update's rules (a field's type cannot change:
// services.storage.cannot_change_mapping), and the mapping as updated is
// returned, {dynamic, _meta, properties}, as Kuzzle's. The merge is made
// here, against the revision it read; if another update was stored
// first, the state machine refuses this one as stale and it is merged
// again into the newer mapping, so concurrent updates keep each other's
// fields, as they would in Elasticsearch.
func (c *securityController) updateMapping(collection string) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		body, err := r.RequireBody()
		if err != nil {
			return nil, err
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return nil, kerror.New("api.assert.invalid_type", "body", "object")
		}
		for range maxMappingRounds {
			cur, rev := c.st().Mapping(collection)
			merged, err := embedded.MergeMapping(cur, raw, "kuzzle:"+collection)
			if err != nil {
				return nil, err
			}
			res, err := c.propose(ctx, r, &security.Command{Op: security.OpUpdateMapping, ID: collection, Mapping: merged, Rev: rev})
			if err != nil {
				return nil, err
			}
			if !res.Stale {
				return merged, nil
			}
		}
		return nil, kerror.New("services.storage.too_many_changes", collection)
	}
}

// searchTypes gives the field types a search of kind compiles its query
// with: the users mapping's, so that a field mapped as text is matched by
// its tokens and one mapped as keyword as a whole, as in Kuzzle. Unlike
// Kuzzle, whose users collection is dynamic "false" (a field it does not
// map is found by no query), fields the mapping leaves out stay
// searchable as values.
func (c *securityController) searchTypes(kind string) query.FieldTypes {
	if kind != "users" {
		return nil
	}
	m, _ := c.st().Mapping("users")
	m["dynamic"] = "true"
	return embedded.MappingFieldTypes(m)
}

func (c *securityController) st() *security.State { return c.sec.SecurityState() }

func (c *securityController) propose(ctx context.Context, r *Request, cmd *security.Command) (*security.Result, error) {
	return propose(ctx, c.sec, c.clock, r, cmd)
}

func (c *securityController) roleView(id string) (any, bool) {
	role := c.st().Role(id)
	if role == nil {
		return nil, false
	}
	src := map[string]any{"controllers": role.Controllers}
	if role.Info != nil {
		src["_kuzzle_info"] = role.Info
	}
	return map[string]any{"_id": id, "_source": src}, true
}

func (c *securityController) profileView(id string) (any, bool) {
	p := c.st().Profile(id)
	if p == nil {
		return nil, false
	}
	src := map[string]any{"policies": p.Policies, "rateLimit": p.RateLimit}
	if p.Info != nil {
		src["_kuzzle_info"] = p.Info
	}
	return map[string]any{"_id": id, "_source": src}, true
}

func (c *securityController) userView(id string) (any, bool) {
	u := c.st().User(id)
	if u == nil || id == security.AnonymousID {
		return nil, false
	}
	return userView(id, u), true
}

// --- first admin ---

func (c *securityController) createFirstAdmin(ctx context.Context, r *Request) (any, error) {
	if c.st().AdminExists() {
		return nil, kerror.New("api.process.admin_exists")
	}
	reset, err := r.Bool("reset")
	if err != nil {
		return nil, err
	}
	kuid, u, err := c.userBody(r, false)
	if err != nil {
		return nil, err
	}
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpFirstAdmin, ID: kuid, User: u, Reset: reset}); err != nil {
		return nil, err
	}
	v, _ := c.userView(kuid)
	return v, nil
}

// userBody reads {content: {profileIds, ...}, credentials: {local: {...}}}
// and the optional _id (drawn when absent), hashing the password.
func (c *securityController) userBody(r *Request, requireProfiles bool) (string, *security.User, error) {
	kuid, err := r.OptString("_id")
	if err != nil {
		return "", nil, err
	}
	if kuid == "" {
		kuid = c.sec.NewID()
	}
	if err := checkID(kuid); err != nil {
		return "", nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return "", nil, err
	}
	u, err := parseUser(c.st(), kuid, body, requireProfiles)
	return kuid, u, err
}

// parseUser reads a user body ({content: {profileIds, ...}, credentials:
// {local: {username, password}}}), hashing the password.
func parseUser(st *security.State, kuid string, body map[string]any, requireProfiles bool) (*security.User, error) {
	content := map[string]any{}
	if raw, ok := body["content"]; ok && raw != nil {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.content", "object")
		}
		content = m
	}
	u, err := security.ParseUserContent(content, requireProfiles)
	if err != nil {
		return nil, err
	}
	if raw, ok := body["credentials"]; ok && raw != nil {
		creds, ok := raw.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.credentials", "object")
		}
		for name, v := range creds {
			if name != "local" {
				return nil, kerror.New("security.credentials.unknown_strategy", name)
			}
			lb, ok := v.(map[string]any)
			if !ok {
				return nil, kerror.New("api.assert.invalid_type", "body.credentials.local", "object")
			}
			if err := validateLocal(st, kuid, lb); err != nil {
				return nil, err
			}
			if u.Local, err = security.ParseLocal(lb, true); err != nil {
				return nil, err
			}
		}
	}
	return u, nil
}

// --- roles ---

func (c *securityController) putRole(mode security.Mode) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		force, err := r.Bool("force")
		if err != nil {
			return nil, err
		}
		return c.put(mode, c.roleView, func(id string, body map[string]any) (*security.Command, error) {
			role, err := security.ParseRole(id, body)
			if err != nil {
				return nil, err
			}
			if err := checkRole(c.routes, id, role, force); err != nil {
				return nil, err
			}
			return &security.Command{Op: security.OpPutRole, Role: role}, nil
		})(ctx, r)
	}
}

// checkRole refuses, as Kuzzle does, a role naming an action that a
// controller Korum serves does not have (also under "*"), and a
// controller Korum does not serve unless force is set: in Kuzzle, force
// lets a role name the API of a plugin not loaded yet.
func checkRole(routes roleRoutes, id string, role *security.Role, force bool) error {
	names := make([]string, 0, len(role.Controllers))
	for name := range role.Controllers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, ctrl := range names {
		known := ctrl == "*"
		if !known {
			known, _ = routes.actionExists(ctrl, "")
		}
		if !known {
			if force {
				continue
			}
			return kerror.New("security.role.unknown_controller", id, ctrl, "Use force to name a controller Korum does not serve.")
		}
		acts := make([]string, 0, len(role.Controllers[ctrl].Actions))
		for a := range role.Controllers[ctrl].Actions {
			acts = append(acts, a)
		}
		sort.Strings(acts)
		for _, a := range acts {
			if a == "*" {
				continue
			}
			ok := false
			if ctrl == "*" {
				for _, other := range routes.controllerNames() {
					if _, has := routes.actionExists(other, a); has {
						ok = true
						break
					}
				}
			} else {
				_, ok = routes.actionExists(ctrl, a)
			}
			if !ok {
				return kerror.New("security.role.unknown_action", id, a, ctrl, "")
			}
		}
	}
	return nil
}

// put creates or replaces, by mode, the object the body describes; build
// validates the body into a command.
func (c *securityController) put(mode security.Mode, view func(string) (any, bool), build func(id string, body map[string]any) (*security.Command, error)) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, body, err := idAndBody(r)
		if err != nil {
			return nil, err
		}
		cmd, err := build(id, body)
		if err != nil {
			return nil, err
		}
		cmd.ID, cmd.Mode = id, mode
		if _, err := c.propose(ctx, r, cmd); err != nil {
			return nil, err
		}
		v, _ := view(id)
		return v, nil
	}
}

// updateRole merges the body's controllers into the role's, as Kuzzle's
// updateRole does.
func (c *securityController) updateRole(ctx context.Context, r *Request) (any, error) {
	id, body, err := idAndBody(r)
	if err != nil {
		return nil, err
	}
	old := c.st().Role(id)
	if old == nil {
		return nil, kerror.New("security.role.not_found", id)
	}
	upd, err := security.ParseRole(id, body)
	if err != nil {
		return nil, err
	}
	force, err := r.Bool("force")
	if err != nil {
		return nil, err
	}
	if err := checkRole(c.routes, id, upd, force); err != nil {
		return nil, err
	}
	for name, acts := range upd.Controllers {
		old.Controllers[name] = acts
	}
	old.Info = nil
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpPutRole, ID: id, Mode: security.ModeReplace, Role: old}); err != nil {
		return nil, err
	}
	v, _ := c.roleView(id)
	return v, nil
}

// searchRoles filters by body.controllers: roles naming one of them (or
// "*"), as Kuzzle's.
func (c *securityController) searchRoles(ctx context.Context, r *Request) (any, error) {
	return c.searchBy(r, "roles", "controllers", c.roleView, func(id, want string) bool {
		role := c.st().Role(id)
		_, named := role.Controllers[want]
		_, all := role.Controllers["*"]
		return named || all
	})
}

// searchBy lists the objects of kind that match one of the strings of
// body[key] (all of them without it), paged with from and size.
func (c *securityController) searchBy(r *Request, kind, key string, view func(string) (any, bool), match func(id, want string) bool) (any, error) {
	body, err := r.OptBody()
	if err != nil {
		return nil, err
	}
	hits, err := c.collect(body, kind, key, view, match)
	if err != nil {
		return nil, err
	}
	return searchHits(r, map[string]any{}, hits, nil)
}

// collect lists the objects of kind that match one of the strings of
// body[key] (all of them without it).
func (c *securityController) collect(body map[string]any, kind, key string, view func(string) (any, bool), match func(id, want string) bool) ([]map[string]any, error) {
	var want []string
	if _, ok := body[key]; ok {
		var err error
		if want, err = BodyStrings(body, key); err != nil {
			return nil, err
		}
	}
	var hits []map[string]any
	for _, id := range c.st().IDs(kind) {
		found := len(want) == 0
		for _, w := range want {
			found = found || match(id, w)
		}
		if !found {
			continue
		}
		if v, ok := view(id); ok {
			hits = append(hits, v.(map[string]any))
		}
	}
	return hits, nil
}

// --- profiles ---

func (c *securityController) putProfile(mode security.Mode) Handler {
	return c.put(mode, c.profileView, func(id string, body map[string]any) (*security.Command, error) {
		p, err := security.ParseProfile(id, body)
		return &security.Command{Op: security.OpPutProfile, Profile: p}, err
	})
}

// searchProfiles filters by body.roles: profiles with a policy on one of
// them, as Kuzzle's.
// collectProfiles lists the profiles that use one of body.roles (all of
// them without it).
func (c *securityController) collectProfiles(body map[string]any) ([]map[string]any, error) {
	return c.collect(body, "profiles", "roles", c.profileView, func(id, want string) bool {
		for _, pol := range c.st().Profile(id).Policies {
			if pol.RoleID == want {
				return true
			}
		}
		return false
	})
}

func (c *securityController) getProfileRights(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if c.st().Profile(id) == nil {
		return nil, kerror.New("security.profile.not_found", id)
	}
	return map[string]any{"hits": c.st().ProfileRights(id)}, nil
}

// --- users ---

func (c *securityController) createUser(restricted bool) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		if restricted {
			if body, err := r.RequireBody(); err == nil {
				if content, ok := body["content"].(map[string]any); ok {
					if _, has := content["profileIds"]; has {
						return nil, kerror.New("api.assert.invalid_argument", "body.content.profileIds", "no profileIds (a restricted user gets the default profile)")
					}
				}
			}
		}
		kuid, u, err := c.userBody(r, !restricted)
		if err != nil {
			return nil, err
		}
		if restricted {
			// Kuzzle's security.restrictedProfileIds.
			u.ProfileIDs = []string{security.Default}
		}
		if _, err := c.propose(ctx, r, &security.Command{Op: security.OpPutUser, ID: kuid, Mode: security.ModeCreate, User: u}); err != nil {
			return nil, err
		}
		v, _ := c.userView(kuid)
		return v, nil
	}
}

func (c *securityController) replaceUser(ctx context.Context, r *Request) (any, error) {
	kuid, body, err := idAndBody(r)
	if err != nil {
		return nil, err
	}
	u, err := security.ParseUserContent(body, true)
	if err != nil {
		return nil, err
	}
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpPutUser, ID: kuid, Mode: security.ModeReplace, User: u}); err != nil {
		return nil, err
	}
	v, _ := c.userView(kuid)
	return v, nil
}

// updateUser merges the body into the user's content (and profileIds when
// given); upsert creates the user from body.default merged with the body.
func (c *securityController) updateUser(upsert bool) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		kuid, body, err := idAndBody(r)
		if err != nil {
			return nil, err
		}
		changes := body
		if upsert {
			if changes, err = BodyObject(body, "changes"); err != nil {
				return nil, err
			}
		}
		upd, err := security.ParseUserContent(changes, false)
		if err != nil {
			return nil, err
		}
		u := c.st().User(kuid)
		mode := security.ModeReplace
		if u == nil || kuid == security.AnonymousID {
			if !upsert {
				return nil, kerror.New("security.user.not_found", kuid)
			}
			mode = security.ModeCreate
			u = &security.User{Content: map[string]any{}}
			if d, ok := body["default"].(map[string]any); ok {
				du, err := security.ParseUserContent(d, false)
				if err != nil {
					return nil, err
				}
				u = du
			}
		}
		if u.Content == nil {
			u.Content = map[string]any{}
		}
		for k, v := range upd.Content {
			u.Content[k] = v
		}
		if len(upd.ProfileIDs) > 0 {
			u.ProfileIDs = upd.ProfileIDs
		}
		if len(u.ProfileIDs) == 0 {
			return nil, kerror.New("api.assert.missing_argument", "body.profileIds")
		}
		u.Local, u.Info = nil, nil
		if _, err := c.propose(ctx, r, &security.Command{Op: security.OpPutUser, ID: kuid, Mode: mode, User: u}); err != nil {
			return nil, err
		}
		v, _ := c.userView(kuid)
		return v, nil
	}
}

// searchUsers filters users by the body's query (document:search's DSL)
// on their content and profileIds.
// collectUsers lists every user; searchUsers' query selects among them.
func (c *securityController) collectUsers(map[string]any) ([]map[string]any, error) {
	var hits []map[string]any
	for _, id := range c.st().IDs("users") {
		v, _ := c.userView(id)
		hits = append(hits, v.(map[string]any))
	}
	return hits, nil
}

func (c *securityController) getUserRights(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	rights, ok := c.st().UserRights(id)
	if !ok {
		return nil, kerror.New("security.user.not_found", id)
	}
	return map[string]any{"hits": rights}, nil
}

func (c *securityController) getUserStrategies(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	u := c.st().User(id)
	if u == nil {
		return nil, kerror.New("security.user.not_found", id)
	}
	return map[string]any{"strategies": strategiesOf(u), "total": len(strategiesOf(u))}, nil
}

func (c *securityController) revokeTokens(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if c.st().User(id) == nil {
		return nil, kerror.New("security.user.not_found", id)
	}
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpRevokeAll, ID: id}); err != nil {
		return nil, err
	}
	return nil, nil
}

// --- shared by roles, profiles and users ---

func (c *securityController) get(view func(string) (any, bool), notFound string) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, err := r.String("_id")
		if err != nil {
			return nil, err
		}
		v, ok := view(id)
		if !ok {
			return nil, kerror.New(notFound, id)
		}
		return v, nil
	}
}

func (c *securityController) mGet(view func(string) (any, bool)) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		body, err := r.OptBody()
		if err != nil {
			return nil, err
		}
		var ids []string
		if _, ok := body["ids"]; ok {
			if ids, err = BodyStrings(body, "ids"); err != nil {
				return nil, err
			}
		} else if s, ok := r.Args["ids"].(string); ok && s != "" {
			ids = splitIDs(s)
		} else {
			return nil, kerror.New("api.assert.missing_argument", "body.ids")
		}
		hits := []any{}
		for _, id := range ids {
			if v, ok := view(id); ok {
				hits = append(hits, v)
			}
		}
		return map[string]any{"hits": hits, "total": len(hits)}, nil
	}
}

func splitIDs(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func (c *securityController) del(op security.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		id, err := r.String("_id")
		if err != nil {
			return nil, err
		}
		if _, err := c.propose(ctx, r, &security.Command{Op: op, ID: id}); err != nil {
			return nil, err
		}
		return map[string]any{"_id": id}, nil
	}
}

// mDelete deletes each id in turn and lists those deleted; a failure
// stops nothing, as Kuzzle's.
func (c *securityController) mDelete(op security.Op) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		body, err := r.RequireBody()
		if err != nil {
			return nil, err
		}
		ids, err := BodyStrings(body, "ids")
		if err != nil {
			return nil, err
		}
		if max := c.limits.DocumentsWrite; max > 0 && len(ids) > max {
			return nil, kerror.New("services.storage.write_limit_exceeded")
		}
		deleted := []string{}
		for _, id := range ids {
			if _, err := c.propose(ctx, r, &security.Command{Op: op, ID: id}); err == nil {
				deleted = append(deleted, id)
			} else if ke := kerror.From(err); ke.Status >= 500 {
				return nil, err
			}
		}
		return deleted, nil
	}
}

// --- credentials ---

func (c *securityController) setCredentials(mode security.Mode) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		if err := strategy(r); err != nil {
			return nil, err
		}
		kuid, body, err := idAndBody(r)
		if err != nil {
			return nil, err
		}
		if c.st().User(kuid) == nil || kuid == security.AnonymousID {
			return nil, kerror.New("security.user.not_found", kuid)
		}
		l, err := localBody(c.st(), kuid, body, mode)
		if err != nil {
			return nil, err
		}
		// Credentials changed by an administrator revoke the user's
		// tokens: whoever held them must log in again.
		if _, err := c.propose(ctx, r, &security.Command{Op: security.OpSetLocal, ID: kuid, Mode: mode, Local: l, Revoke: true}); err != nil {
			return nil, err
		}
		return map[string]any{"username": l.Username, "kuid": kuid}, nil
	}
}

func (c *securityController) deleteCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	kuid, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpSetLocal, ID: kuid, Mode: security.ModeDelete, Revoke: true}); err != nil {
		return nil, err
	}
	return map[string]any{"acknowledged": true}, nil
}

func (c *securityController) localOf(r *Request) (string, *security.Local, error) {
	if err := strategy(r); err != nil {
		return "", nil, err
	}
	kuid, err := r.String("_id")
	if err != nil {
		return "", nil, err
	}
	u := c.st().User(kuid)
	if u == nil {
		return "", nil, kerror.New("security.user.not_found", kuid)
	}
	return kuid, u.Local, nil
}

func (c *securityController) getCredentials(ctx context.Context, r *Request) (any, error) {
	kuid, l, err := c.localOf(r)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return map[string]any{}, nil
	}
	return map[string]any{"username": l.Username, "kuid": kuid}, nil
}

// searchUsersByCredentials runs a query (the DSL of document:search) over
// the local strategy's credentials, {kuid, username}, as Kuzzle's local
// strategy plugin does. The query may be the body's "query" or the body
// itself, the two shapes Kuzzle's documentation shows.
func (c *securityController) searchUsersByCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	body, err := r.OptBody()
	if err != nil {
		return nil, err
	}
	if _, ok := body["query"]; !ok && len(body) > 0 {
		body = map[string]any{"query": body}
	}
	st := c.st()
	var creds []map[string]any
	for _, kuid := range st.IDs("users") {
		if u := st.User(kuid); u != nil && u.Local != nil {
			creds = append(creds, map[string]any{"_id": kuid, "_source": map[string]any{"kuid": kuid, "username": u.Local.Username}})
		}
	}
	res, err := searchHits(r, body, creds, nil)
	if err != nil {
		return nil, err
	}
	out := res.(map[string]any)
	page := out["hits"].([]map[string]any)
	hits := make([]any, len(page))
	for i, h := range page {
		hits[i] = h["_source"]
	}
	out["hits"] = hits
	return out, nil
}

// getCredentialsById: the local strategy's credentials id is the username;
// the _id argument is that username.
func (c *securityController) getCredentialsByID(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	username, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	kuid, _ := c.st().UserByUsername(username)
	if kuid == "" {
		return map[string]any{}, nil
	}
	return map[string]any{"username": username, "kuid": kuid}, nil
}

func (c *securityController) hasCredentials(ctx context.Context, r *Request) (any, error) {
	_, l, err := c.localOf(r)
	if err != nil {
		return nil, err
	}
	return l != nil, nil
}

func (c *securityController) validateCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	kuid, body, err := idAndBody(r)
	if err != nil {
		return nil, err
	}
	if err := validateLocal(c.st(), kuid, body); err != nil {
		return nil, err
	}
	return true, nil
}

func (c *securityController) getCredentialFields(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	return localFields, nil
}

// --- API keys and rights of other users ---

func (c *securityController) targetUser(r *Request) (string, error) {
	kuid, err := r.String("userId")
	if err != nil {
		return "", err
	}
	if c.st().User(kuid) == nil || kuid == security.AnonymousID {
		return "", kerror.New("security.user.not_found", kuid)
	}
	return kuid, nil
}

func (c *securityController) createAPIKey(ctx context.Context, r *Request) (any, error) {
	kuid, err := c.targetUser(r)
	if err != nil {
		return nil, err
	}
	return createAPIKey(ctx, c.sec, c.clock, r, kuid)
}

func (c *securityController) searchAPIKeys(ctx context.Context, r *Request) (any, error) {
	kuid, err := c.targetUser(r)
	if err != nil {
		return nil, err
	}
	return searchAPIKeys(c.sec, r, kuid)
}

func (c *securityController) deleteAPIKey(ctx context.Context, r *Request) (any, error) {
	kuid, err := r.String("userId")
	if err != nil {
		return nil, err
	}
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if _, err := c.propose(ctx, r, &security.Command{Op: security.OpDeleteAPIKey, ID: kuid, KeyID: id}); err != nil {
		return nil, err
	}
	return map[string]any{"_id": id}, nil
}

func (c *securityController) checkRights(ctx context.Context, r *Request) (any, error) {
	kuid, err := c.targetUser(r)
	if err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	return rightsOf(c.st(), kuid, body)
}

// idAndBody reads the _id argument and the required body most security
// actions take.
func idAndBody(r *Request) (string, map[string]any, error) {
	id, err := r.String("_id")
	if err != nil {
		return "", nil, err
	}
	body, err := r.RequireBody()
	return id, body, err
}
