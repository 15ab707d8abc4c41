package security

import (
	"sort"

	"github.com/korumdb/korum/kerror"
)

// Identity is who a request comes from, as Authenticate established it.
type Identity struct {
	UserID string
	// Token fields; empty for the anonymous user without a token.
	TokenID   string
	ExpiresAt int64 // ms
	APIKeyID  string
	JWT       string
}

// Anonymous reports an unauthenticated request.
func (id *Identity) Anonymous() bool { return id == nil || id.UserID == AnonymousID }

// allows is Kuzzle's Role.isActionAllowed: the controller's own entry if
// there is one, else "*"; in it, the action's own entry, else "*"; the
// value must be true. An explicit controller entry hides "*" entirely.
func (r *Role) allows(controller, action string) bool {
	if r == nil {
		return false
	}
	ca, ok := r.Controllers[controller]
	if !ok {
		if ca, ok = r.Controllers["*"]; !ok {
			return false
		}
	}
	v, ok := ca.Actions[action]
	if !ok {
		v = ca.Actions["*"]
	}
	return v
}

// restrictionsAllow is Kuzzle's Role.checkRestrictions: no restrictions,
// or an action without an index, pass; otherwise the index must be listed,
// and the collection too when the restriction lists collections.
func restrictionsAllow(rs []Restriction, index, collection string) bool {
	if len(rs) == 0 || index == "" {
		return true
	}
	for _, r := range rs {
		if r.Index != index {
			continue
		}
		if len(r.Collections) == 0 {
			return true
		}
		i := sort.SearchStrings(r.Collections, collection)
		if i < len(r.Collections) && r.Collections[i] == collection {
			return true
		}
	}
	return false
}

// Allowed reports whether the user may run controller:action on the
// index and collection ("" when the request names none): a whitelist, any
// policy of any of the user's profiles that allows it is enough.
func (s *State) Allowed(userID, controller, action, index, collection string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.allowed(userID, controller, action, index, collection)
}

func (s *State) allowed(userID, controller, action, index, collection string) bool {
	for _, pid := range s.profileIDs(userID) {
		p := s.d.Profiles[pid]
		if p == nil {
			continue
		}
		for _, pol := range p.Policies {
			if s.d.Roles[pol.RoleID].allows(controller, action) && restrictionsAllow(pol.RestrictedTo, index, collection) {
				return true
			}
		}
	}
	return false
}

var anonymousProfiles = []string{Anonymous}

func (s *State) profileIDs(userID string) []string {
	if userID == AnonymousID {
		return anonymousProfiles
	}
	if u := s.d.Users[userID]; u != nil {
		return u.ProfileIDs
	}
	return nil
}

// RateLimit is the number of requests per second one node serves userID
// (0: no limit), by Kuzzle's rule: the highest rateLimit of the user's
// profiles, unless one of them has none. Korum applies it only once an
// administrator exists: a node still open to anonymous (development) is
// not throttled, where Kuzzle limits anonymous to its profile's 200/s.
func (s *State) RateLimit(userID string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.locked {
		return 0
	}
	limit := -1
	for _, pid := range s.profileIDs(userID) {
		p := s.d.Profiles[pid]
		if p == nil {
			continue
		}
		if p.RateLimit == 0 || limit == 0 {
			limit = 0
			continue
		}
		limit = max(limit, p.RateLimit)
	}
	return max(limit, 0)
}

// Check is Allowed as the API answers it: nil, or Kuzzle's unauthorized
// for the anonymous user (logging in may help) and forbidden for others.
func (s *State) Check(id *Identity, controller, action, index, collection string) error {
	user := AnonymousID
	if id != nil {
		user = id.UserID
	}
	if s.Allowed(user, controller, action, index, collection) {
		return nil
	}
	if user == AnonymousID {
		return kerror.New("security.rights.unauthorized")
	}
	return kerror.New("security.rights.forbidden")
}

// Right is one line of getMyRights / getUserRights / getProfileRights.
type Right struct {
	Controller string `json:"controller"`
	Action     string `json:"action"`
	Index      string `json:"index"`
	Collection string `json:"collection"`
	Value      string `json:"value"`
}

// ProfileRights lists a profile's rights as Kuzzle does: one line per
// controller, action, index and collection of its policies; a line allowed
// by one policy is allowed.
func (s *State) ProfileRights(profileIDs ...string) []Right {
	s.mu.RLock()
	defer s.mu.RUnlock()
	type key struct{ c, a, i, col string }
	merged := map[key]bool{}
	for _, pid := range profileIDs {
		p := s.d.Profiles[pid]
		if p == nil {
			continue
		}
		for _, pol := range p.Policies {
			role := s.d.Roles[pol.RoleID]
			if role == nil {
				continue
			}
			targets := []key{{i: "*", col: "*"}}
			if len(pol.RestrictedTo) > 0 {
				targets = targets[:0]
				for _, r := range pol.RestrictedTo {
					if len(r.Collections) == 0 {
						targets = append(targets, key{i: r.Index, col: "*"})
					}
					for _, c := range r.Collections {
						targets = append(targets, key{i: r.Index, col: c})
					}
				}
			}
			for c, acts := range role.Controllers {
				for a, v := range acts.Actions {
					for _, t := range targets {
						k := key{c, a, t.i, t.col}
						merged[k] = merged[k] || v
					}
				}
			}
		}
	}
	out := make([]Right, 0, len(merged))
	for k, v := range merged {
		val := "denied"
		if v {
			val = "allowed"
		}
		out = append(out, Right{Controller: k.c, Action: k.a, Index: k.i, Collection: k.col, Value: val})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Controller != b.Controller {
			return a.Controller < b.Controller
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Collection < b.Collection
	})
	return out
}

// UserRights lists a user's rights (the anonymous user's included).
func (s *State) UserRights(userID string) ([]Right, bool) {
	s.mu.RLock()
	pids := append([]string(nil), s.profileIDs(userID)...)
	_, known := s.d.Users[userID]
	s.mu.RUnlock()
	if !known && userID != AnonymousID {
		return nil, false
	}
	return s.ProfileRights(pids...), true
}
