package security

import (
	"encoding/json"

	"github.com/korumdb/korum/kerror"
)

// Op names a security change.
type Op string

const (
	OpInit          Op = "init"          // only sets the secret
	OpPutRole       Op = "role"          // Role under ID, by Mode
	OpDeleteRole    Op = "role-"         // ID
	OpPutProfile    Op = "profile"       // Profile under ID, by Mode
	OpDeleteProfile Op = "profile-"      // ID
	OpPutUser       Op = "user"          // User under ID, by Mode
	OpDeleteUser    Op = "user-"         // ID
	OpSetLocal      Op = "local"         // Local credentials of ID, by Mode (nil Local with ModeDelete: removed)
	OpRevoke        Op = "revoke"        // TokenID, until Expires
	OpRevokeAll     Op = "revokeAll"     // every token of user ID
	OpPutAPIKey     Op = "apiKey"        // APIKey under ID (KeyID)
	OpDeleteAPIKey  Op = "apiKey-"       // KeyID of user ID
	OpFirstAdmin    Op = "firstAdmin"    // User under ID with the admin profile, Reset
	OpReset         Op = "resetSecurity" // everything back to a fresh install
	OpLoad          Op = "load"          // Roles, Profiles and Users at once (admin:loadSecurities), OnExisting users
	// OpUpdateMapping sets the mapping of internal collection ID (users,
	// profiles, roles) to Mapping if it is still at revision Rev
	// (mapping.go). Newer than the other ops: a node proposes it only once
	// the cluster's feature version allows it (fsm.OpVersion).
	OpUpdateMapping Op = "mapping"
)

// Mode says what a put requires of the existing object.
type Mode string

const (
	ModeCreate  Mode = "create"  // must not exist
	ModeReplace Mode = "replace" // must exist
	ModeUpsert  Mode = "upsert"  // either
	ModeDelete  Mode = "delete"  // for OpSetLocal: must exist, removed
)

// Command is one security change, complete: Apply draws nothing itself.
type Command struct {
	Op      Op       `json:"op"`
	ID      string   `json:"id,omitempty"`
	Mode    Mode     `json:"mode,omitempty"`
	Role    *Role    `json:"role,omitempty"`
	Profile *Profile `json:"profile,omitempty"`
	User    *User    `json:"user,omitempty"`
	Local   *Local   `json:"local,omitempty"`
	APIKey  *APIKey  `json:"apiKey,omitempty"`
	KeyID   string   `json:"keyId,omitempty"`
	TokenID string   `json:"tokenId,omitempty"`
	Expires int64    `json:"expires,omitempty"`
	// At is when a revoked token stops being accepted (0: Now).
	At    int64 `json:"at,omitempty"`
	Reset bool  `json:"reset,omitempty"`
	// Revoke, on a credentials change, also revokes the user's tokens.
	Revoke bool `json:"revoke,omitempty"`
	// Now is the proposer's clock (ms): metadata and pruning of expired
	// revocations use it, never the replica's.
	Now int64 `json:"now"`
	// Author is the kuid of the requester, for _kuzzle_info.
	Author string `json:"author,omitempty"`
	// Secret is set by a proposer that saw no secret in its state: the
	// first one applied is kept.
	Secret string `json:"secret,omitempty"`
	// Roles, Profiles and Users are OpLoad's objects by id; OnExisting
	// says what to do of users that exist: "fail" (nothing is loaded),
	// "skip" or "overwrite".
	Roles      map[string]*Role    `json:"roles,omitempty"`
	Profiles   map[string]*Profile `json:"profiles,omitempty"`
	Users      map[string]*User    `json:"users,omitempty"`
	OnExisting string              `json:"onExisting,omitempty"`
	// Mapping and Rev are OpUpdateMapping's merged mapping and the
	// revision it was merged into.
	Mapping map[string]any `json:"mapping,omitempty"`
	Rev     uint64         `json:"rev,omitempty"`
}

// Result is what applying a command returns to its proposer.
type Result struct {
	Err *kerror.Error `json:"err,omitempty"`
	// Created says an upsert created its object.
	Created bool `json:"created,omitempty"`
	// Stale says an OpUpdateMapping was merged into a mapping that changed
	// since: nothing was stored, the proposer merges again.
	Stale bool `json:"stale,omitempty"`
}

// Encode returns the result as JSON for the fsm's response.
func (r *Result) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

func fail(id string, args ...string) *Result { return &Result{Err: kerror.New(id, args...)} }

// Apply applies a command. It is deterministic: the same state and command
// give the same state and result on every replica.
func (s *State) Apply(c *Command) *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.locked = s.adminExists() }()
	s.appliedNow = max(s.appliedNow, c.Now)
	d := &s.d
	if d.Secret == "" && c.Secret != "" {
		d.Secret = c.Secret
	}
	// Forget revocations of tokens that have expired anyway, by the
	// proposer's clock, so the set stays bounded.
	for id, rev := range d.Revoked {
		if rev.Exp < c.Now {
			delete(d.Revoked, id)
		}
	}
	switch c.Op {
	case OpInit:
		return &Result{}
	case OpPutRole:
		if c.Role == nil {
			return fail("api.assert.body_required")
		}
		old := d.Roles[c.ID]
		if r := modeCheck(c.Mode, old != nil, "services.storage.document_already_exists", "security.role.not_found", c.ID); r != nil {
			return r
		}
		role := *c.Role
		role.Info = stamp(infoOfRole(old), c)
		d.Roles[c.ID] = &role
		return &Result{Created: old == nil}
	case OpDeleteRole:
		if protected(c.ID) {
			return fail("security.role.cannot_delete")
		}
		if d.Roles[c.ID] == nil {
			return fail("security.role.not_found", c.ID)
		}
		for _, p := range sortedProfiles(d) {
			for _, pol := range d.Profiles[p].Policies {
				if pol.RoleID == c.ID {
					return fail("security.role.in_use", c.ID)
				}
			}
		}
		delete(d.Roles, c.ID)
		return &Result{}
	case OpPutProfile:
		if c.Profile == nil {
			return fail("api.assert.body_required")
		}
		old := d.Profiles[c.ID]
		if r := modeCheck(c.Mode, old != nil, "services.storage.document_already_exists", "security.profile.not_found", c.ID); r != nil {
			return r
		}
		for _, pol := range c.Profile.Policies {
			if d.Roles[pol.RoleID] == nil {
				return fail("security.role.not_found", pol.RoleID)
			}
		}
		p := *c.Profile
		var oldInfo *Info
		if old != nil {
			oldInfo = old.Info
		}
		p.Info = stamp(oldInfo, c)
		d.Profiles[c.ID] = &p
		return &Result{Created: old == nil}
	case OpDeleteProfile:
		if protected(c.ID) {
			return fail("security.profile.cannot_delete")
		}
		if d.Profiles[c.ID] == nil {
			return fail("security.profile.not_found", c.ID)
		}
		for _, id := range keys(d.Users) {
			for _, p := range d.Users[id].ProfileIDs {
				if p == c.ID {
					return fail("security.profile.in_use", c.ID)
				}
			}
		}
		delete(d.Profiles, c.ID)
		return &Result{}
	case OpPutUser:
		return s.putUser(c, c.ID, c.User, c.Mode)
	case OpFirstAdmin:
		if s.adminExists() {
			return fail("api.process.admin_exists")
		}
		if c.User == nil {
			return fail("api.assert.body_required")
		}
		u := *c.User
		u.ProfileIDs = []string{Admin}
		if r := s.putUser(c, c.ID, &u, ModeCreate); r.Err != nil {
			return r
		}
		if c.Reset {
			d.Roles[Default] = standardDefault()
			d.Roles[Anonymous] = standardAnonymous()
		}
		return &Result{Created: true}
	case OpDeleteUser:
		if d.Users[c.ID] == nil {
			return fail("security.user.not_found", c.ID)
		}
		delete(d.Users, c.ID)
		d.Gens[c.ID]++
		for _, k := range keys(d.APIKeys) {
			if d.APIKeys[k].UserID == c.ID {
				delete(d.APIKeys, k)
			}
		}
		return &Result{}
	case OpSetLocal:
		u := d.Users[c.ID]
		if u == nil {
			return fail("security.user.not_found", c.ID)
		}
		switch c.Mode {
		case ModeCreate:
			if u.Local != nil {
				return fail("security.credentials.rejected", "credentials already exist for this user")
			}
		case ModeReplace, ModeDelete:
			if u.Local == nil {
				return fail("security.credentials.rejected", "this user has no credentials for strategy local")
			}
		}
		var l *Local
		if c.Mode != ModeDelete {
			if c.Local == nil {
				return fail("api.assert.body_required")
			}
			if id, _ := s.byUsername(c.Local.Username); id != "" && id != c.ID {
				return fail("security.credentials.rejected", "a user already has this username")
			}
			cp := *c.Local
			if cp.Hash == "" && u.Local != nil {
				cp.Hash = u.Local.Hash // a username change keeps the password
			}
			l = &cp
		}
		nu := *u
		nu.Local = l
		d.Users[c.ID] = &nu
		if c.Revoke {
			d.Gens[c.ID]++
		}
		return &Result{}
	case OpRevoke:
		if c.TokenID == "" {
			return fail("api.assert.missing_argument", "tokenId")
		}
		at := c.At
		if at == 0 {
			at = c.Now
		}
		d.Revoked[c.TokenID] = Revocation{At: at, Exp: c.Expires}
		return &Result{}
	case OpRevokeAll:
		d.Gens[c.ID]++
		return &Result{}
	case OpPutAPIKey:
		if c.APIKey == nil || c.KeyID == "" {
			return fail("api.assert.body_required")
		}
		if c.APIKey.UserID != AnonymousID && d.Users[c.APIKey.UserID] == nil {
			return fail("security.user.not_found", c.APIKey.UserID)
		}
		if d.APIKeys[c.KeyID] != nil {
			return fail("services.storage.document_already_exists")
		}
		k := *c.APIKey
		d.APIKeys[c.KeyID] = &k
		return &Result{Created: true}
	case OpDeleteAPIKey:
		k := d.APIKeys[c.KeyID]
		if k == nil || k.UserID != c.ID {
			return fail("services.storage.not_found", c.KeyID, "kuzzle", "api-keys")
		}
		delete(d.APIKeys, c.KeyID)
		return &Result{}
	case OpLoad:
		return s.load(c)
	case OpUpdateMapping:
		return s.applyMapping(c)
	case OpReset:
		// The internal collections' mappings stay, as Kuzzle's
		// resetSecurity empties the collections without recreating them.
		secret, gens, mappings := d.Secret, d.Gens, d.Mappings
		*d = freshData()
		d.Secret, d.Mappings = secret, mappings
		// Every user is gone: their tokens must not come back with a
		// recreated user of the same kuid (putUser records a generation
		// for every user it creates).
		for id, g := range gens {
			d.Gens[id] = g + 1
		}
		return &Result{}
	}
	return fail("core.fatal.assertion_failed", "unknown security command "+string(c.Op))
}

// load applies admin:loadSecurities all or nothing: every reference is
// checked against the state plus the loaded objects before anything
// changes.
func (s *State) load(c *Command) *Result {
	d := &s.d
	// Any command that decodes must apply without panicking, the same way
	// everywhere: a null object is refused, not dereferenced.
	for _, r := range c.Roles {
		if r == nil {
			return fail("api.assert.body_required")
		}
	}
	for _, p := range c.Profiles {
		if p == nil {
			return fail("api.assert.body_required")
		}
	}
	for _, u := range c.Users {
		if u == nil {
			return fail("api.assert.body_required")
		}
	}
	for _, id := range keys(c.Profiles) {
		for _, pol := range c.Profiles[id].Policies {
			if d.Roles[pol.RoleID] == nil && c.Roles[pol.RoleID] == nil {
				return fail("security.role.not_found", pol.RoleID)
			}
		}
	}
	users := map[string]*User{}
	names := map[string]string{}
	for _, id := range keys(c.Users) {
		if l := c.Users[id].Local; l != nil {
			if other, dup := names[l.Username]; dup {
				return fail("security.credentials.rejected", "users "+other+" and "+id+" have the same username")
			}
			names[l.Username] = id
		}
	}
	for _, id := range keys(c.Users) {
		u := c.Users[id]
		if id == AnonymousID {
			return fail("security.user.anonymous_profile_required")
		}
		if d.Users[id] != nil {
			switch c.OnExisting {
			case "skip":
				continue
			case "overwrite":
			default:
				return fail("security.user.already_exists", id)
			}
		}
		for _, p := range u.ProfileIDs {
			if d.Profiles[p] == nil && c.Profiles[p] == nil {
				return fail("security.profile.not_found", p)
			}
		}
		if u.Local != nil {
			if other, _ := s.byUsername(u.Local.Username); other != "" && other != id && c.Users[other] == nil {
				return fail("security.credentials.rejected", "a user already has this username")
			}
		}
		users[id] = u
	}
	for _, id := range keys(c.Roles) {
		r := *c.Roles[id]
		r.Info = stamp(infoOfRole(d.Roles[id]), c)
		d.Roles[id] = &r
	}
	for _, id := range keys(c.Profiles) {
		p := *c.Profiles[id]
		var old *Info
		if o := d.Profiles[id]; o != nil {
			old = o.Info
		}
		p.Info = stamp(old, c)
		d.Profiles[id] = &p
	}
	for _, id := range keys(users) {
		u := *users[id]
		var old *Info
		if o := d.Users[id]; o != nil {
			old = o.Info
			d.Gens[id]++ // an overwritten user's tokens die with it
		} else if _, seen := d.Gens[id]; !seen {
			d.Gens[id] = 0
		}
		u.Info = stamp(old, c)
		d.Users[id] = &u
	}
	return &Result{}
}

func (s *State) putUser(c *Command, id string, nu *User, mode Mode) *Result {
	d := &s.d
	if nu == nil {
		return fail("api.assert.body_required")
	}
	if id == AnonymousID {
		return fail("security.user.anonymous_profile_required")
	}
	old := d.Users[id]
	if r := modeCheck(mode, old != nil, "security.user.already_exists", "security.user.not_found", id); r != nil {
		return r
	}
	for _, p := range nu.ProfileIDs {
		if d.Profiles[p] == nil {
			return fail("security.profile.not_found", p)
		}
	}
	u := *nu
	if u.Local == nil && old != nil {
		u.Local = old.Local // a replace keeps the credentials
	}
	if u.Local != nil {
		if other, _ := s.byUsername(u.Local.Username); other != "" && other != id {
			return fail("security.credentials.rejected", "a user already has this username")
		}
	}
	var oldInfo *Info
	if old != nil {
		oldInfo = old.Info
	} else {
		// A kuid reused after a deletion: its old tokens stay dead.
		if _, seen := d.Gens[id]; !seen {
			d.Gens[id] = 0
		}
	}
	u.Info = stamp(oldInfo, c)
	d.Users[id] = &u
	return &Result{Created: old == nil}
}

func modeCheck(m Mode, exists bool, existsID, missingID, id string) *Result {
	switch m {
	case ModeCreate:
		if exists {
			if existsID == "services.storage.document_already_exists" {
				return fail(existsID) // Kuzzle's message names no id
			}
			return fail(existsID, id)
		}
	case ModeReplace:
		if !exists {
			return fail(missingID, id)
		}
	}
	return nil
}

func infoOfRole(r *Role) *Info {
	if r == nil {
		return nil
	}
	return r.Info
}

// stamp returns the metadata of an object created or updated by c.
func stamp(old *Info, c *Command) *Info {
	author := c.Author
	if author == "" {
		author = AnonymousID
	}
	if old == nil {
		return &Info{Author: author, CreatedAt: c.Now}
	}
	now := c.Now
	return &Info{Author: old.Author, CreatedAt: old.CreatedAt, Updater: &author, UpdatedAt: &now}
}

func protected(id string) bool { return id == Admin || id == Default || id == Anonymous }

func sortedProfiles(d *data) []string { return keys(d.Profiles) }
