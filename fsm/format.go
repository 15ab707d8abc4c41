package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/korumdb/korum/security"
)

// The on-disk and on-the-wire formats this package owns, and their versions
// (DESIGN.md, "Formats and versions"). The log's entries (codec.go) and the
// snapshots (snapshotHeader below) are the only bytes one Korum node hands
// another or leaves for its next start; the JSON of the types they carry
// (storage.Write, storage.WriteResult, realtime.Meta, memstore.Command,
// security.Command, the state below) is part of them, pinned by the
// golden files under testdata/.
//
// Versions:
//
//	1: Korum v0.2.0. Entries: the binary codec (codecMagic) with tags
//	   tagKind…tagChanged, kinds write…changed; the JSON form before it
//	   still decodes. Snapshots: an 8-byte length, the state JSON, the
//	   store's snapshot.
//	2: adds the explicit version: an entry that needs more than version 1
//	   starts with tagVersion; the kind KindFeature (the cluster's agreed
//	   feature version); snapshots taken once the cluster agreed on 2
//	   start with snapshotMagic and their version; the kind KindSpecs
//	   (tagSpecs) and the state's "specs"; the security op "mapping"
//	   (security.OpUpdateMapping, in a KindSecurity entry, which then
//	   starts with tagVersion) and the security state's "mappings".
//
// A binary writes only what the cluster's feature version (the lowest
// version every member supports, committed by the leader with a
// KindFeature entry) allows, so a node of an older release in the cluster
// never receives an entry or a snapshot it cannot read. A node that
// receives one anyway (a downgrade) stops rather than skip it.
const FormatVersion = 2

// kindVersions is the format version that introduced each kind. A kind
// missing here (none should be) counts as version 1. A kind added later is
// listed with the version that brings it, and nodes propose it only once
// the cluster agreed on that version (node.propose).
var kindVersions = map[Kind]uint32{
	KindWrite: 1, KindPublish: 1, KindRoomCreated: 1, KindRoomEmptied: 1, KindNodeHello: 1,
	KindNodeEvicted: 1, KindBatch: 1, KindMS: 1, KindSecurity: 1, KindChanged: 1,
	KindFeature: 2, KindSpecs: 2,
}

// KindVersion is the lowest cluster feature version under which a command
// of kind k may be proposed.
func KindVersion(k Kind) uint32 {
	if v, ok := kindVersions[k]; ok {
		return v
	}
	return 1
}

// opVersions is, per kind, the format version that introduced each
// operation added to a kind after the kind itself: an entry of a version
// 1 kind carrying such an operation needs that version, exactly as a new
// kind would. The operation is the kind's own name for what a command
// does (opOf). Operations missing here count as their kind's version.
var opVersions = map[Kind]map[string]uint32{
	KindSecurity: {string(security.OpUpdateMapping): 2},
}

// OpVersion is the format version that introduced operation op of kind k
// (KindVersion(k) for an operation as old as its kind).
func OpVersion(k Kind, op string) uint32 {
	if v, ok := opVersions[k][op]; ok {
		return max(v, KindVersion(k))
	}
	return KindVersion(k)
}

// opOf names the operation a command of a kind listed in opVersions
// carries ("" for none).
func (c *Command) opOf() string {
	if c.Kind == KindSecurity && c.Security != nil {
		return string(c.Security.Op)
	}
	return ""
}

// Version is the lowest cluster feature version under which c may be
// proposed, and the format version its entry is marked with: its kind's,
// or its operation's when that came later.
func (c *Command) Version() uint32 {
	if _, ok := opVersions[c.Kind]; ok {
		return OpVersion(c.Kind, c.opOf())
	}
	return KindVersion(c.Kind)
}

// ErrNewerFormat marks an entry or a snapshot written in a format newer
// than this binary reads: the node must stop (a HaltError), since skipping
// it would leave this replica diverged from its peers.
var ErrNewerFormat = errors.New("written by a newer Korum")

func newerFormat(what string, v uint64) error {
	return fmt.Errorf("%s has format version %d, this binary reads up to %d (%w): upgrade this node, "+
		"or run the release the rest of the cluster runs", what, v, FormatVersion, ErrNewerFormat)
}

// snapshotMagic starts a versioned snapshot. A version 1 snapshot starts
// with its state's length, an 8-byte big-endian number below 2^34, whose
// first byte is always 0; 'K' tells them apart. A version 1 binary reads
// this magic as an implausible length and refuses the snapshot.
var snapshotMagic = [8]byte{'K', 'O', 'R', 'U', 'M', 'S', 'N', 'P'}

// maxSnapshotState bounds the state part a reader allocates.
const maxSnapshotState = 1 << 34

// writeSnapshotHeader writes the header of a snapshot in format version v
// (1: the v0.2.0 header, the state's length alone), then the state.
func writeSnapshotHeader(w io.Writer, v uint32, state []byte) error {
	var h []byte
	if v >= 2 {
		h = append(h, snapshotMagic[:]...)
		h = binary.BigEndian.AppendUint32(h, v)
	}
	h = binary.BigEndian.AppendUint64(h, uint64(len(state)))
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err := w.Write(state)
	return err
}

// readSnapshotHeader reads a snapshot's header and state in any format
// this binary knows; a newer one is an ErrNewerFormat.
func readSnapshotHeader(r *bufio.Reader) (version uint32, state []byte, err error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, nil, fmt.Errorf("reading the snapshot header: %w", err)
	}
	version = 1
	if n == snapshotMagic {
		var v [4]byte
		if _, err := io.ReadFull(r, v[:]); err != nil {
			return 0, nil, fmt.Errorf("reading the snapshot's format version: %w", err)
		}
		version = binary.BigEndian.Uint32(v[:])
		if version > FormatVersion {
			return version, nil, newerFormat("the snapshot", uint64(version))
		}
		if version < 2 {
			return version, nil, fmt.Errorf("a versioned snapshot header says version %d", version)
		}
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return 0, nil, fmt.Errorf("reading the snapshot header: %w", err)
		}
	}
	size := binary.BigEndian.Uint64(n[:])
	if size > maxSnapshotState {
		return 0, nil, fmt.Errorf("snapshot state of %d bytes is not plausible", size)
	}
	// Read, not allocated up front: a corrupt length must not ask for
	// gigabytes before the data runs out.
	state, err = io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the snapshot state: %w", err)
	}
	if uint64(len(state)) != size {
		return 0, nil, fmt.Errorf("reading the snapshot state: %w", io.ErrUnexpectedEOF)
	}
	return version, state, nil
}
