package security

import (
	"encoding/json"
	"sort"
	"sync"
)

// AnonymousID is the kuid of the anonymous user, as Kuzzle's.
const AnonymousID = "-1"

// The protected roles and profiles Kuzzle creates at installation.
const (
	Admin     = "admin"
	Default   = "default"
	Anonymous = "anonymous"
)

// Actions is a controller's rights: action name (or "*") → allowed.
type Actions struct {
	Actions map[string]bool `json:"actions"`
}

// Role maps controllers (or "*") to their actions' rights.
type Role struct {
	Controllers map[string]Actions `json:"controllers"`
	Info        *Info              `json:"_kuzzle_info,omitempty"`
}

// Restriction limits a policy to an index and, optionally, some of its
// collections. Collections are kept sorted.
type Restriction struct {
	Index       string   `json:"index"`
	Collections []string `json:"collections,omitempty"`
}

// Policy grants a role, possibly only on some indexes and collections.
type Policy struct {
	RoleID       string        `json:"roleId"`
	RestrictedTo []Restriction `json:"restrictedTo,omitempty"`
}

// Profile is a set of policies.
type Profile struct {
	Policies  []Policy `json:"policies"`
	RateLimit int      `json:"rateLimit"`
	Info      *Info    `json:"_kuzzle_info,omitempty"`
}

// Info is Kuzzle's _kuzzle_info metadata, stamped by the proposer.
type Info struct {
	Author    string  `json:"author"`
	CreatedAt int64   `json:"createdAt"`
	Updater   *string `json:"updater"`
	UpdatedAt *int64  `json:"updatedAt"`
}

// Local is a user's credentials for the "local" strategy. Hash is a bcrypt
// hash (its salt is inside): it never leaves the package in a response.
type Local struct {
	Username string `json:"username"`
	Hash     string `json:"hash"`
}

// User is a Kuzzle user.
type User struct {
	ProfileIDs []string       `json:"profileIds"`
	Content    map[string]any `json:"content,omitempty"`
	Local      *Local         `json:"local,omitempty"`
	Info       *Info          `json:"_kuzzle_info,omitempty"`
}

// APIKey is a long-lived token's record: deleting it revokes the token.
type APIKey struct {
	UserID      string `json:"userId"`
	Description string `json:"description"`
	ExpiresAt   int64  `json:"expiresAt"` // ms, -1: never
	TTL         int64  `json:"ttl"`       // ms, -1: never
	Token       string `json:"token,omitempty"`
	CreatedAt   int64  `json:"createdAt"`
}

// Revocation is a revoked token: refused from At (ms; later than the
// revocation when a refreshed token keeps a grace period), forgotten
// after Exp, when it is refused as expired anyway.
type Revocation struct {
	At  int64 `json:"at"`
	Exp int64 `json:"exp"`
}

// data is the replicated state proper; State adds its lock.
type data struct {
	Roles    map[string]*Role    `json:"roles"`
	Profiles map[string]*Profile `json:"profiles"`
	Users    map[string]*User    `json:"users"`
	// Gens is each user's token generation: a token carries the one it was
	// issued under and is refused once it changed. Kept after a user is
	// deleted, so that recreating it does not revive its old tokens.
	Gens map[string]uint64 `json:"gens"`
	// Revoked maps revoked token ids to when they stop being accepted,
	// kept until they expire anyway.
	Revoked map[string]Revocation `json:"revoked"`
	APIKeys map[string]*APIKey    `json:"apiKeys"`
	// Secret signs tokens unless the node is configured with one.
	Secret string `json:"secret,omitempty"`
	// Mappings holds the internal collections' mappings once updated
	// (mapping.go). Omitted while empty, so that a state that never had
	// one encodes exactly as format version 1 did.
	Mappings map[string]*StoredMapping `json:"mappings,omitempty"`
}

// State is the security state of a replica. Apply is called by the state
// machine, in log order; the rest may be called concurrently.
type State struct {
	mu sync.RWMutex
	d  data
	// verified caches token verifications (token.go); not replicated.
	verified tokenCache
	// locked caches adminExists, derived from d after every change, so
	// the per-request rate limit check does not scan the users.
	locked bool
	// appliedNow is the latest proposer time among the commands applied
	// (after a restore: the latest revocation time, which errs towards
	// refusing). A revocation that took effect by the proposer's clock
	// (a logout) is then in effect here whatever this node's clock says.
	appliedNow int64
}

// NewState returns a fresh Kuzzle's security: the three protected roles
// allowing everything, the three protected profiles, no user.
func NewState() *State {
	return &State{d: freshData()}
}

func freshData() data {
	d := data{Roles: map[string]*Role{}, Profiles: map[string]*Profile{}, Users: map[string]*User{},
		Gens: map[string]uint64{}, Revoked: map[string]Revocation{}, APIKeys: map[string]*APIKey{}}
	resetDefaults(&d, false)
	return d
}

// resetDefaults puts back the protected roles and profiles. restricted
// gives default and anonymous Kuzzle's standard restricted roles (what
// createFirstAdmin with reset does); otherwise every role allows all, as a
// fresh Kuzzle.
func resetDefaults(d *data, restricted bool) {
	d.Roles[Admin] = allowAll()
	if restricted {
		d.Roles[Default] = standardDefault()
		d.Roles[Anonymous] = standardAnonymous()
	} else {
		d.Roles[Default] = allowAll()
		d.Roles[Anonymous] = allowAll()
	}
	// Kuzzle's standard profiles and their rate limits.
	d.Profiles[Admin] = &Profile{Policies: []Policy{{RoleID: Admin}}}
	d.Profiles[Default] = &Profile{Policies: []Policy{{RoleID: Default}}, RateLimit: 10}
	d.Profiles[Anonymous] = &Profile{Policies: []Policy{{RoleID: Anonymous}}, RateLimit: 200}
}

func allowAll() *Role {
	return &Role{Controllers: map[string]Actions{"*": {Actions: map[string]bool{"*": true}}}}
}

// standardDefault is Kuzzle's security.standard.roles.default.
func standardDefault() *Role {
	return &Role{Controllers: map[string]Actions{
		"auth":   {Actions: map[string]bool{"checkToken": true, "getCurrentUser": true, "getMyRights": true, "logout": true, "updateSelf": true}},
		"server": {Actions: map[string]bool{"publicApi": true}},
	}}
}

// standardAnonymous is Kuzzle's security.standard.roles.anonymous.
func standardAnonymous() *Role {
	return &Role{Controllers: map[string]Actions{
		"auth":   {Actions: map[string]bool{"checkToken": true, "getCurrentUser": true, "getMyRights": true, "login": true}},
		"server": {Actions: map[string]bool{"publicApi": true, "openapi": true}},
	}}
}

// MarshalJSON encodes the state for a snapshot; encoding/json sorts map
// keys, so every replica writes the same bytes for the same state.
func (s *State) MarshalJSON() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(&s.d)
}

// UnmarshalJSON decodes a snapshot's state. Missing maps are made empty
// and missing protected roles and profiles put back.
func (s *State) UnmarshalJSON(b []byte) error {
	var d data
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	fill(&d)
	s.mu.Lock()
	s.d = d
	s.locked = s.adminExists()
	s.appliedNow = latestRevocation(&d)
	s.mu.Unlock()
	return nil
}

func latestRevocation(d *data) int64 {
	var m int64
	for _, r := range d.Revoked {
		m = max(m, r.At)
	}
	return m
}

func fill(d *data) {
	if d.Roles == nil {
		d.Roles = map[string]*Role{}
	}
	if d.Profiles == nil {
		d.Profiles = map[string]*Profile{}
	}
	if d.Users == nil {
		d.Users = map[string]*User{}
	}
	if d.Gens == nil {
		d.Gens = map[string]uint64{}
	}
	if d.Revoked == nil {
		d.Revoked = map[string]Revocation{}
	}
	if d.APIKeys == nil {
		d.APIKeys = map[string]*APIKey{}
	}
	for _, id := range []string{Admin, Default, Anonymous} {
		if d.Roles[id] == nil {
			d.Roles[id] = allowAll()
		}
		if d.Profiles[id] == nil {
			d.Profiles[id] = &Profile{Policies: []Policy{{RoleID: id}}}
		}
	}
}

// Replace makes s hold o's state (a snapshot restored): whoever holds s
// sees the restored state without learning of a new pointer.
func (s *State) Replace(o *State) {
	o.mu.RLock()
	d := o.d
	o.mu.RUnlock()
	s.mu.Lock()
	s.d = d
	s.locked = s.adminExists()
	s.appliedNow = latestRevocation(&d)
	s.mu.Unlock()
}

// Secret returns the replicated signing secret ("" until one was set).
func (s *State) Secret() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Secret
}

// Role returns a copy of a role, or nil.
func (s *State) Role(id string) *Role {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneJSON(s.d.Roles[id])
}

// Profile returns a copy of a profile, or nil.
func (s *State) Profile(id string) *Profile {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneJSON(s.d.Profiles[id])
}

// User returns a copy of a user, or nil. The anonymous user exists always.
func (s *State) User(id string) *User {
	if id == AnonymousID {
		return &User{ProfileIDs: []string{Anonymous}}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneJSON(s.d.Users[id])
}

// APIKey returns a copy of an API key, or nil.
func (s *State) APIKey(id string) *APIKey {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return cloneJSON(s.d.APIKeys[id])
}

// UserByUsername returns the kuid whose local credentials have this
// username, or "".
func (s *State) UserByUsername(username string) (string, *User) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byUsername(username)
}

func (s *State) byUsername(username string) (string, *User) {
	for id, u := range s.d.Users {
		if u.Local != nil && u.Local.Username == username {
			return id, cloneJSON(u)
		}
	}
	return "", nil
}

// Gen returns a user's current token generation.
func (s *State) Gen(kuid string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Gens[kuid]
}

// IDs lists the ids of one kind ("roles", "profiles", "users", "apiKeys"),
// sorted.
func (s *State) IDs(kind string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	switch kind {
	case "roles":
		out = keys(s.d.Roles)
	case "profiles":
		out = keys(s.d.Profiles)
	case "users":
		out = keys(s.d.Users)
	case "apiKeys":
		out = keys(s.d.APIKeys)
	}
	return out
}

// LockedDown reports whether an administrator exists (cached: no scan).
func (s *State) LockedDown() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.locked
}

// AdminExists reports whether a user holds the admin profile.
func (s *State) AdminExists() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.adminExists()
}

func (s *State) adminExists() bool {
	for _, u := range s.d.Users {
		for _, p := range u.ProfileIDs {
			if p == Admin {
				return true
			}
		}
	}
	return false
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// cloneJSON deep-copies through JSON: state objects hold maps and slices
// that callers must not share with the replicated state.
func cloneJSON[T any](v *T) *T {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	out := new(T)
	if json.Unmarshal(b, out) != nil {
		return nil
	}
	return out
}
