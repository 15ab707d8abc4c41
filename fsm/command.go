package fsm

import (
	"encoding/binary"
	"encoding/json"

	"github.com/korumdb/korum/internal/jsonx"
	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/validation"
)

// Kind names a command type.
type Kind string

const (
	// KindWrite is a storage write, with the request meta notifications need.
	KindWrite Kind = "write"
	// KindPublish is realtime:publish through the log, as earlier versions
	// proposed it: such entries still apply (and notify) when a log holds
	// them. This version sends publications node to node instead
	// (node/publish.go, DESIGN.md).
	KindPublish Kind = "publish"
	// KindRoomCreated records that a node holds subscribers to a room.
	KindRoomCreated Kind = "room+"
	// KindRoomEmptied records that a node holds no more subscribers to it.
	KindRoomEmptied Kind = "room-"
	// KindNodeHello records a node (re)starting: it joins the topology with
	// this incarnation's birthdate, and the rooms it held before are
	// forgotten, since its connections did not survive.
	KindNodeHello Kind = "hello"
	// KindNodeEvicted removes a node from the topology (dead, or gone
	// gracefully) and drops its rooms.
	KindNodeEvicted Kind = "evicted"
	// KindBatch carries several commands in one log entry, applied in
	// order as if each were its own entry at the batch's index. Nodes
	// gather concurrent proposals into one (group commit): a commit costs
	// a disk write and a round trip whatever its size, so one entry for
	// many commands multiplies throughput. Sub-commands keep their own
	// keys, so deduplication stays per proposal; a batch never nests.
	KindBatch Kind = "batch"
	// KindMS is a memory storage (ms controller) write: Redis-like
	// commands stamped with the proposer's time, applied by memstore.
	KindMS Kind = "ms"
	// KindSecurity changes the security state (users, profiles, roles,
	// credentials, API keys, revoked tokens): package security owns it and
	// applies the command; the fsm only carries it and its snapshot.
	KindSecurity Kind = "sec"
	// KindChanged is the outcome of a write that an external engine
	// (Elasticsearch) already performed: the write's op, index and
	// collection in Write (no bodies), its per-document results with
	// before/after states in Changed. Applying it stores nothing; it is
	// matched against the rooms like an embedded write's results, so that
	// notifications keep the log's order (storage/elasticsearch/DESIGN.md).
	KindChanged Kind = "changed"
	// KindFeature records the cluster's feature version (Feature): the
	// highest format version every member supports, which the leader
	// raises once they all do (format.go). It never decreases. Format
	// version 2: the leader proposes it only when every member reads it.
	KindFeature Kind = "feature"
	// KindSpecs sets or deletes a collection's validation specification
	// (package validation owns it; the proposer checked it). Format
	// version 2.
	KindSpecs Kind = "specs"
)

// Command is one log entry.
type Command struct {
	Kind  Kind           `json:"k"`
	Write *storage.Write `json:"w,omitempty"`
	Meta  *realtime.Meta `json:"m,omitempty"`
	// Silent suppresses notifications (Kuzzle's silent argument).
	Silent  bool        `json:"s,omitempty"`
	Publish *Publish    `json:"p,omitempty"`
	Room    *RoomChange `json:"r,omitempty"`
	Node    string      `json:"n,omitempty"`
	Member  *MemberInfo `json:"mb,omitempty"`
	// Key identifies a proposal (node id + sequence). A command whose key
	// was applied recently is not applied again: its first result is
	// returned. This is what lets a node retry a proposal whose outcome
	// a leader change made unknown, without applying it twice.
	Key string `json:"key,omitempty"`
	// Changed is the outcome a KindChanged entry carries.
	Changed *storage.WriteResult `json:"c,omitempty"`
	// Batch holds the sub-commands of a KindBatch entry.
	Batch []*Command `json:"b,omitempty"`
	// MS is a KindMS entry's memory storage commands.
	MS *memstore.Command `json:"ms,omitempty"`
	// Security is the payload of a KindSecurity command.
	Security *security.Command `json:"sec,omitempty"`
	// Feature is a KindFeature entry's version.
	Feature uint32 `json:"fv,omitempty"`
	// Specs is a KindSpecs entry's change.
	Specs *validation.Command `json:"sp,omitempty"`
}

// MemberInfo describes a node in a hello or an eviction. Date is stamped by
// the proposer (the FSM reads no clock); Depth is the activity log's length
// (cluster.activityDepth), carried in the command so that every replica
// trims the log the same way.
type MemberInfo struct {
	APIAddr     string `json:"api,omitempty"`
	ClusterAddr string `json:"cluster,omitempty"`
	Date        int64  `json:"date"`
	Reason      string `json:"reason,omitempty"`
	// Incarnation, on an eviction, is the birthdate of the incarnation
	// being evicted (0: whichever is current).
	Incarnation int64 `json:"inc,omitempty"`
	Depth       int   `json:"depth,omitempty"`
}

// Publish is a realtime:publish message.
type Publish struct {
	Index      string         `json:"index"`
	Collection string         `json:"collection"`
	ID         string         `json:"_id,omitempty"`
	Body       map[string]any `json:"body"`
}

// RoomChange is a node's first subscriber to a room or its last leaving.
type RoomChange struct {
	ID         string          `json:"id"`
	Index      string          `json:"index,omitempty"`
	Collection string          `json:"collection,omitempty"`
	Canonical  json.RawMessage `json:"canonical,omitempty"`
	Node       string          `json:"node"`
	// Seq orders one node's changes to one room: a change older than the
	// last one applied is ignored, so a late "created" cannot resurrect a
	// room its node already left.
	Seq uint64 `json:"seq"`
}

// Encode serialises a command for the log (codec.go).
func (c *Command) Encode() ([]byte, error) { return c.encodeBinary(make([]byte, 0, 192)) }

// Response is what applying a command returns to its proposer.
type Response struct {
	Write *storage.WriteResult `json:"w,omitempty"`
	// MS holds a KindMS command's replies, one per memory storage command.
	MS []memstore.Reply `json:"ms,omitempty"`
	// Security is a KindSecurity command's security.Result.
	Security json.RawMessage `json:"sec,omitempty"`
	// Dropped lists the documents of a KindChanged entry that were not
	// notified because a later write to them already was (docseq.go).
	Dropped []string `json:"dropped,omitempty"`
	// Existed tells a KindSpecs command whether the collection had a
	// specification before.
	Existed bool `json:"existed,omitempty"`
}

// EncodeBatch builds a KindBatch entry from already encoded commands
// (Command.Encode), without decoding them again: the proposer encodes each
// command once, in its own goroutine, and the batch is their concatenation.
// Each element must be one encoded non-batch command.
func EncodeBatch(cmds [][]byte) []byte {
	n := 16 + len(cmds)*binary.MaxVarintLen32
	for _, c := range cmds {
		n += len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, codecMagic)
	b = appendStr(b, tagKind, string(KindBatch))
	b = append(b, tagBatch)
	b = binary.AppendUvarint(b, uint64(len(cmds)))
	for _, c := range cmds {
		b = appendBlob(b, c)
	}
	return b
}

// SubResult is one sub-command's outcome in a batch's result: what Apply
// would have returned for it alone, either result bytes or an error text.
type SubResult struct {
	Result json.RawMessage `json:"r,omitempty"`
	Err    string          `json:"e,omitempty"`
	// Failed marks an error even when its text is empty.
	Failed bool `json:"f,omitempty"`
}

// encodeBatchResult encodes the per-sub-command results of a batch, each
// a []byte or an error, as {"b":[{"r":...},{"e":"...","f":true}]}.
func encodeBatchResult(rs []any) []byte {
	n := 8
	for _, r := range rs {
		if b, ok := r.([]byte); ok {
			n += len(b) + 8
		} else {
			n += 64
		}
	}
	out := make([]byte, 0, n)
	out = append(out, `{"b":[`...)
	for i, r := range rs {
		if i > 0 {
			out = append(out, ',')
		}
		switch v := r.(type) {
		case []byte:
			if len(v) == 0 {
				out = append(out, "{}"...)
				continue
			}
			out = append(out, `{"r":`...)
			out = append(out, v...)
			out = append(out, '}')
		case error:
			msg, _ := json.Marshal(v.Error())
			out = append(out, `{"e":`...)
			out = append(out, msg...)
			out = append(out, `,"f":true}`...)
		default:
			out = append(out, `{"e":"no result","f":true}`...)
		}
	}
	return append(out, "]}"...)
}

// DecodeBatchResult parses a batch's result into one SubResult per
// sub-command, in order.
func DecodeBatchResult(b []byte) ([]SubResult, error) {
	var r struct {
		B []SubResult `json:"b"`
	}
	// jsonx reads it in one validating pass, where encoding/json scanned
	// and copied it twice on every batch a node proposed.
	if err := jsonx.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return r.B, nil
}

// DecodeResponse parses the bytes Apply returned (possibly forwarded from
// the leader).
func DecodeResponse(b []byte) (*Response, error) {
	var r Response
	if len(b) == 0 {
		return &r, nil
	}
	// The proposer reads every write's result, with its documents'
	// before and after states: jsonx halves that CPU.
	err := jsonx.Unmarshal(b, &r)
	return &r, err
}
