package security

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/korumdb/korum/kerror"
)

// bcryptCost is the KDF cost: 2^10 rounds, about 50 ms of one core per
// login or password change on current hardware. Kuzzle's default, a
// stretched HMAC-SHA512, is far cheaper to brute-force; bcrypt at 10 keeps
// a stolen snapshot expensive to attack while a node still serves dozens of
// logins per second per core.
const bcryptCost = 10

// maxPasswordLen is bcrypt's limit: longer passwords would be truncated
// silently, so they are refused.
const maxPasswordLen = 72

// ParseLocal validates a body of "local" credentials ({username,
// password}) and returns them with the password hashed. password is
// optional when requirePassword is false (a username change).
func ParseLocal(body map[string]any, requirePassword bool) (*Local, error) {
	if body == nil {
		return nil, kerror.New("api.assert.body_required")
	}
	for k := range body {
		if k != "username" && k != "password" {
			return nil, kerror.New("security.credentials.rejected", `unexpected field "`+k+`" (expected: username, password)`)
		}
	}
	username, ok := body["username"].(string)
	if !ok || username == "" {
		return nil, kerror.New("security.credentials.rejected", "a username is required")
	}
	if len(username) > 256 {
		return nil, kerror.New("security.credentials.rejected", "the username is too long")
	}
	pw, present := body["password"]
	if !present && !requirePassword {
		return &Local{Username: username}, nil
	}
	password, ok := pw.(string)
	if !ok || password == "" {
		return nil, kerror.New("security.credentials.rejected", "a password is required")
	}
	if len(password) > maxPasswordLen {
		return nil, kerror.New("security.credentials.rejected", "the password is longer than 72 bytes")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, kerror.Wrap(err, "core.fatal.unexpected_error", "hashing a password failed")
	}
	return &Local{Username: username, Hash: string(hash)}, nil
}

// dummyHash is compared against when the username is unknown, so that a
// login takes as long whether the user exists or not.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("korum-no-such-user"), bcryptCost)

// Login checks local credentials and returns the user's kuid. Any failure
// is the same error, in about the same time.
func (s *State) Login(username, password string) (string, error) {
	rejected := kerror.New("security.credentials.rejected", "wrong username or password")
	if len(password) > maxPasswordLen || len(username) > 256 {
		return "", rejected
	}
	id, u := s.UserByUsername(username)
	hash := dummyHash
	if u != nil && u.Local != nil && u.Local.Hash != "" {
		hash = []byte(u.Local.Hash)
	}
	// bcrypt compares in constant time.
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if err != nil || id == "" {
		return "", rejected
	}
	return id, nil
}

// CheckPassword reports whether password is the user's (validateMyCredentials).
func (s *State) CheckPassword(kuid, username, password string) bool {
	u := s.User(kuid)
	if u == nil || u.Local == nil || len(password) > maxPasswordLen {
		return false
	}
	if username != "" && username != u.Local.Username {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(u.Local.Hash), []byte(password)) == nil
}
