// Package integration holds system tests: they start the real bin/korum
// binary (KORUM_BIN, or one built on the fly) and speak HTTP and WebSocket
// to it. They must not import Korum's packages, so they test only what a
// client sees.
package integration
