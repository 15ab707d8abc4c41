package api

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage/query"
)

// Security is what the router and the auth and security controllers need
// from the node: the replicated security state, read locally, and the
// means to change it through the log and to sign tokens.
type Security interface {
	// SecurityState is the replicated state; reading it does no I/O.
	SecurityState() *security.State
	// Authenticate returns who a token is for; "" is the anonymous user,
	// and any token that is not valid now is an error.
	Authenticate(token string) (*security.Identity, error)
	// IssueToken signs a token for a user, valid ttl ms (<= 0: no
	// expiry); apiKey, when set, is the API key it stands for.
	IssueToken(ctx context.Context, kuid string, ttl int64, apiKey string) (jwt string, expiresAt int64, err error)
	// ProposeSecurity puts a change through the log and returns its
	// result; a revocation returns once the other nodes applied it too.
	ProposeSecurity(ctx context.Context, c *security.Command) (*security.Result, error)
	// SecurityOptions are the token lifetimes configured.
	SecurityOptions() SecurityOptions
	// AllowLogin counts a login attempt for a username: false past
	// limits.loginsPerSecond.
	AllowLogin(username string) bool
	// NewID draws a random id (API keys, tokens).
	NewID() string
}

// SecurityOptions are Kuzzle's security.authToken and security.apiKey
// settings, in ms (0: no limit).
type SecurityOptions struct {
	ExpiresIn, MaxTTL, GracePeriod, APIKeyMaxTTL int64
	// LoginsPerSecond is reported in the too-many-logins error.
	LoginsPerSecond int
}

// authController serves Kuzzle's auth controller: logging in and out, the
// current user's tokens, credentials, rights and API keys.
type authController struct {
	sec   Security
	clock Clock
}

func (c *authController) actions() map[string]Handler {
	return map[string]Handler{
		"login":                 c.login,
		"logout":                c.logout,
		"checkToken":            c.checkToken,
		"refreshToken":          c.refreshToken,
		"getCurrentUser":        c.getCurrentUser,
		"getMyRights":           c.getMyRights,
		"getStrategies":         func(context.Context, *Request) (any, error) { return []string{"local"}, nil },
		"credentialsExist":      c.credentialsExist,
		"getMyCredentials":      c.getMyCredentials,
		"createMyCredentials":   c.setMyCredentials(security.ModeCreate),
		"updateMyCredentials":   c.setMyCredentials(security.ModeReplace),
		"deleteMyCredentials":   c.deleteMyCredentials,
		"validateMyCredentials": c.validateMyCredentials,
		"updateSelf":            c.updateSelf,
		"checkRights":           c.checkRights,
		"createApiKey":          c.createAPIKey,
		"searchApiKeys":         c.searchAPIKeys,
		"deleteApiKey":          c.deleteAPIKey,
	}
}

// propose stamps a command with the clock and the requester and returns
// its failure as an error.
func propose(ctx context.Context, s Security, clk Clock, r *Request, cmd *security.Command) (*security.Result, error) {
	cmd.Now = clk.Now().UnixMilli()
	cmd.Author = r.UserID()
	res, err := s.ProposeSecurity(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

// strategy returns the strategy argument, which must be "local": the only
// one Korum has.
func strategy(r *Request) error {
	s, err := r.String("strategy")
	if err != nil {
		return err
	}
	if s != "local" {
		return kerror.New("security.credentials.unknown_strategy", s)
	}
	return nil
}

// ttlArg reads a lifetime argument (Kuzzle's expiresIn) against a maximum.
func ttlArg(r *Request, def, maxTTL int64) (int64, error) {
	v, ok := r.Args["expiresIn"]
	ttl := def
	if ok && v != nil {
		var good bool
		if ttl, good = security.ParseDuration(v); !good {
			return 0, kerror.New("api.assert.invalid_type", "expiresIn", "duration")
		}
	}
	if maxTTL > 0 && (ttl > maxTTL || ttl < 0) {
		return 0, kerror.New("security.token.ttl_exceeded")
	}
	return ttl, nil
}

func (c *authController) login(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	username, _ := body["username"].(string)
	password, _ := body["password"].(string)
	if username == "" || password == "" {
		return nil, kerror.New("security.credentials.rejected", "a username and a password are required")
	}
	opts := c.sec.SecurityOptions()
	ttl, err := ttlArg(r, opts.ExpiresIn, opts.MaxTTL)
	if err != nil {
		return nil, err
	}
	if !c.sec.AllowLogin(username) {
		return nil, kerror.New("security.credentials.too_many_logins", strconv.Itoa(opts.LoginsPerSecond))
	}
	kuid, err := c.sec.SecurityState().Login(username, password)
	if err != nil {
		return nil, err
	}
	jwt, exp, err := c.sec.IssueToken(ctx, kuid, ttl, "")
	if err != nil {
		return nil, err
	}
	return map[string]any{"_id": kuid, "jwt": jwt, "expiresAt": exp, "ttl": ttl}, nil
}

func (c *authController) logout(ctx context.Context, r *Request) (any, error) {
	global, err := r.Bool("global")
	if err != nil {
		return nil, err
	}
	id := r.User
	switch {
	case id.Anonymous() || id.TokenID == "":
		// Nothing to revoke.
	case global:
		if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpRevokeAll, ID: id.UserID}); err != nil {
			return nil, err
		}
	case id.APIKeyID != "":
		// An API key is revoked by deleting it, not by logging out.
	default:
		if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpRevoke, TokenID: id.TokenID, Expires: id.ExpiresAt}); err != nil {
			return nil, err
		}
	}
	return map[string]any{"acknowledged": true}, nil
}

func (c *authController) checkToken(ctx context.Context, r *Request) (any, error) {
	body, err := r.OptBody()
	if err != nil {
		return nil, err
	}
	token, _ := body["token"].(string)
	if token == "" {
		token = r.JWT
	}
	if token == "" {
		return map[string]any{"valid": false, "state": kerror.New("security.token.invalid").Message}, nil
	}
	id, err := c.sec.Authenticate(token)
	if err != nil {
		return map[string]any{"valid": false, "state": kerror.From(err).Message}, nil
	}
	exp := id.ExpiresAt
	if exp == 0 {
		exp = -1
	}
	return map[string]any{"valid": true, "expiresAt": exp, "kuid": id.UserID}, nil
}

func (c *authController) refreshToken(ctx context.Context, r *Request) (any, error) {
	id := r.User
	if id.Anonymous() || id.TokenID == "" {
		return nil, kerror.New("security.rights.unauthorized")
	}
	if id.APIKeyID != "" {
		return nil, kerror.New("api.assert.invalid_argument", "jwt", "a login token (API keys cannot be refreshed)")
	}
	opts := c.sec.SecurityOptions()
	ttl, err := ttlArg(r, opts.ExpiresIn, opts.MaxTTL)
	if err != nil {
		return nil, err
	}
	jwt, exp, err := c.sec.IssueToken(ctx, id.UserID, ttl, "")
	if err != nil {
		return nil, err
	}
	// The old token keeps working for the grace period, so requests
	// already sent with it do not fail (Kuzzle's gracePeriod).
	now := c.clock.Now().UnixMilli()
	if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpRevoke, TokenID: id.TokenID,
		Expires: id.ExpiresAt, At: now + opts.GracePeriod}); err != nil {
		return nil, err
	}
	return map[string]any{"_id": id.UserID, "jwt": jwt, "expiresAt": exp, "ttl": ttl}, nil
}

// userView is Kuzzle's shape of a user: content and profileIds in _source.
func userView(kuid string, u *security.User) map[string]any {
	src := make(map[string]any, len(u.Content)+2)
	for k, v := range u.Content {
		src[k] = v
	}
	src["profileIds"] = u.ProfileIDs
	if u.Info != nil {
		src["_kuzzle_info"] = u.Info
	}
	return map[string]any{"_id": kuid, "_source": src}
}

func strategiesOf(u *security.User) []string {
	if u != nil && u.Local != nil {
		return []string{"local"}
	}
	return []string{}
}

func (c *authController) currentUser(r *Request) (*security.User, error) {
	u := c.sec.SecurityState().User(r.UserID())
	if u == nil {
		return nil, kerror.New("security.user.not_found", r.UserID())
	}
	return u, nil
}

func (c *authController) getCurrentUser(ctx context.Context, r *Request) (any, error) {
	u, err := c.currentUser(r)
	if err != nil {
		return nil, err
	}
	v := userView(r.UserID(), u)
	v["strategies"] = strategiesOf(u)
	return v, nil
}

func (c *authController) getMyRights(ctx context.Context, r *Request) (any, error) {
	rights, _ := c.sec.SecurityState().UserRights(r.UserID())
	return map[string]any{"hits": rights}, nil
}

func (c *authController) credentialsExist(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	u, err := c.currentUser(r)
	if err != nil {
		return nil, err
	}
	return u.Local != nil, nil
}

func (c *authController) getMyCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	u, err := c.currentUser(r)
	if err != nil {
		return nil, err
	}
	if u.Local == nil {
		return map[string]any{}, nil
	}
	return map[string]any{"username": u.Local.Username, "kuid": r.UserID()}, nil
}

// localBody reads a credentials body for mode: a creation needs a
// password, an update may change only one of username and password.
func localBody(st *security.State, kuid string, body map[string]any, mode security.Mode) (*security.Local, error) {
	if mode == security.ModeReplace {
		if _, ok := body["username"]; !ok {
			u := st.User(kuid)
			if u == nil || u.Local == nil {
				return nil, kerror.New("security.credentials.rejected", "this user has no credentials for strategy local")
			}
			cp := make(map[string]any, len(body)+1)
			for k, v := range body {
				cp[k] = v
			}
			cp["username"] = u.Local.Username
			body = cp
		}
	}
	l, err := security.ParseLocal(body, mode == security.ModeCreate)
	if err != nil {
		return nil, err
	}
	if other, _ := st.UserByUsername(l.Username); other != "" && other != kuid {
		return nil, kerror.New("security.credentials.rejected", "a user already has this username")
	}
	return l, nil
}

func (c *authController) setMyCredentials(mode security.Mode) Handler {
	return func(ctx context.Context, r *Request) (any, error) {
		if err := strategy(r); err != nil {
			return nil, err
		}
		if r.User.Anonymous() {
			return nil, kerror.New("security.rights.unauthorized")
		}
		body, err := r.RequireBody()
		if err != nil {
			return nil, err
		}
		l, err := localBody(c.sec.SecurityState(), r.UserID(), body, mode)
		if err != nil {
			return nil, err
		}
		if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpSetLocal, ID: r.UserID(), Mode: mode, Local: l}); err != nil {
			return nil, err
		}
		return map[string]any{"username": l.Username, "kuid": r.UserID()}, nil
	}
}

func (c *authController) deleteMyCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	if r.User.Anonymous() {
		return nil, kerror.New("security.rights.unauthorized")
	}
	if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpSetLocal, ID: r.UserID(), Mode: security.ModeDelete}); err != nil {
		return nil, err
	}
	return map[string]any{"acknowledged": true}, nil
}

// validateMyCredentials checks that credentials would be accepted, as
// Kuzzle's strategies' validate does (it does not check a password).
func (c *authController) validateMyCredentials(ctx context.Context, r *Request) (any, error) {
	if err := strategy(r); err != nil {
		return nil, err
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	if err := validateLocal(c.sec.SecurityState(), r.UserID(), body); err != nil {
		return nil, err
	}
	return true, nil
}

// validateLocal checks a credentials body without hashing its password.
func validateLocal(st *security.State, kuid string, body map[string]any) error {
	probe := make(map[string]any, len(body))
	for k, v := range body {
		if k != "password" {
			probe[k] = v
		}
	}
	if pw, ok := body["password"]; ok {
		if s, isStr := pw.(string); !isStr || s == "" || len(s) > 72 {
			return kerror.New("security.credentials.rejected", "the password must be a string of 1 to 72 bytes")
		}
	}
	l, err := security.ParseLocal(probe, false)
	if err != nil {
		return err
	}
	if other, _ := st.UserByUsername(l.Username); other != "" && other != kuid {
		return kerror.New("security.credentials.rejected", "a user already has this username")
	}
	return nil
}

func (c *authController) updateSelf(ctx context.Context, r *Request) (any, error) {
	if r.User.Anonymous() {
		return nil, kerror.New("security.rights.unauthorized")
	}
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	if _, ok := body["profileIds"]; ok {
		return nil, kerror.New("api.assert.invalid_argument", "body.profileIds", "no profileIds (a user cannot change its own profiles)")
	}
	u, err := c.currentUser(r)
	if err != nil {
		return nil, err
	}
	for k, v := range body {
		if k == "_kuzzle_info" {
			continue
		}
		if u.Content == nil {
			u.Content = map[string]any{}
		}
		u.Content[k] = v
	}
	u.Local = nil // kept by the state
	if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpPutUser, ID: r.UserID(), Mode: security.ModeReplace, User: u}); err != nil {
		return nil, err
	}
	return userView(r.UserID(), c.sec.SecurityState().User(r.UserID())), nil
}

// rightsOf answers checkRights: the body is a request, whose controller,
// action, index and collection are checked against the user's rights.
func rightsOf(st *security.State, kuid string, body map[string]any) (any, error) {
	ctrl, _ := body["controller"].(string)
	action, _ := body["action"].(string)
	if ctrl == "" {
		return nil, kerror.New("api.assert.missing_argument", "body.controller")
	}
	if action == "" {
		return nil, kerror.New("api.assert.missing_argument", "body.action")
	}
	index, _ := body["index"].(string)
	collection, _ := body["collection"].(string)
	return map[string]any{"allowed": st.Allowed(kuid, ctrl, action, index, collection)}, nil
}

func (c *authController) checkRights(ctx context.Context, r *Request) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	return rightsOf(c.sec.SecurityState(), r.UserID(), body)
}

// createAPIKey creates an API key for kuid: a token that lives until it
// expires or its record is deleted.
func createAPIKey(ctx context.Context, s Security, clk Clock, r *Request, kuid string) (any, error) {
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	desc, ok := body["description"].(string)
	if !ok || desc == "" {
		return nil, kerror.New("api.assert.missing_argument", "body.description")
	}
	opts := s.SecurityOptions()
	ttl, err := ttlArg(r, -1, opts.APIKeyMaxTTL)
	if err != nil {
		return nil, err
	}
	keyID, err := r.OptString("_id")
	if err != nil {
		return nil, err
	}
	if keyID == "" {
		keyID = s.NewID()
	}
	if s.SecurityState().APIKey(keyID) != nil {
		return nil, kerror.New("services.storage.document_already_exists")
	}
	jwt, exp, err := s.IssueToken(ctx, kuid, ttl, keyID)
	if err != nil {
		return nil, err
	}
	if exp == 0 {
		exp = -1
	}
	key := &security.APIKey{UserID: kuid, Description: desc, ExpiresAt: exp, TTL: ttl, Token: jwt, CreatedAt: clk.Now().UnixMilli()}
	if _, err := propose(ctx, s, clk, r, &security.Command{Op: security.OpPutAPIKey, KeyID: keyID, APIKey: key}); err != nil {
		return nil, err
	}
	return map[string]any{"_id": keyID, "_source": key}, nil
}

// searchAPIKeys lists kuid's API keys matching the query (the DSL of
// document:search), without their tokens.
func searchAPIKeys(s Security, r *Request, kuid string) (any, error) {
	body, err := r.OptBody()
	if err != nil {
		return nil, err
	}
	st := s.SecurityState()
	var hits []map[string]any
	for _, id := range st.IDs("apiKeys") {
		k := st.APIKey(id)
		if k == nil || k.UserID != kuid {
			continue
		}
		k.Token = ""
		hits = append(hits, map[string]any{"_id": id, "_source": k})
	}
	return searchHits(r, body, hits, nil)
}

func (c *authController) createAPIKey(ctx context.Context, r *Request) (any, error) {
	if r.User.Anonymous() {
		return nil, kerror.New("security.rights.unauthorized")
	}
	return createAPIKey(ctx, c.sec, c.clock, r, r.UserID())
}

func (c *authController) searchAPIKeys(ctx context.Context, r *Request) (any, error) {
	return searchAPIKeys(c.sec, r, r.UserID())
}

func (c *authController) deleteAPIKey(ctx context.Context, r *Request) (any, error) {
	id, err := r.String("_id")
	if err != nil {
		return nil, err
	}
	if _, err := propose(ctx, c.sec, c.clock, r, &security.Command{Op: security.OpDeleteAPIKey, ID: r.UserID(), KeyID: id}); err != nil {
		return nil, err
	}
	return map[string]any{"_id": id}, nil
}

// searchHits filters hits ({_id, _source}) by the body's query, in the
// DSL of document:search, and pages them with from and size.
func searchHits(r *Request, body map[string]any, hits []map[string]any, ft query.FieldTypes) (any, error) {
	matched, err := matchHits(body, hits, ft)
	if err != nil {
		return nil, err
	}
	from, err := r.Int("from", 0)
	if err != nil {
		return nil, err
	}
	size, err := r.Int("size", 10)
	if err != nil {
		return nil, err
	}
	total := len(matched)
	if from < 0 || size < 0 {
		return nil, kerror.New("api.assert.invalid_argument", "from/size", "non-negative integers")
	}
	if from > len(matched) {
		from = len(matched)
	}
	end := min(from+size, len(matched))
	page := matched[from:end]
	if page == nil {
		page = []map[string]any{}
	}
	return map[string]any{"hits": page, "total": total}, nil
}

// matchHits keeps the hits that the body's query matches, sorted by id.
// ft gives the mapped types of the hits' fields (nil: none mapped).
func matchHits(body map[string]any, hits []map[string]any, ft query.FieldTypes) ([]map[string]any, error) {
	var q *query.Query
	if raw, ok := body["query"]; ok && raw != nil {
		b, err := json.Marshal(raw)
		if err != nil {
			return nil, kerror.New("api.assert.invalid_argument", "body.query", "a query")
		}
		if q, err = query.CompileWith(b, ft); err != nil {
			return nil, err
		}
	}
	var matched []map[string]any
	for _, h := range hits {
		if q != nil {
			src, err := toMap(h["_source"])
			if err != nil {
				return nil, err
			}
			if ok, _ := q.Match(&query.Doc{ID: h["_id"].(string), Source: src}); !ok {
				continue
			}
		}
		matched = append(matched, h)
	}
	sort.SliceStable(matched, func(i, j int) bool { return matched[i]["_id"].(string) < matched[j]["_id"].(string) })
	return matched, nil
}

// toMap turns a typed object into the generic form queries read.
func toMap(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}
