// Package kerror owns Korum's error catalogue: Kuzzle's error ids
// ("domain.subdomain.name"), their numeric codes and HTTP statuses, and the
// message templates clients see.
//
// Every package that can fail in a way a client observes returns a *Error
// from here, so the API layer never has to guess an id or a status. It must
// not know about transports, requests or any other Korum package.
package kerror
