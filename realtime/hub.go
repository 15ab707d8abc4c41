package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime/filter"
)

// Connection is a client connection that can receive notifications.
type Connection interface {
	ID() string
	// Send enqueues msg without blocking. It returns false when the
	// connection is closed or its queue is full; the transport then drops
	// the connection, so a slow consumer never stalls a writer.
	Send(msg []byte) bool
}

// Replicator records room existence in the cluster's replicated state. Only
// a node's first subscriber to a room and its last unsubscribe reach it.
// Seq increases with every call a hub makes, so the state machine can
// discard a stale call that reached the log after a newer one.
type Replicator interface {
	RoomCreated(ctx context.Context, n *filter.Normalized, seq uint64) error
	RoomEmptied(ctx context.Context, roomID string, seq uint64) error
	// Room returns a replicated room by id, for realtime:join of a room
	// this node does not hold yet; nil when it does not exist.
	Room(roomID string) *filter.Normalized
}

// Scope selects which document notifications a channel receives.
type Scope string

// Users selects which user notifications a channel receives.
type Users string

// SubscribeOptions are the per-subscription options of realtime:subscribe.
type SubscribeOptions struct {
	Scope    Scope          // all (default), in, out, none
	Users    Users          // none (default), in, out, all
	Volatile map[string]any // echoed in user notifications
	Protocol string
}

// ParseScope validates a scope argument ("" means all).
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "all":
		return "all", nil
	case "in", "out", "none":
		return Scope(s), nil
	}
	return "", kerror.New("core.realtime.invalid_scope")
}

// ParseUsers validates a users argument ("" means none).
func ParseUsers(s string) (Users, error) {
	switch s {
	case "", "none":
		return "none", nil
	case "in", "out", "all":
		return Users(s), nil
	}
	return "", kerror.New("core.realtime.invalid_users")
}

// Limits bound what one node and one connection may hold.
type Limits struct {
	MaxRooms                int // distinct rooms on this node (Kuzzle's subscriptionRooms)
	MaxSubscriptionsPerConn int
}

// SubscribeResult is realtime:subscribe's result.
type SubscribeResult struct {
	RoomID  string `json:"roomId"`
	Channel string `json:"channel"`
}

type channel struct {
	id       string
	scope    Scope
	users    Users
	members  map[string]Connection
	volatile map[string]map[string]any // per connection, for user notifications
}

type room struct {
	norm     *filter.Normalized
	channels map[string]*channel
	conns    map[string]int // connection id → channels it holds here
	// ready is closed once the room's creation is replicated; replErr is
	// its outcome. Later subscribers wait for it so none returns before
	// the room exists cluster-wide.
	ready   chan struct{}
	replErr error
	// established is set once the room's creation is replicated (and
	// fenced) while the room is still here; collState counts such rooms.
	established bool
}

// collKey names a collection in the hub's per-collection counters.
type collKey struct{ index, collection string }

// collState counts this node's rooms on one collection, for the publish
// fence (see SetFence).
type collState struct {
	rooms       int    // rooms in h.rooms, established or not
	established int    // rooms whose replication (and fence) completed
	drops       uint64 // rooms removed so far
}

type connState struct {
	conn  Connection
	rooms map[string]struct{}
	subs  int
}

// Hub holds this node's rooms, channels and subscribed connections.
type Hub struct {
	node   string
	engine *filter.Engine
	repl   Replicator
	limits Limits
	log    *slog.Logger
	now    func() time.Time

	mu    sync.RWMutex
	rooms map[string]*room
	conns map[string]*connState
	seq   atomic.Uint64
	relay func(UserEvent)
	colls map[collKey]*collState
	fence func(context.Context)

	delivered atomic.Uint64
	dropped   atomic.Uint64
}

// NewHub builds a hub. now stamps user notifications, which happen outside
// the log.
func NewHub(node string, engine *filter.Engine, repl Replicator, limits Limits, log *slog.Logger) *Hub {
	return &Hub{node: node, engine: engine, repl: repl, limits: limits, log: log, now: time.Now,
		rooms: map[string]*room{}, conns: map[string]*connState{}, colls: map[collKey]*collState{}}
}

// Stats reports delivery counters.
func (h *Hub) Stats() (delivered, dropped uint64) { return h.delivered.Load(), h.dropped.Load() }

// DSLError converts a filter error into Kuzzle's koncorde_dsl_error.
func DSLError(err error) error {
	var pe *filter.ParseError
	if errors.As(err, &pe) {
		return kerror.New("api.assert.koncorde_dsl_error", pe.Error())
	}
	return err
}

// Subscribe normalizes a filter and subscribes c to its room.
func (h *Hub) Subscribe(ctx context.Context, c Connection, index, collection string, f any, opts SubscribeOptions) (SubscribeResult, error) {
	n, err := h.engine.Normalize(index, collection, f)
	if err != nil {
		return SubscribeResult{}, DSLError(err)
	}
	return h.join(ctx, c, n, opts)
}

// Join subscribes c to an existing room, local or replicated.
func (h *Hub) Join(ctx context.Context, c Connection, roomID string, opts SubscribeOptions) (SubscribeResult, error) {
	h.mu.RLock()
	r := h.rooms[roomID]
	h.mu.RUnlock()
	var n *filter.Normalized
	if r != nil {
		n = r.norm
	} else if h.repl != nil {
		n = h.repl.Room(roomID)
	}
	if n == nil {
		return SubscribeResult{}, kerror.New("core.realtime.room_not_found", roomID)
	}
	return h.join(ctx, c, n, opts)
}

// RoomTarget returns the index and collection of a room, local or
// replicated.
func (h *Hub) RoomTarget(roomID string) (index, collection string, ok bool) {
	h.mu.RLock()
	r := h.rooms[roomID]
	h.mu.RUnlock()
	if r != nil {
		return r.norm.Index, r.norm.Collection, true
	}
	if h.repl != nil {
		if n := h.repl.Room(roomID); n != nil {
			return n.Index, n.Collection, true
		}
	}
	return "", "", false
}

func channelID(roomID string, s Scope, u Users) string {
	// A stable number per option pair, so equal options share a channel on
	// every node.
	n := 0
	switch s {
	case "in":
		n = 4
	case "out":
		n = 8
	case "none":
		n = 12
	}
	switch u {
	case "in":
		n++
	case "out":
		n += 2
	case "all":
		n += 3
	}
	return roomID + "-" + strconv.Itoa(n)
}

func (h *Hub) join(ctx context.Context, c Connection, n *filter.Normalized, opts SubscribeOptions) (SubscribeResult, error) {
	if opts.Scope == "" {
		opts.Scope = "all"
	}
	if opts.Users == "" {
		opts.Users = "none"
	}
	h.mu.Lock()
	cs := h.conns[c.ID()]
	if cs == nil {
		cs = &connState{conn: c, rooms: map[string]struct{}{}}
		h.conns[c.ID()] = cs
	}
	r := h.rooms[n.ID]
	created := false
	var cst *collState
	var establishedBefore int
	var dropsBefore uint64
	if r == nil {
		if h.limits.MaxRooms > 0 && len(h.rooms) >= h.limits.MaxRooms {
			h.mu.Unlock()
			return SubscribeResult{}, kerror.New("core.realtime.too_many_rooms")
		}
		r = &room{norm: n, channels: map[string]*channel{}, conns: map[string]int{}, ready: make(chan struct{})}
		h.rooms[n.ID] = r
		h.engine.Store(n)
		created = true
		cst = h.collLocked(n)
		cst.rooms++
		establishedBefore, dropsBefore = cst.established, cst.drops
	}
	chID := channelID(n.ID, opts.Scope, opts.Users)
	ch := r.channels[chID]
	if ch == nil {
		ch = &channel{id: chID, scope: opts.Scope, users: opts.Users,
			members: map[string]Connection{}, volatile: map[string]map[string]any{}}
		r.channels[chID] = ch
	}
	if _, already := ch.members[c.ID()]; !already {
		if h.limits.MaxSubscriptionsPerConn > 0 && cs.subs >= h.limits.MaxSubscriptionsPerConn {
			h.dropEmptyRoomLocked(r)
			h.mu.Unlock()
			return SubscribeResult{}, kerror.New("core.realtime.too_many_subscriptions", strconv.Itoa(h.limits.MaxSubscriptionsPerConn))
		}
		ch.members[c.ID()] = c
		ch.volatile[c.ID()] = opts.Volatile
		r.conns[c.ID()]++
		cs.rooms[n.ID] = struct{}{}
		cs.subs++
	}
	ready := r.ready
	h.mu.Unlock()

	if created {
		var err error
		if h.repl != nil {
			err = h.repl.RoomCreated(ctx, n, h.seq.Add(1))
		}
		if err == nil {
			h.fenceNew(ctx, cst, establishedBefore, dropsBefore)
		}
		h.mu.Lock()
		r.replErr = err
		close(ready)
		if err != nil {
			h.dropRoomLocked(r)
		} else if h.rooms[n.ID] == r {
			r.established = true
			cst.established++
		}
		h.mu.Unlock()
		if err != nil {
			return SubscribeResult{}, fmt.Errorf("replicating room %s: %w", n.ID, err)
		}
	} else {
		select {
		case <-ready:
		case <-ctx.Done():
			h.leave(c.ID(), n.ID, false)
			return SubscribeResult{}, ctx.Err()
		}
		if r.replErr != nil {
			return SubscribeResult{}, r.replErr
		}
	}
	h.notifyUser(r, "in", "subscribe", opts.Volatile, opts.Protocol)
	return SubscribeResult{RoomID: n.ID, Channel: chID}, nil
}

// dropEmptyRoomLocked forgets a room that was created for a subscription
// that then failed before anyone joined it.
func (h *Hub) dropEmptyRoomLocked(r *room) {
	if len(r.conns) == 0 {
		if r.ready != nil {
			select {
			case <-r.ready:
			default:
				r.replErr = errors.New("subscription rejected")
				close(r.ready)
			}
		}
		h.removeRoomLocked(r)
	}
}

// dropRoomLocked removes a room and every subscription to it.
func (h *Hub) dropRoomLocked(r *room) {
	for connID, n := range r.conns {
		if cs := h.conns[connID]; cs != nil {
			delete(cs.rooms, r.norm.ID)
			cs.subs -= n
		}
	}
	h.removeRoomLocked(r)
}

// Unsubscribe removes c's subscriptions to roomID.
func (h *Hub) Unsubscribe(ctx context.Context, c Connection, roomID string) error {
	h.mu.RLock()
	r := h.rooms[roomID]
	var subscribed bool
	if r != nil {
		_, subscribed = r.conns[c.ID()]
	}
	h.mu.RUnlock()
	if r == nil {
		if h.repl == nil || h.repl.Room(roomID) == nil {
			return kerror.New("core.realtime.room_not_found", roomID)
		}
	}
	if !subscribed {
		return kerror.New("core.realtime.not_subscribed", c.ID(), roomID)
	}
	if emptied := h.leave(c.ID(), roomID, true); emptied && h.repl != nil {
		if err := h.repl.RoomEmptied(ctx, roomID, h.seq.Add(1)); err != nil {
			return fmt.Errorf("replicating the end of room %s: %w", roomID, err)
		}
	}
	return nil
}

// leave removes a connection from a room and reports whether the room was
// emptied (and so forgotten locally).
func (h *Hub) leave(connID, roomID string, notify bool) bool {
	h.mu.Lock()
	r, vol, emptied := h.leaveLocked(connID, roomID)
	h.mu.Unlock()
	if r != nil && notify && !emptied {
		h.notifyUser(r, "out", "unsubscribe", vol, "")
	}
	return emptied
}

// leaveLocked does leave's work under h.mu; r is nil when the connection
// was not in the room. vol is the connection's volatile data there.
func (h *Hub) leaveLocked(connID, roomID string) (r *room, vol map[string]any, emptied bool) {
	r = h.rooms[roomID]
	cs := h.conns[connID]
	if r == nil || cs == nil {
		return nil, nil, false
	}
	for _, ch := range r.channels {
		if _, ok := ch.members[connID]; ok {
			vol = ch.volatile[connID]
			delete(ch.members, connID)
			delete(ch.volatile, connID)
			if len(ch.members) == 0 {
				delete(r.channels, ch.id)
			}
		}
	}
	cs.subs -= r.conns[connID]
	delete(r.conns, connID)
	delete(cs.rooms, roomID)
	if len(cs.rooms) == 0 {
		delete(h.conns, connID)
	}
	emptied = len(r.conns) == 0
	if emptied {
		h.removeRoomLocked(r)
	}
	return r, vol, emptied
}

// Disconnect drops every subscription of a closed connection, under one
// acquisition of the hub's lock: when many clients drop at once (a load
// balancer restarting), taking it per room queued the state machine's
// matching (a reader) behind thousands of writers. Replication of emptied
// rooms runs in the background: a closing socket must not wait for the
// cluster.
func (h *Hub) Disconnect(c Connection) {
	type left struct {
		r   *room
		vol map[string]any
	}
	type gone struct {
		id  string
		seq uint64
	}
	var still []left
	var emptied []gone
	h.mu.Lock()
	if cs := h.conns[c.ID()]; cs != nil {
		ids := make([]string, 0, len(cs.rooms))
		for id := range cs.rooms {
			ids = append(ids, id)
		}
		for _, id := range ids {
			r, vol, empty := h.leaveLocked(c.ID(), id)
			switch {
			case r == nil:
			case empty:
				// Numbered under the lock: a subscriber who recreates the
				// room after it is released gets a later seq, so its
				// "created" outranks this "emptied" in the state machine.
				emptied = append(emptied, gone{id, h.seq.Add(1)})
			default:
				still = append(still, left{r, vol})
			}
		}
	}
	h.mu.Unlock()
	for _, l := range still {
		h.notifyUser(l.r, "out", "unsubscribe", l.vol, "")
	}
	if h.repl == nil {
		return
	}
	for _, g := range emptied {
		// One goroutine per room: the node batches concurrent proposals,
		// so they leave together instead of one commit after another.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.repl.RoomEmptied(ctx, g.id, g.seq); err != nil {
				h.log.Warn("could not replicate an emptied room", "room", g.id, "err", err)
			}
		}()
	}
}

// Count returns the number of connections subscribed to a room on this node.
func (h *Hub) Count(roomID string) (int, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[roomID]
	if r == nil {
		return 0, false
	}
	return len(r.conns), true
}

// RoomCounts lists this node's rooms: index → collection → room → count.
func (h *Hub) RoomCounts() map[string]map[string]map[string]int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := map[string]map[string]map[string]int{}
	for id, r := range h.rooms {
		byColl := out[r.norm.Index]
		if byColl == nil {
			byColl = map[string]map[string]int{}
			out[r.norm.Index] = byColl
		}
		if byColl[r.norm.Collection] == nil {
			byColl[r.norm.Collection] = map[string]int{}
		}
		byColl[r.norm.Collection][id] = len(r.conns)
	}
	return out
}

// Totals returns how many rooms this node holds and how many
// subscriptions they have, without RoomCounts' copy of every room.
func (h *Hub) Totals() (rooms, subscriptions int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, r := range h.rooms {
		subscriptions += len(r.conns)
	}
	return len(h.rooms), subscriptions
}

// LocalRooms returns the ids of the rooms this node holds, sorted.
func (h *Hub) LocalRooms() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.rooms))
	for id := range h.rooms {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (h *Hub) send(c Connection, msg []byte) {
	if c.Send(msg) {
		h.delivered.Add(1)
	} else {
		h.dropped.Add(1)
	}
}

// UserEvent is a user notification (someone entered or left a room). It
// is relayed to the other nodes holding the room, which dispatch it to
// their own channels.
type UserEvent struct {
	RoomID, Index, Collection string
	User                      string // in or out
	Action                    string // subscribe or unsubscribe
	Protocol, Node            string
	Count                     int
	Timestamp                 int64
	Volatile                  map[string]any
}

// SetUserRelay sets where user events also go (the other nodes).
func (h *Hub) SetUserRelay(relay func(UserEvent)) {
	h.mu.Lock()
	h.relay = relay
	h.mu.Unlock()
}

func (h *Hub) notifyUser(r *room, user, action string, volatile map[string]any, protocol string) {
	h.mu.RLock()
	ev := UserEvent{RoomID: r.norm.ID, Index: r.norm.Index, Collection: r.norm.Collection, User: user,
		Action: action, Protocol: protocolOr(protocol), Node: h.node, Count: len(r.conns),
		Timestamp: h.now().UnixMilli(), Volatile: volatile}
	relay := h.relay
	h.mu.RUnlock()
	h.DispatchUser(ev)
	if relay != nil {
		relay(ev)
	}
}

// DispatchUser delivers a user event to this node's channels of its room
// that asked for such events.
func (h *Hub) DispatchUser(ev UserEvent) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[ev.RoomID]
	if r == nil {
		return
	}
	n := userNotification{Status: 200, Timestamp: ev.Timestamp, Volatile: ev.Volatile,
		Index: ev.Index, Collection: ev.Collection, Controller: "realtime", Action: ev.Action,
		Protocol: ev.Protocol, Type: "user", User: ev.User, Node: ev.Node}
	n.Result.Count = ev.Count
	var body []byte
	for _, ch := range r.channels {
		if ch.users == "none" || (ch.users != "all" && string(ch.users) != ev.User) {
			continue
		}
		if body == nil {
			body = encodeBody(n)
		}
		msg := appendRoom(body, ch.id)
		for _, c := range ch.members {
			h.send(c, msg)
		}
	}
}

// DocumentChanged matches an applied write against this node's rooms and
// dispatches notifications. It is called in log order and never blocks on a
// connection.
func (h *Hub) DocumentChanged(ev DocumentEvent) {
	var inBuf, outBuf []string
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.rooms) == 0 {
		return
	}
	for i := range ev.Changes {
		ch := &ev.Changes[i]
		inBuf, outBuf = inBuf[:0], outBuf[:0]
		if ch.After != nil {
			inBuf = h.engine.AppendTest(inBuf, ev.Index, ev.Collection, ch.ID, ch.After)
		}
		if ch.Before != nil {
			outBuf = h.engine.AppendTest(outBuf, ev.Index, ev.Collection, ch.ID, ch.Before)
		}
		if ch.After == nil {
			// A deletion: every room the document matched sees it leave.
			h.dispatch(ev, ch, outBuf, "out", ch.Before)
			continue
		}
		h.dispatch(ev, ch, inBuf, "in", ch.After)
		if len(outBuf) > 0 {
			outBuf = without(outBuf, inBuf)
			h.dispatch(ev, ch, outBuf, "out", ch.After)
		}
	}
}

func without(all, remove []string) []string {
	out := all[:0]
	for _, id := range all {
		keep := true
		for _, r := range remove {
			if r == id {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, id)
		}
	}
	return out
}

func (h *Hub) dispatch(ev DocumentEvent, ch *Change, rooms []string, scope string, source map[string]any) {
	var body []byte
	for _, id := range rooms {
		r := h.rooms[id]
		if r == nil {
			continue
		}
		for _, c := range r.channels {
			if c.scope == "none" || (c.scope != "all" && string(c.scope) != scope) {
				continue
			}
			if body == nil {
				body = encodeBody(docNotification{Status: 200, RequestID: ev.Meta.RequestID,
					Timestamp: ev.Meta.Timestamp, Volatile: ev.Meta.Volatile, Index: ev.Index,
					Collection: ev.Collection, Controller: controllerOr(ev.Meta.Controller, ch.Action),
					Action: ch.Action, Protocol: protocolOr(ev.Meta.Protocol), Scope: scope,
					Result: docResult{ID: ch.ID, Source: source, Version: ch.Version, UpdatedFields: ch.UpdatedFields},
					Type:   "document", Event: eventOf(ch.Action), Node: ev.Meta.Node})
			}
			msg := appendRoom(body, c.id)
			for _, conn := range c.members {
				h.send(conn, msg)
			}
		}
	}
}

func controllerOr(c, action string) string {
	if c != "" {
		return c
	}
	if action == "publish" {
		return "realtime"
	}
	return "document"
}

// SetFence sets what a subscriber to a new room waits for, after the room's
// creation is committed, when other nodes might not send this node the
// collection's publications yet (see fenceNew). The node sets it to "every
// other node has applied the log this far".
func (h *Hub) SetFence(fence func(context.Context)) {
	h.mu.Lock()
	h.fence = fence
	h.mu.Unlock()
}

// fenceNew runs the fence for a room whose creation was just committed,
// unless another room of this node on the same collection was established
// before it and none has gone since. In that case every node that has not
// applied the new room's entry yet still has that other room, which was
// committed before and can only leave after: it already sends the
// collection's publications here, where they are matched against every
// local room. Otherwise this room may be the only reason for others to send
// here, and a publication invoked after subscribe returns must not miss it.
func (h *Hub) fenceNew(ctx context.Context, cst *collState, establishedBefore int, dropsBefore uint64) {
	h.mu.RLock()
	fence, dropped := h.fence, cst.drops != dropsBefore
	h.mu.RUnlock()
	if fence != nil && (establishedBefore == 0 || dropped) {
		fence(ctx)
	}
}

func (h *Hub) collLocked(n *filter.Normalized) *collState {
	k := collKey{n.Index, n.Collection}
	cst := h.colls[k]
	if cst == nil {
		cst = &collState{}
		h.colls[k] = cst
	}
	return cst
}

// removeRoomLocked forgets a room and counts its departure.
func (h *Hub) removeRoomLocked(r *room) {
	delete(h.rooms, r.norm.ID)
	h.engine.Remove(r.norm.ID)
	k := collKey{r.norm.Index, r.norm.Collection}
	if cst := h.colls[k]; cst != nil {
		cst.rooms--
		cst.drops++
		if r.established {
			cst.established--
		}
		if cst.rooms <= 0 {
			delete(h.colls, k)
		}
	}
}
