package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	testIndex = "jepsen"
	regColl   = "registers"
	subColl   = "subs"
)

// env is what the workloads share during one nemesis run.
type env struct {
	c         *Cluster
	h         *History
	clustered bool
	opTimeout time.Duration

	mu        sync.Mutex
	subs      SubHistory
	sec       SecHistory
	secPool   []SecToken      // recent tokens, for probes
	secLatest []SecToken      // the tokens the latest acknowledged revocation covers
	jwts      map[int]string  // the admin's token per shard, once locked down (security workload)
	gone      map[string]bool // nodes a nemesis killed for good
	value     atomic.Int64    // unique register values
	docSeq    atomic.Int64    // unique subscription document ids
}

// markGone takes n out of the cluster for the rest of the run.
func (e *env) markGone(n *Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone == nil {
		e.gone = map[string]bool{}
	}
	e.gone[n.Name] = true
}

// live lists the nodes that are part of the run: all but the gone ones.
func (e *env) live() []*Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*Node
	for _, n := range e.c.Nodes {
		if !e.gone[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

// shards is how many independent systems the workloads spread over: one
// cluster, or (standalone) every node on its own.
func (e *env) shards() int {
	if e.clustered {
		return 1
	}
	return len(e.c.Nodes)
}

// route lists the nodes that may serve shard.
func (e *env) route(shard int) []*Node {
	if e.clustered {
		return e.live()
	}
	return []*Node{e.c.Nodes[shard%len(e.c.Nodes)]}
}

// pause waits d or until ctx ends; false when ctx ended.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// conns caches one connection per node for a client.
type conns struct {
	e *env
	m map[string]*Conn
}

func (e *env) conns() conns { return conns{e: e, m: map[string]*Conn{}} }

func (cs conns) get(ctx context.Context, n *Node) (*Conn, error) {
	if c := cs.m[n.Name]; c != nil {
		select {
		case <-c.Closed():
			delete(cs.m, n.Name)
		default:
			return c, nil
		}
	}
	c, err := cs.e.dial(ctx, n)
	if err != nil {
		return nil, err
	}
	cs.m[n.Name] = c
	return c, nil
}

func (cs conns) drop(n string) {
	if c := cs.m[n]; c != nil {
		c.Close()
		delete(cs.m, n)
	}
}

func (cs conns) closeAll() {
	for n := range cs.m {
		cs.drop(n)
	}
}

// dial opens a connection to n whose requests carry the admin's token
// once the security workload locked the cluster down.
func (e *env) dial(ctx context.Context, n *Node) (*Conn, error) {
	c, err := Dial(ctx, n.Name, n.IP)
	if err != nil {
		return nil, err
	}
	c.JWT = e.tokenFor(n)
	return c, nil
}

// tokenFor is the admin's token for requests to n ("" before a lockdown).
func (e *env) tokenFor(n *Node) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clustered || len(e.jwts) == 0 {
		return e.jwts[0]
	}
	for i, m := range e.c.Nodes {
		if m == n {
			return e.jwts[i]
		}
	}
	return ""
}

// setup creates the index and collections on every shard, retrying until
// the bound, then, with lockdown, locks every shard down (securitySetup).
func (e *env) setup(ctx context.Context, bound time.Duration, lockdown bool) error {
	deadline := time.Now().Add(bound)
	for s := 0; s < e.shards(); s++ {
		n := e.route(s)[0]
		for _, req := range []map[string]any{
			{"controller": "index", "action": "create", "index": testIndex},
			{"controller": "collection", "action": "create", "index": testIndex, "collection": regColl},
			{"controller": "collection", "action": "create", "index": testIndex, "collection": subColl},
		} {
			for {
				err := e.once(ctx, n, req)
				var ke *KError
				if err == nil || (errors.As(err, &ke) && ke.ID == "services.storage.index_already_exists") {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("setup on %s: %v", n.Name, err)
				}
				if !pause(ctx, 300*time.Millisecond) {
					return ctx.Err()
				}
			}
		}
		if lockdown {
			if err := e.securitySetup(ctx, s, deadline); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *env) once(ctx context.Context, n *Node, req map[string]any) error {
	c, err := e.dial(ctx, n)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do(ctx, req, e.opTimeout)
	return err
}

// regKey names key k of shard s: a document.
func regKey(s, k int) string { return fmt.Sprintf("r%d-%d", s, k) }

// msRegKey names key k of shard s in the memory storage (ms:set/ms:get):
// the same register, kept in the replicated key-value store instead of a
// document.
func msRegKey(s, k int) string { return fmt.Sprintf("m%d-%d", s, k) }

// isMSKey says whether key is a memory storage key: the register
// workload's ms half, or the ms register workload's (casKey).
func isMSKey(key string) bool { return strings.HasPrefix(key, "m") || strings.HasPrefix(key, "c") }

// registerClient reads and replaces register documents through random nodes until ctx ends.
// Requests use ctx; the loop ends when stop ends, so no request is cut short.
func (e *env) registerClient(ctx, stop context.Context, id int, rng *rand.Rand, keys int) {
	cs := e.conns()
	defer cs.closeAll()
	for stop.Err() == nil {
		shard := rng.IntN(e.shards())
		key := regKey(shard, rng.IntN(keys))
		if rng.IntN(2) == 0 {
			key = msRegKey(shard, rng.IntN(keys))
		}
		nodes := e.route(shard)
		n := nodes[rng.IntN(len(nodes))]
		if rng.IntN(2) == 0 {
			e.readRegister(ctx, cs, id, n, key, "read")
		} else {
			e.writeRegister(ctx, cs, id, n, key)
		}
		if !pause(stop, time.Duration(5+rng.IntN(20))*time.Millisecond) {
			return
		}
	}
}

func (e *env) writeRegister(ctx context.Context, cs conns, id int, n *Node, key string) {
	v := e.value.Add(1)
	op := Op{Client: id, Node: n.Name, Kind: "write", Key: key, Value: v, Call: e.h.Now()}
	c, err := cs.get(ctx, n)
	if err == nil {
		req := map[string]any{"controller": "document", "action": "createOrReplace", "index": testIndex,
			"collection": regColl, "_id": key, "body": map[string]any{"v": v}}
		if isMSKey(key) {
			req = map[string]any{"controller": "ms", "action": "set", "_id": key, "body": map[string]any{"value": v}}
		}
		_, err = c.Do(ctx, req, e.opTimeout)
	}
	op.Return = e.h.Now()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("cancelled: %v", err) // the run ended mid-request: unknown
	}
	op.Outcome = writeOutcome(err)
	if err != nil {
		op.Err = err.Error()
		var ke *KError
		if !errors.As(err, &ke) {
			cs.drop(n.Name)
		}
	}
	e.h.Add(op)
}

// readRegister reads key; kind is "read" or "final-read". It reports success.
func (e *env) readRegister(ctx context.Context, cs conns, id int, n *Node, key, kind string) bool {
	op := Op{Client: id, Node: n.Name, Kind: kind, Key: key, Call: e.h.Now()}
	c, err := cs.get(ctx, n)
	var resp Response
	if err == nil {
		req := map[string]any{"controller": "document", "action": "get", "index": testIndex,
			"collection": regColl, "_id": key}
		if isMSKey(key) {
			req = map[string]any{"controller": "ms", "action": "get", "_id": key}
		}
		resp, err = c.Do(ctx, req, e.opTimeout)
	}
	op.Return = e.h.Now()
	var ke *KError
	switch {
	case err == nil && isMSKey(key):
		// ms:get answers the string stored, or null for an absent key.
		if v, perr := msValue(resp.Result); perr != nil {
			op.Outcome, op.Err = Fail, perr.Error()
		} else {
			op.Outcome, op.Value = OK, v
		}
	case err == nil:
		var doc struct {
			Source struct {
				V int64 `json:"v"`
			} `json:"_source"`
		}
		if jerr := json.Unmarshal(resp.Result, &doc); jerr != nil || doc.Source.V == 0 {
			op.Outcome, op.Err = Fail, fmt.Sprintf("unreadable document: %s", resp.Result)
		} else {
			op.Outcome, op.Value = OK, doc.Source.V
		}
	case errors.As(err, &ke) && (ke.ID == "services.storage.not_found" ||
		ke.ID == "services.storage.unknown_index" || ke.ID == "services.storage.unknown_collection"):
		// The index and collection were created (and acknowledged) before
		// any client ran: their absence is the document's absence.
		op.Outcome, op.Value = OK, 0
	default:
		op.Outcome, op.Err = Fail, err.Error()
		if !errors.As(err, &ke) {
			cs.drop(n.Name)
		}
	}
	e.h.Add(op)
	return op.Outcome == OK
}

// finalReads reads every key through every node that serves it, retrying
// each until it succeeds or the bound passes.
func (e *env) finalReads(ctx context.Context, keys int, keyOf []func(s, k int) string, bound time.Duration) {
	deadline := time.Now().Add(bound)
	cs := e.conns()
	defer cs.closeAll()
	for s := 0; s < e.shards(); s++ {
		for k := 0; k < keys; k++ {
			for _, name := range keyOf {
				key := name(s, k)
				for _, n := range e.route(s) {
					for !e.readRegister(ctx, cs, 1000+k, n, key, "final-read") {
						if time.Now().After(deadline) || !pause(ctx, 200*time.Millisecond) {
							break
						}
					}
				}
			}
		}
	}
}

// subWriter creates documents of random topics through random nodes until ctx ends.
func (e *env) subWriter(ctx, stop context.Context, rng *rand.Rand) {
	cs := e.conns()
	defer cs.closeAll()
	for stop.Err() == nil {
		shard := rng.IntN(e.shards())
		nodes := e.route(shard)
		n := nodes[rng.IntN(len(nodes))]
		w := SubWrite{DocID: fmt.Sprintf("s%d", e.docSeq.Add(1)), Node: n.Name, Shard: shard, Call: e.h.Now()}
		c, err := cs.get(ctx, n)
		if err == nil {
			_, err = c.Do(ctx, map[string]any{"controller": "document", "action": "create", "index": testIndex,
				"collection": subColl, "_id": w.DocID, "body": map[string]any{"topic": fmt.Sprintf("t%d", shard)}}, e.opTimeout)
		}
		w.Return = e.h.Now()
		if ctx.Err() != nil && err != nil {
			err = fmt.Errorf("cancelled: %v", err)
		}
		w.Outcome = writeOutcome(err)
		if err != nil {
			w.Err = err.Error()
			var ke *KError
			if !errors.As(err, &ke) {
				cs.drop(n.Name)
			}
		}
		e.mu.Lock()
		e.subs.Writes = append(e.subs.Writes, w)
		e.mu.Unlock()
		if !pause(stop, time.Duration(20+rng.IntN(30))*time.Millisecond) {
			return
		}
	}
}

// subscriber keeps one subscription alive through random nodes: when its
// connection ends it reconnects and resubscribes, starting a new session.
func (e *env) subscriber(ctx context.Context, id int, rng *rand.Rand) {
	shard := id % e.shards()
	for session := 0; ctx.Err() == nil; {
		nodes := e.route(shard)
		n := nodes[rng.IntN(len(nodes))]
		c, err := e.dial(ctx, n)
		if err != nil {
			pause(ctx, 200*time.Millisecond)
			continue
		}
		resp, err := c.Do(ctx, map[string]any{"controller": "realtime", "action": "subscribe", "index": testIndex,
			"collection": subColl, "body": map[string]any{"equals": map[string]any{"topic": fmt.Sprintf("t%d", shard)}}}, e.opTimeout)
		var sub struct {
			Channel string `json:"channel"`
		}
		if err != nil || json.Unmarshal(resp.Result, &sub) != nil || sub.Channel == "" {
			c.Close()
			pause(ctx, 200*time.Millisecond)
			continue
		}
		s := SubSession{Sub: id, Session: session, Node: n.Name, Shard: shard, From: e.h.Now()}
		var got []Notification
	loop:
		for {
			select {
			case r := <-c.Notifications():
				var doc struct {
					ID string `json:"_id"`
				}
				if r.Room == sub.Channel && json.Unmarshal(r.Result, &doc) == nil {
					got = append(got, Notification{Sub: id, Session: session, DocID: doc.ID, Shard: shard, At: e.h.Now()})
				}
			case <-c.Closed():
				s.Ended = fmt.Sprint(c.Err())
				break loop
			case <-ctx.Done():
				s.Ended = "drained"
				break loop
			}
		}
		s.To = e.h.Now()
		c.Close()
		// Notifications already queued were received before To.
		for drained := false; !drained; {
			select {
			case r := <-c.Notifications():
				var doc struct {
					ID string `json:"_id"`
				}
				if r.Room == sub.Channel && json.Unmarshal(r.Result, &doc) == nil {
					got = append(got, Notification{Sub: id, Session: session, DocID: doc.ID, Shard: shard, At: s.To})
				}
			default:
				drained = true
			}
		}
		e.mu.Lock()
		e.subs.Sessions = append(e.subs.Sessions, s)
		e.subs.Notifications = append(e.subs.Notifications, got...)
		e.mu.Unlock()
		session++
	}
}
