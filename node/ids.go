package node

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// sortableID is base64 with its alphabet in ASCII order (URL-safe, no
// padding), so that encoded ids sort as their bytes do.
var sortableID = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

// newID returns a 20-character URL-safe id, the shape of Elasticsearch's
// auto-generated ones: 6 bytes of milliseconds since the epoch, then 9
// random bytes. Ids made close in time sort close together: the embedded
// store keeps a collection's documents in id order, so a commit of many
// new documents dirties a few B+tree pages instead of one per document
// (fully random ids made bbolt's commit a tenth of a node's CPU under
// write load), and Lucene too indexes such ids faster (Elasticsearch's own
// are time-based for that reason). 72 random bits per millisecond keep
// collisions out of reach, and a collision would only be refused as
// document_already_exists, identically on every replica.
//
// The first character is the clock's top 6 bits: "-" until 2109, and "_"
// (an _id the API refuses, issue 13) only from about the year 7100.
func newID(now time.Time) string {
	var b [17]byte // the clock in 8 bytes, of which the first 2 (zeros until the year 10889) are dropped
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli()))
	_, _ = rand.Read(b[8:])
	var out [20]byte
	sortableID.Encode(out[:], b[2:])
	return string(out[:])
}
