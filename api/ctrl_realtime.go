package api

import (
	"context"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
)

// Realtime is what the realtime controller needs from the node: the local
// hub for this node's subscriptions, and the cluster for publishing and
// counting.
type Realtime interface {
	Hub() *realtime.Hub
	// Publish proposes a realtime:publish.
	Publish(ctx context.Context, index, collection, id string, body map[string]any, meta realtime.Meta) error
	// RoomCount sums a room's subscribers over the cluster; ok is false
	// when the room does not exist anywhere.
	RoomCount(ctx context.Context, roomID string) (count int, ok bool, err error)
	// RoomList is realtime:list: index → collection → room → count.
	RoomList(ctx context.Context) (map[string]map[string]map[string]int, error)
}

// realtimeController is Kuzzle's realtime controller.
type realtimeController struct {
	rt    Realtime
	clock Clock
	// specs: Kuzzle validates a published message like a document.
	specs SpecReader
	// validate is document:validate: Kuzzle's (deprecated) realtime:validate
	// checks a message against the collection's specifications with it.
	validate Handler
}

func (c *realtimeController) actions() map[string]Handler {
	return map[string]Handler{
		"subscribe":   c.subscribe,
		"join":        c.join,
		"unsubscribe": c.unsubscribe,
		"count":       c.count,
		"list":        c.list,
		"validate":    c.validate,
		"publish":     c.publish,
	}
}

func roomIDArg(r *Request) (string, error) {
	body, err := r.RequireBody()
	if err != nil {
		return "", err
	}
	v, ok := body["roomId"]
	if !ok || v == nil {
		return "", kerror.New("api.assert.missing_argument", "body.roomId")
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", kerror.New("api.assert.invalid_type", "body.roomId", "string")
	}
	return s, nil
}

func subscribeOptions(r *Request) (realtime.SubscribeOptions, error) {
	scope, _ := r.Args["scope"].(string)
	users, _ := r.Args["users"].(string)
	s, err := realtime.ParseScope(scope)
	if err != nil {
		return realtime.SubscribeOptions{}, err
	}
	u, err := realtime.ParseUsers(users)
	if err != nil {
		return realtime.SubscribeOptions{}, err
	}
	return realtime.SubscribeOptions{Scope: s, Users: u, Volatile: r.Volatile, Protocol: r.Protocol}, nil
}

// needConn refuses actions that need a persistent connection over HTTP.
func needConn(r *Request) error {
	if r.Conn == nil {
		return kerror.New("api.assert.unsupported_protocol", r.Protocol, "realtime:"+r.Action)
	}
	return nil
}

func (c *realtimeController) subscribe(ctx context.Context, r *Request) (any, error) {
	if err := needConn(r); err != nil {
		return nil, err
	}
	// Kuzzle asserts index, collection, then a body (the filters; {}
	// subscribes to every document).
	index, collection, body, err := targetBody(r, true)
	if err != nil {
		return nil, err
	}
	opts, err := subscribeOptions(r)
	if err != nil {
		return nil, err
	}
	return c.rt.Hub().Subscribe(ctx, r.Conn, index, collection, body, opts)
}

func (c *realtimeController) join(ctx context.Context, r *Request) (any, error) {
	if err := needConn(r); err != nil {
		return nil, err
	}
	id, err := roomIDArg(r)
	if err != nil {
		return nil, err
	}
	opts, err := subscribeOptions(r)
	if err != nil {
		return nil, err
	}
	// A room id names an index and a collection the request does not: the
	// user must be allowed to subscribe there, or a restricted profile
	// could join rooms of collections it may not read.
	if index, collection, ok := c.rt.Hub().RoomTarget(id); ok && !r.Can("realtime", "subscribe", index, collection) {
		return nil, kerror.New("security.rights.forbidden")
	}
	return c.rt.Hub().Join(ctx, r.Conn, id, opts)
}

func (c *realtimeController) unsubscribe(ctx context.Context, r *Request) (any, error) {
	if err := needConn(r); err != nil {
		return nil, err
	}
	id, err := roomIDArg(r)
	if err != nil {
		return nil, err
	}
	if err := c.rt.Hub().Unsubscribe(ctx, r.Conn, id); err != nil {
		return nil, err
	}
	return map[string]any{"roomId": id}, nil
}

func (c *realtimeController) count(ctx context.Context, r *Request) (any, error) {
	id, err := roomIDArg(r)
	if err != nil {
		return nil, err
	}
	n, ok, err := c.rt.RoomCount(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, kerror.New("core.realtime.room_not_found", id)
	}
	return map[string]any{"count": n}, nil
}

// list lists the rooms on the indexes and collections the user may
// subscribe to, as Kuzzle's.
func (c *realtimeController) list(ctx context.Context, r *Request) (any, error) {
	all, err := c.rt.RoomList(ctx)
	if err != nil {
		return nil, err
	}
	for index, cols := range all {
		for col := range cols {
			if !r.Can("realtime", "subscribe", index, col) {
				delete(cols, col)
			}
		}
		if len(cols) == 0 {
			delete(all, index)
		}
	}
	return all, nil
}

func (c *realtimeController) publish(ctx context.Context, r *Request) (any, error) {
	// Kuzzle asserts the body before index and collection.
	body, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	index, collection, err := target(r)
	if err != nil {
		return nil, err
	}
	id, err := r.OptString("_id")
	if err != nil {
		return nil, err
	}
	if spec := c.specs.Spec(index, collection); spec != nil {
		if err := spec.Check(id, body, c.clock.Now()); err != nil {
			return nil, err
		}
		spec.ApplyDefaults(body, false)
	}
	m := meta(c.clock, r)
	src := make(map[string]any, len(body)+1)
	for k, v := range body {
		src[k] = v
	}
	src["_kuzzle_info"] = map[string]any{"author": r.UserID(), "createdAt": m.Timestamp}
	if err := c.rt.Publish(ctx, index, collection, id, src, m); err != nil {
		return nil, err
	}
	return map[string]any{"published": true}, nil
}
