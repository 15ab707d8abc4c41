package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// Security workload (issue #12): with the cluster locked down
// (createFirstAdmin with reset), clients create users, log them in, give
// them API keys, use their tokens through random nodes, revoke them
// (auth:logout, global or not, auth:deleteApiKey, security:deleteApiKey,
// security:revokeTokens, security:deleteUser) and keep trying revoked
// tokens through random nodes. Korum's promise: once a revocation is
// acknowledged, every node refuses the token. The checker flags any request
// that began after a revocation's acknowledgement (harness clock) and was
// served with a token that revocation covers.

const (
	adminUser     = "jepsen-admin"
	adminPassword = "jepsen admin password"
	secProfile    = "jepsen-user" // role and profile of the workload's users
)

// SecToken is one token the workload obtained.
type SecToken struct {
	Name   string `json:"name"`   // unique in a run
	User   string `json:"user"`   // kuid
	Kind   string `json:"kind"`   // "login" or "apikey"
	Issued int64  `json:"issued"` // when the call that issued it returned
	Shard  int    `json:"shard"`
	jwt    string
}

// SecRevocation is one revocation request.
type SecRevocation struct {
	Client  int     `json:"client"`
	Node    string  `json:"node"`
	Method  string  `json:"method"` // controller:action (auth:logout+global for a global logout)
	User    string  `json:"user"`
	Token   string  `json:"token,omitempty"` // the token revoked; empty: every token of User
	Outcome Outcome `json:"outcome"`
	Err     string  `json:"err,omitempty"`
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
}

// SecUse is one request made with a token.
type SecUse struct {
	Client  int     `json:"client"`
	Node    string  `json:"node"`
	Token   string  `json:"token"`
	Action  string  `json:"action"`
	Outcome Outcome `json:"outcome"`           // OK: served
	Refused bool    `json:"refused,omitempty"` // refused for its token (security.token.*)
	Err     string  `json:"err,omitempty"`
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
}

// SecHistory is what the security workload recorded.
type SecHistory struct {
	Tokens      []SecToken      `json:"tokens"`
	Revocations []SecRevocation `json:"revocations"`
	Uses        []SecUse        `json:"uses"`
}

// SecStats sums up a security history.
type SecStats struct {
	Tokens      int // tokens obtained
	Revoked     int // acknowledged revocations
	Unknown     int // revocations with an unknown outcome
	After       int // uses begun after the acknowledgement of a revocation covering their token
	RefusedOK   int // of those, refused for their token
	Served      int // of those, served: each one an anomaly
	Live        int // uses of tokens no revocation had been asked for
	LiveRefused int // of those, refused for their token (availability, not safety)
}

// CheckSecurity finds every use of a token that began after an
// acknowledged revocation covering it and was served. A revocation covers
// its token, or (Token empty: global logout, revokeTokens, deleteUser)
// every token of its user issued before it was called. Revocations with an
// unknown outcome constrain nothing.
func CheckSecurity(h SecHistory) (SecStats, []Anomaly) {
	st := SecStats{Tokens: len(h.Tokens)}
	tokens := map[string]SecToken{}
	for _, t := range h.Tokens {
		tokens[t.Name] = t
	}
	covers := func(r SecRevocation, t SecToken) bool {
		if r.Token != "" {
			return r.Token == t.Name
		}
		return r.User == t.User && t.Issued < r.Call
	}
	for _, r := range h.Revocations {
		switch r.Outcome {
		case OK:
			st.Revoked++
		case Info:
			st.Unknown++
		}
	}
	var an []Anomaly
	for _, u := range h.Uses {
		t, known := tokens[u.Token]
		if !known {
			an = append(an, Anomaly{"security", fmt.Sprintf("use of unknown token %s", u.Token)})
			continue
		}
		var first *SecRevocation // the earliest acknowledged revocation before u began
		asked := false           // a revocation of the token was asked before u returned
		for i, r := range h.Revocations {
			if r.Outcome == Fail || !covers(r, t) {
				continue
			}
			if r.Call < u.Return {
				asked = true
			}
			if r.Outcome == OK && r.Return < u.Call && (first == nil || r.Return < first.Return) {
				first = &h.Revocations[i]
			}
		}
		switch {
		case first != nil:
			st.After++
			switch {
			case u.Outcome == OK:
				st.Served++
				an = append(an, Anomaly{"security", fmt.Sprintf("%s token %s of %s served by %s for %s at %s–%s, after %s on %s was acknowledged at %s",
					t.Kind, t.Name, t.User, u.Node, u.Action, time.Duration(u.Call), time.Duration(u.Return), first.Method, first.Node, time.Duration(first.Return))})
			case u.Refused:
				st.RefusedOK++
			}
		case !asked:
			st.Live++
			if u.Refused {
				st.LiveRefused++
			}
		}
	}
	sort.Slice(an, func(i, j int) bool { return an[i].What < an[j].What })
	return st, an
}

// securitySetup locks shard s down: the first admin, with the default and
// anonymous roles reset (anonymous may only log in), a role and profile for
// the workload's users, and the admin's token every other harness request
// then carries.
func (e *env) securitySetup(ctx context.Context, s int, deadline time.Time) error {
	n := e.route(s)[0]
	retry := func(what string, req func() map[string]any, done func(Response, error) bool) error {
		for {
			c, err := Dial(ctx, n.Name, n.IP)
			var resp Response
			if err == nil {
				resp, err = c.Do(ctx, req(), e.opTimeout)
				c.Close()
			}
			if done(resp, err) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("security setup on %s: %s: %v", n.Name, what, err)
			}
			if !pause(ctx, 300*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	isID := func(err error, id string) bool {
		var ke *KError
		return errors.As(err, &ke) && ke.ID == id
	}
	err := retry("createFirstAdmin", func() map[string]any {
		return map[string]any{"controller": "security", "action": "createFirstAdmin", "_id": adminUser, "reset": true,
			"body": map[string]any{"content": map[string]any{}, "credentials": map[string]any{"local": map[string]any{"username": adminUser, "password": adminPassword}}}}
	}, func(_ Response, err error) bool { return err == nil || isID(err, "api.process.admin_exists") })
	if err != nil {
		return err
	}
	var jwt string
	err = retry("login", func() map[string]any {
		return map[string]any{"controller": "auth", "action": "login", "strategy": "local",
			"body": map[string]any{"username": adminUser, "password": adminPassword}}
	}, func(resp Response, err error) bool {
		var r struct {
			JWT string `json:"jwt"`
		}
		if err != nil || json.Unmarshal(resp.Result, &r) != nil || r.JWT == "" {
			return false
		}
		jwt = r.JWT
		return true
	})
	if err != nil {
		return err
	}
	for _, req := range []map[string]any{
		{"controller": "security", "action": "createOrReplaceRole", "_id": secProfile, "body": map[string]any{"controllers": map[string]any{
			"auth": map[string]any{"actions": map[string]any{"*": true}},
			"ms":   map[string]any{"actions": map[string]any{"get": true}}}}},
		{"controller": "security", "action": "createOrReplaceProfile", "_id": secProfile, "body": map[string]any{"policies": []any{map[string]any{"roleId": secProfile}}}},
	} {
		req := req
		err := retry(req["action"].(string), func() map[string]any {
			m := map[string]any{"jwt": jwt}
			for k, v := range req {
				m[k] = v
			}
			return m
		}, func(_ Response, err error) bool { return err == nil })
		if err != nil {
			return err
		}
	}
	e.mu.Lock()
	if e.jwts == nil {
		e.jwts = map[int]string{}
	}
	e.jwts[s] = jwt
	e.mu.Unlock()
	return nil
}

// secPoolSize bounds the tokens probes pick from: recent ones, revoked or
// not, so that nodes which missed a revocation (paused, cut off,
// restarted) are asked about it again later.
const secPoolSize = 32

// secCall runs one request on n with the token jwt and returns its answer.
// Connections are kept per node and shared by every token: requests name
// their own token, and a request sent to a paused node is served when it
// resumes (the case where a node may have missed a revocation).
func (e *env) secCall(ctx context.Context, cs conns, n *Node, jwt string, req map[string]any) (Response, error) {
	c, err := cs.get(ctx, n)
	if err != nil {
		return Response{}, err
	}
	req["jwt"] = jwt
	resp, err := c.Do(ctx, req, e.opTimeout)
	var ke *KError
	if err != nil && !errors.As(err, &ke) {
		cs.drop(n.Name)
	}
	return resp, err
}

// securityClient creates a user, obtains its tokens, uses them, revokes
// them and probes revoked tokens, through random nodes, until stop ends.
func (e *env) securityClient(ctx, stop context.Context, id int, rng *rand.Rand) {
	shard := id % e.shards()
	admin := e.adminJWT(shard)
	node := func() *Node { ns := e.route(shard); return ns[rng.IntN(len(ns))] }
	cs := e.conns()
	defer cs.closeAll()
	// A veteran user lives through the whole run: its record is old enough
	// to be in a snapshot that a restarted node holds, while the revocation
	// of its latest token is not.
	veteran := fmt.Sprintf("v%d", id)
	haveVeteran := false
	for seq := 0; stop.Err() == nil; seq++ {
		kuid := fmt.Sprintf("j%d-%d", id, seq)
		old := haveVeteran && rng.IntN(3) == 0
		if old {
			kuid = veteran
		} else if !haveVeteran {
			kuid = veteran
		}
		password := "password of " + kuid
		if !old {
			if _, err := e.secCall(ctx, cs, node(), admin, map[string]any{"controller": "security", "action": "createUser", "_id": kuid,
				"body": map[string]any{"content": map[string]any{"profileIds": []string{secProfile}},
					"credentials": map[string]any{"local": map[string]any{"username": kuid, "password": password}}}}); err != nil {
				var ke *KError
				// An earlier attempt whose answer was lost may have created it.
				if kuid != veteran || !errors.As(err, &ke) || ke.ID != "security.user.already_exists" {
					pause(stop, 200*time.Millisecond)
					continue
				}
			}
		}
		if kuid == veteran {
			haveVeteran = true
		}
		login := e.obtain(ctx, cs, node(), "", kuid, shard, "login", map[string]any{"controller": "auth", "action": "login", "strategy": "local",
			"body": map[string]any{"username": kuid, "password": password}})
		if login == nil {
			continue
		}
		var key *SecToken
		var keyID string
		if rng.IntN(2) == 0 {
			key, keyID = e.obtainKey(ctx, cs, node(), login.jwt, kuid, shard, map[string]any{"controller": "auth", "action": "createApiKey", "body": map[string]any{"description": "jepsen"}})
		} else {
			key, keyID = e.obtainKey(ctx, cs, node(), admin, kuid, shard, map[string]any{"controller": "security", "action": "createApiKey", "userId": kuid, "body": map[string]any{"description": "jepsen"}})
		}
		mine := []*SecToken{login}
		if key != nil {
			mine = append(mine, key)
		}
		for i := 0; i < 2; i++ {
			e.useToken(ctx, cs, id, node(), *mine[rng.IntN(len(mine))], rng)
		}
		// Revoke, then probe: the revoked tokens first, then any recent one.
		methods := []string{"auth:logout", "auth:logout+global", "security:revokeTokens"}
		if kuid != veteran {
			methods = append(methods, "security:deleteUser")
		}
		if key != nil {
			methods = append(methods, "auth:deleteApiKey", "security:deleteApiKey")
		}
		rev := SecRevocation{Client: id, Method: methods[rng.IntN(len(methods))], User: kuid}
		var req map[string]any
		jwt := admin
		switch rev.Method {
		case "auth:logout":
			req, jwt, rev.Token = map[string]any{"controller": "auth", "action": "logout"}, login.jwt, login.Name
		case "auth:logout+global":
			req, jwt = map[string]any{"controller": "auth", "action": "logout", "global": true}, login.jwt
		case "security:revokeTokens":
			req = map[string]any{"controller": "security", "action": "revokeTokens", "_id": kuid}
		case "security:deleteUser":
			req = map[string]any{"controller": "security", "action": "deleteUser", "_id": kuid}
		case "auth:deleteApiKey":
			req, jwt, rev.Token = map[string]any{"controller": "auth", "action": "deleteApiKey", "_id": keyID}, login.jwt, key.Name
		case "security:deleteApiKey":
			req, rev.Token = map[string]any{"controller": "security", "action": "deleteApiKey", "userId": kuid, "_id": keyID}, key.Name
		}
		n := node()
		rev.Node, rev.Call = n.Name, e.h.Now()
		_, err := e.secCall(ctx, cs, n, jwt, req)
		rev.Return = e.h.Now()
		if ctx.Err() != nil && err != nil {
			err = fmt.Errorf("cancelled: %v", err)
		}
		rev.Outcome = writeOutcome(err)
		if err != nil {
			rev.Err = err.Error()
		}
		e.mu.Lock()
		e.sec.Revocations = append(e.sec.Revocations, rev)
		if rev.Outcome == OK {
			e.secLatest = nil
			for _, t := range mine {
				if rev.Token == "" || rev.Token == t.Name {
					e.secLatest = append(e.secLatest, *t)
				}
			}
		}
		e.mu.Unlock()
		for i := 0; i < 6 && stop.Err() == nil; i++ {
			t := *mine[rng.IntN(len(mine))]
			if i >= 3 {
				t = e.poolToken(rng, shard, t)
			}
			e.useToken(ctx, cs, id, node(), t, rng)
		}
	}
}

// securityProber uses recent tokens through random nodes until stop
// ends, half the time one that the latest acknowledged revocation covers:
// while a client waits on a paused or cut-off node, the probers keep
// asking the others.
func (e *env) securityProber(ctx, stop context.Context, id int, rng *rand.Rand) {
	shard := id % e.shards()
	cs := e.conns()
	defer cs.closeAll()
	for stop.Err() == nil {
		e.mu.Lock()
		latest := e.secLatest
		e.mu.Unlock()
		var t SecToken
		switch {
		case len(latest) > 0 && latest[0].Shard == shard && rng.IntN(2) == 0:
			t = latest[rng.IntN(len(latest))]
		default:
			t = e.poolToken(rng, shard, SecToken{})
		}
		if t.Name != "" {
			ns := e.route(shard)
			e.useToken(ctx, cs, id, ns[rng.IntN(len(ns))], t, rng)
		}
		if !pause(stop, time.Duration(10+rng.IntN(20))*time.Millisecond) {
			return
		}
	}
}

func (e *env) adminJWT(shard int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.jwts[shard]
}

// obtain runs a request answering a token ({jwt}) and records the token.
func (e *env) obtain(ctx context.Context, cs conns, n *Node, jwt, kuid string, shard int, kind string, req map[string]any) *SecToken {
	resp, err := e.secCall(ctx, cs, n, jwt, req)
	var r struct {
		JWT string `json:"jwt"`
	}
	if err != nil || json.Unmarshal(resp.Result, &r) != nil || r.JWT == "" {
		return nil
	}
	return e.addToken(kuid, shard, kind, r.JWT)
}

// obtainKey creates an API key and records its token.
func (e *env) obtainKey(ctx context.Context, cs conns, n *Node, jwt, kuid string, shard int, req map[string]any) (*SecToken, string) {
	resp, err := e.secCall(ctx, cs, n, jwt, req)
	var r struct {
		ID     string `json:"_id"`
		Source struct {
			Token string `json:"token"`
		} `json:"_source"`
	}
	if err != nil || json.Unmarshal(resp.Result, &r) != nil || r.Source.Token == "" {
		return nil, ""
	}
	return e.addToken(kuid, shard, "apikey", r.Source.Token), r.ID
}

func (e *env) addToken(kuid string, shard int, kind, jwt string) *SecToken {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := SecToken{Name: fmt.Sprintf("%s/%s%d", kuid, kind, len(e.sec.Tokens)), User: kuid, Kind: kind, Issued: e.h.Now(), Shard: shard, jwt: jwt}
	e.sec.Tokens = append(e.sec.Tokens, t)
	e.secPool = append(e.secPool, t)
	if len(e.secPool) > secPoolSize {
		e.secPool = e.secPool[1:]
	}
	return &t
}

// poolToken picks a recent token of shard, or def.
func (e *env) poolToken(rng *rand.Rand, shard int, def SecToken) SecToken {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ts []SecToken
	for _, t := range e.secPool {
		if t.Shard == shard {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return def
	}
	return ts[rng.IntN(len(ts))]
}

// secProbes are the actions a token is used for: local ones (the rights
// check is all they need) and one behind the read barrier.
var secProbes = []map[string]any{
	{"controller": "auth", "action": "getCurrentUser"},
	{"controller": "auth", "action": "getMyRights"},
	{"controller": "ms", "action": "get", "_id": "sec-probe"},
}

// useToken makes one request with t on n and records it.
func (e *env) useToken(ctx context.Context, cs conns, client int, n *Node, t SecToken, rng *rand.Rand) {
	req := map[string]any{}
	for k, v := range secProbes[rng.IntN(len(secProbes))] {
		req[k] = v
	}
	u := SecUse{Client: client, Node: n.Name, Token: t.Name, Action: fmt.Sprint(req["controller"], ":", req["action"]), Call: e.h.Now()}
	_, err := e.secCall(ctx, cs, n, t.jwt, req)
	u.Return = e.h.Now()
	var ke *KError
	switch {
	case err == nil:
		u.Outcome = OK
	case errors.As(err, &ke) && strings.HasPrefix(ke.ID, "security.token."):
		u.Outcome, u.Refused, u.Err = Fail, true, err.Error()
	default:
		u.Outcome, u.Err = Info, err.Error()
	}
	e.mu.Lock()
	e.sec.Uses = append(e.sec.Uses, u)
	e.mu.Unlock()
}
