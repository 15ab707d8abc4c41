// Package backup owns the file format of `korum snapshot save`: a
// point-in-time copy of a cluster's replicated state (the same bytes as a
// Raft snapshot of the state machine) between a header that says which
// applied index it is, and a trailer whose SHA-256 lets a restore refuse a
// truncated or damaged file before it touches anything.
//
// Layout, version 1 (integers big-endian):
//
//	"KORUMBAK"                      8 bytes, the magic
//	format version                  uint16 (1)
//	header length H                 uint32 (at most MaxHeaderSize)
//	header                          H bytes of JSON (Header)
//	payload                         the state machine's snapshot (fsm.FSM.Restore reads it)
//	"KORUMEND"                      8 bytes
//	payload length                  uint64
//	SHA-256                         32 bytes, of every byte before it
//
// The trailer comes last so that a node can stream a backup without
// knowing its size first; a stream cut anywhere fails verification.
package backup
