package fsm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/korumdb/korum/internal/jsonx"
	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/validation"
)

// The log's command format. Every node decodes every command, on every
// apply and again on every replay, so the decoding cost is paid three
// times per command in a 3-node cluster and once more per command of
// history by each node that joins from the log. encoding/json spent about
// 60% of ApplyBatch there; this binary form is read without reflection.
//
// An encoded command is codecMagic then fields, each a tag byte and its
// value, in any order: strings and blobs are a uvarint length then the
// bytes, integers uvarints (zigzag for signed ones). The rare or open
// shaped parts (a storage write, a member, a publish body, volatile
// metadata) are carried as JSON blobs: they keep encoding/json's exact
// semantics, numbers as float64 included. Entries written in the earlier
// all-JSON form start with '{' and still decode, so a log that spans an
// upgrade replays.
const codecMagic = 0xB1

const (
	tagKind = iota + 1
	tagKey
	tagSilent
	tagNode
	tagWrite    // JSON storage.Write
	tagMeta     // requestId, timestamp, controller, action, protocol, node, volatile (JSON, may be empty)
	tagPublish  // index, collection, id, body (JSON)
	tagRoom     // id, index, collection, canonical, node, seq
	tagMember   // JSON MemberInfo
	tagBatch    // count, then each sub-command as a blob
	tagMS       // JSON memstore.Command
	tagSecurity // JSON security.Command
	tagChanged  // JSON storage.WriteResult (a "changed" entry's outcome)
	// Format version 2 (format.go). Tags are only ever appended: a tag's
	// number is its meaning in every log ever written.
	tagVersion // the entry's format version, first, only when above 1
	tagFeature // a KindFeature entry's agreed version (uvarint)
	tagSpecs   // JSON validation.Command
)

// maxBatch bounds the sub-commands a decoder will allocate room for, so a
// corrupt count cannot ask for gigabytes.
const maxBatch = 1 << 20

func (c *Command) encodeBinary(b []byte) ([]byte, error) {
	b = append(b, codecMagic)
	// An entry that needs a newer format says so before anything else, so
	// that a binary that does not read it stops on this field rather than
	// half-decode the rest. Version 1 entries carry no version and stay
	// byte for byte what v0.2.0 wrote (and reads).
	if v := c.Version(); v > 1 {
		b = binary.AppendUvarint(append(b, tagVersion), uint64(v))
	}
	b = appendStr(b, tagKind, string(c.Kind))
	if c.Key != "" {
		b = appendStr(b, tagKey, c.Key)
	}
	if c.Silent {
		b = append(b, tagSilent)
	}
	if c.Node != "" {
		b = appendStr(b, tagNode, c.Node)
	}
	if c.Write != nil {
		j, err := json.Marshal(c.Write)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagWrite), j)
	}
	if m := c.Meta; m != nil {
		var vol []byte
		if len(m.Volatile) > 0 {
			var err error
			if vol, err = json.Marshal(m.Volatile); err != nil {
				return nil, err
			}
		}
		b = append(b, tagMeta)
		b = appendBlob(b, []byte(m.RequestID))
		b = binary.AppendVarint(b, m.Timestamp)
		for _, s := range []string{m.Controller, m.Action, m.Protocol, m.Node} {
			b = appendBlob(b, []byte(s))
		}
		b = appendBlob(b, vol)
	}
	if p := c.Publish; p != nil {
		body, err := json.Marshal(p.Body)
		if err != nil {
			return nil, err
		}
		b = append(b, tagPublish)
		for _, s := range []string{p.Index, p.Collection, p.ID} {
			b = appendBlob(b, []byte(s))
		}
		b = appendBlob(b, body)
	}
	if r := c.Room; r != nil {
		b = append(b, tagRoom)
		for _, s := range []string{r.ID, r.Index, r.Collection, string(r.Canonical), r.Node} {
			b = appendBlob(b, []byte(s))
		}
		b = binary.AppendUvarint(b, r.Seq)
	}
	if c.Member != nil {
		j, err := json.Marshal(c.Member)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagMember), j)
	}
	if c.MS != nil {
		j, err := json.Marshal(c.MS)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagMS), j)
	}
	if c.Security != nil {
		j, err := json.Marshal(c.Security)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagSecurity), j)
	}
	if c.Changed != nil {
		j, err := json.Marshal(c.Changed)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagChanged), j)
	}
	if c.Feature != 0 {
		b = binary.AppendUvarint(append(b, tagFeature), uint64(c.Feature))
	}
	if c.Specs != nil {
		j, err := json.Marshal(c.Specs)
		if err != nil {
			return nil, err
		}
		b = appendBlob(append(b, tagSpecs), j)
	}
	if len(c.Batch) > 0 {
		b = append(b, tagBatch)
		b = binary.AppendUvarint(b, uint64(len(c.Batch)))
		for _, sc := range c.Batch {
			if sc == nil {
				return nil, errors.New("fsm: nil command in a batch")
			}
			sub, err := sc.encodeBinary(nil)
			if err != nil {
				return nil, err
			}
			b = appendBlob(b, sub)
		}
	}
	return b, nil
}

func appendStr(b []byte, tag byte, s string) []byte {
	return appendBlob(append(b, tag), []byte(s))
}

func appendBlob(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

// DecodeCommand reads a log entry's command in either format.
func DecodeCommand(data []byte) (*Command, error) { return decodeCommand(data, false) }

func decodeCommand(data []byte, inBatch bool) (*Command, error) {
	c := new(Command)
	if len(data) > 0 && data[0] == codecMagic {
		return c, c.decodeBinary(data[1:], inBatch)
	}
	return c, json.Unmarshal(data, c)
}

var errTruncated = errors.New("truncated command")

// reader walks an encoded command. Its first error sticks, and every read
// after it returns zero values, so decoding code checks once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 { return number(r, binary.Uvarint) }
func (r *reader) varint() int64   { return number(r, binary.Varint) }

func number[T uint64 | int64](r *reader, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// blob returns the next length-prefixed bytes, aliasing the input.
func (r *reader) blob() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail(errTruncated)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) str() string { return string(r.blob()) }

// json decodes the next blob into v; an empty blob leaves v alone.
func (r *reader) json(v any) { r.decode(v, json.Unmarshal) }

func (r *reader) decode(v any, unmarshal func([]byte, any) error) {
	p := r.blob()
	if r.err != nil || len(p) == 0 {
		return
	}
	if err := unmarshal(p, v); err != nil {
		r.fail(err)
	}
}

// jsonx reads what r.json reads, with jsonx.Unmarshal: for the payloads
// of document writes and publishes, which every replica decodes for every
// entry. Only types its fuzz targets compare with encoding/json go through
// it (storage.Write, and maps of any).
func (r *reader) jsonx(v any) { r.decode(v, jsonx.Unmarshal) }

// decodeBinary reads fields; inBatch forbids a batch inside a batch, which
// the state machine rejects anyway, so that nesting cannot recurse deeply.
func (c *Command) decodeBinary(data []byte, inBatch bool) error {
	r := &reader{b: data}
	for len(r.b) > 0 && r.err == nil {
		tag := r.b[0]
		r.b = r.b[1:]
		switch tag {
		case tagKind:
			c.Kind = Kind(r.str())
		case tagKey:
			c.Key = r.str()
		case tagSilent:
			c.Silent = true
		case tagNode:
			c.Node = r.str()
		case tagWrite:
			c.Write = new(storage.Write)
			r.jsonx(c.Write)
		case tagMeta:
			m := &realtime.Meta{RequestID: r.str(), Timestamp: r.varint()}
			m.Controller, m.Action, m.Protocol, m.Node = r.str(), r.str(), r.str(), r.str()
			r.jsonx(&m.Volatile)
			c.Meta = m
		case tagPublish:
			p := &Publish{Index: r.str(), Collection: r.str(), ID: r.str()}
			r.jsonx(&p.Body)
			c.Publish = p
		case tagRoom:
			rc := &RoomChange{ID: r.str(), Index: r.str(), Collection: r.str()}
			if canon := r.blob(); len(canon) > 0 {
				// Checked as the JSON form was: the state hands it out as
				// JSON (realtime:list, snapshots).
				if !json.Valid(canon) {
					r.fail(errors.New("a room's canonical filter is not JSON"))
					break
				}
				rc.Canonical = json.RawMessage(string(canon))
			}
			rc.Node, rc.Seq = r.str(), r.uvarint()
			c.Room = rc
		case tagMember:
			c.Member = new(MemberInfo)
			r.json(c.Member)
		case tagSecurity:
			c.Security = new(security.Command)
			r.json(c.Security)
		case tagChanged:
			c.Changed = new(storage.WriteResult)
			r.json(c.Changed)
		case tagBatch:
			if inBatch {
				r.fail(errors.New("a batch inside a batch"))
				break
			}
			n := r.uvarint()
			if n > maxBatch || n > uint64(len(r.b)) {
				r.fail(fmt.Errorf("a batch of %d commands in %d bytes", n, len(r.b)))
				break
			}
			c.Batch = make([]*Command, 0, n)
			for range n {
				sub := r.blob()
				if r.err != nil {
					break
				}
				sc, err := decodeCommand(sub, true)
				if err != nil {
					r.fail(fmt.Errorf("sub-command %d: %w", len(c.Batch), err))
					break
				}
				c.Batch = append(c.Batch, sc)
			}
		case tagMS:
			c.MS = new(memstore.Command)
			r.json(c.MS)
		case tagVersion:
			if v := r.uvarint(); v > FormatVersion {
				r.fail(newerFormat("the entry", v))
			}
		case tagFeature:
			v := r.uvarint()
			if v > 1<<31 {
				r.fail(fmt.Errorf("feature version %d is not plausible", v))
				break
			}
			c.Feature = uint32(v)
		case tagSpecs:
			c.Specs = new(validation.Command)
			r.json(c.Specs)
		default:
			r.fail(fmt.Errorf("unknown field %d", tag))
		}
	}
	return r.err
}
