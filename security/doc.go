// Package security owns Kuzzle's security model as replicated state: roles
// (controllers → actions → bool, with "*" wildcards), profiles (policies: a
// role and optional index/collection restrictions), users (profiles,
// content, local credentials), API keys, token revocations and the secret
// tokens are signed with; and the rights check every request goes through.
//
// The state lives in the Raft state machine (package fsm carries one
// command kind for it and one field of its snapshot) and in every storage
// mode, since it never touches the document store. Changes are Commands:
// the proposing node validates the request, hashes passwords, draws ids and
// secrets and stamps times, so that State.Apply only stores and checks
// preconditions against the state itself (a user created twice
// concurrently: the second fails the same way on every replica). Apply
// reads no clock, no randomness and no configuration.
//
// The request path (Authenticate, Allowed) reads local memory under a read
// lock: verifying a token is one HMAC, checking a right a few map lookups.
// Tokens are JWTs (HS256). A token is refused when it is malformed, forged,
// expired, revoked by id (logout), issued before its user's last global
// revocation (logout with global, credential changes, user deletion: a per
// user generation number the token carries), or made for an API key that
// was deleted. Never is a bad token taken for the anonymous user.
//
// It must not depend on the api, fsm, node or storage packages: they depend
// on it.
package security
