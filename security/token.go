package security

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/korumdb/korum/kerror"
)

// Claims are the payload of Korum's tokens. _id, iat and exp are Kuzzle's
// (seconds); the rest is what revocation needs.
type Claims struct {
	UserID string `json:"_id"`
	Iat    int64  `json:"iat"`
	// Exp is the expiry in seconds; 0: never (API keys created without
	// expiry).
	Exp int64 `json:"exp,omitempty"`
	// ExpMs is the expiry in ms, which Kuzzle reports (expiresAt); exp
	// alone would round it.
	ExpMs int64  `json:"expMs,omitempty"`
	ID    string `json:"jti"`
	Gen   uint64 `json:"gen"`
	Key   string `json:"ak,omitempty"`
}

// jwtHeader is the only header Korum issues and accepts: "alg" is not
// negotiable (no "none", no RS/HS confusion).
const jwtHeader = `{"alg":"HS256","typ":"JWT"}`

var b64 = base64.RawURLEncoding

var encodedHeader = b64.EncodeToString([]byte(jwtHeader))

// maxTokenLen bounds what is decoded: a token is a few hundred bytes.
const maxTokenLen = 4096

// Sign returns the JWT of the claims, signed with the secret.
func Sign(secret []byte, c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	msg := encodedHeader + "." + b64.EncodeToString(payload)
	return msg + "." + b64.EncodeToString(mac(secret, msg)), nil
}

func mac(secret []byte, msg string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// Parse verifies a token's signature and expiry (nowMs) and returns its
// claims. Any malformation or a bad signature is security.token.invalid,
// an expired token security.token.expired.
func Parse(secret []byte, token string, nowMs int64) (*Claims, error) {
	invalid := kerror.New("security.token.invalid")
	if len(token) > maxTokenLen || len(secret) == 0 {
		return nil, invalid
	}
	parts := strings.Split(token, ".")
	// Korum verifies only the tokens it issues, whose header is always
	// the same bytes: anything else ("alg":"none", another algorithm, the
	// same header spelt differently) is refused without being parsed.
	if len(parts) != 3 || parts[0] != encodedHeader {
		return nil, invalid
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, invalid
	}
	// The signature is checked before the payload is parsed: nothing a
	// forger wrote is interpreted.
	if !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return nil, invalid
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, invalid
	}
	var c Claims
	if json.Unmarshal(payload, &c) != nil || c.UserID == "" {
		return nil, invalid
	}
	if exp := c.expiresAt(); exp > 0 && exp <= nowMs {
		return nil, kerror.New("security.token.expired")
	}
	return &c, nil
}

// expiresAt is the expiry in ms (0: never).
func (c *Claims) expiresAt() int64 {
	if c.ExpMs > 0 {
		return c.ExpMs
	}
	if c.Exp > 0 {
		return c.Exp * 1000
	}
	return 0
}

// Authenticate returns who a token is for: the anonymous user without a
// token; an error for any token that is not valid now (bad, expired,
// revoked, of a deleted user or API key). It reads local memory only.
func (s *State) Authenticate(secret []byte, token string, nowMs int64) (*Identity, error) {
	if token == "" {
		return &Identity{UserID: AnonymousID}, nil
	}
	c, ok := s.verified.get(token)
	if ok {
		if exp := c.expiresAt(); exp > 0 && exp <= nowMs {
			return nil, kerror.New("security.token.expired")
		}
	} else {
		var err error
		if c, err = Parse(secret, token, nowMs); err != nil {
			return nil, err
		}
		s.verified.put(token, c)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.valid(c, nowMs); err != nil {
		return nil, err
	}
	return &Identity{UserID: c.UserID, TokenID: c.ID, ExpiresAt: c.expiresAt(), APIKeyID: c.Key, JWT: token}, nil
}

func (s *State) valid(c *Claims, nowMs int64) error {
	invalid := kerror.New("security.token.invalid")
	if rev, revoked := s.d.Revoked[c.ID]; revoked && (nowMs >= rev.At || rev.At <= s.appliedNow) {
		return invalid
	}
	if s.d.Users[c.UserID] == nil || s.d.Gens[c.UserID] != c.Gen {
		return invalid
	}
	if c.Key != "" {
		if k := s.d.APIKeys[c.Key]; k == nil || k.UserID != c.UserID {
			return invalid
		}
	}
	return nil
}

// tokenCache remembers the claims of tokens whose signature was verified,
// so that a client sending the same token with every request costs a map
// lookup instead of an HMAC and two decodings. Expiry and revocation are
// still checked on every use. It is local memory, not replicated state:
// the secret a node verifies with never changes while it runs.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]*Claims
}

// maxCachedTokens bounds the cache; when full it starts over.
const maxCachedTokens = 1 << 16

func (t *tokenCache) get(token string) (*Claims, bool) {
	t.mu.Lock()
	c, ok := t.m[token]
	t.mu.Unlock()
	return c, ok
}

func (t *tokenCache) put(token string, c *Claims) {
	t.mu.Lock()
	if t.m == nil || len(t.m) >= maxCachedTokens {
		t.m = make(map[string]*Claims)
	}
	t.m[token] = c
	t.mu.Unlock()
}

// ParseDuration reads Kuzzle's durations (expiresIn, ttl): a number of
// milliseconds, or a string in the "ms" library's form ("1h", "30m",
// "2 days", "500"). -1 means never; ok is false for anything else.
func ParseDuration(v any) (ms int64, ok bool) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || x < -1 || x > 1e15 {
			return 0, false
		}
		return int64(x), true
	case string:
		s := strings.TrimSpace(strings.ToLower(x))
		if n, err := strconv.ParseFloat(s, 64); err == nil {
			return ParseDuration(n)
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || n < 0 || n > 1e12 {
			return 0, false
		}
		unit := strings.TrimSpace(s[i:])
		var mult float64
		switch unit {
		case "ms", "msec", "msecs", "millisecond", "milliseconds":
			mult = 1
		case "s", "sec", "secs", "second", "seconds":
			mult = 1000
		case "m", "min", "mins", "minute", "minutes":
			mult = 60e3
		case "h", "hr", "hrs", "hour", "hours":
			mult = 3600e3
		case "d", "day", "days":
			mult = 86400e3
		case "w", "week", "weeks":
			mult = 7 * 86400e3
		case "y", "yr", "yrs", "year", "years":
			mult = 365.25 * 86400e3
		default:
			return 0, false
		}
		return int64(n * mult), true
	}
	return 0, false
}
