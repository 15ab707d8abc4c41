package api

import (
	"context"
	"encoding/json"
	"runtime"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
)

func (rt *Router) registerServer() {
	rt.handle("server", "now", func(ctx context.Context, r *Request) (any, error) {
		return map[string]any{"now": rt.b.Now().UnixMilli()}, nil
	})
	rt.handle("server", "info", func(ctx context.Context, r *Request) (any, error) {
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		return map[string]any{"serverInfo": map[string]any{
			"kuzzle": map[string]any{
				"version":     rt.b.Version(),
				"api":         map[string]any{"routes": rt.publicAPI()},
				"nodeVersion": runtime.Version(),
				"memoryUsed":  mem.Sys,
				"uptime":      time.Since(rt.b.StartedAt()).String(),
				"plugins":     map[string]any{},
				"system":      map[string]any{"cpus": runtime.NumCPU()},
				"product":     "korum",
			},
			"services": map[string]any{"storageEngine": map[string]any{"type": "embedded"}},
		}}, nil
	})
	rt.handle("server", "publicApi", func(ctx context.Context, r *Request) (any, error) {
		return rt.publicAPI(), nil
	})
	rt.handle("server", "healthCheck", func(ctx context.Context, r *Request) (any, error) {
		status := "green"
		if rt.b.Ready() != nil {
			status = "red"
		}
		return map[string]any{"status": status, "services": map[string]any{
			"storageEngine": status, "internalCache": "green", "memoryStorage": "green"}}, nil
	})
}

// publicAPI describes every action and its HTTP routes, the shape the
// SDKs' HTTP protocol builds its URLs from (server:publicApi).
func (rt *Router) publicAPI() map[string]map[string]map[string]any {
	out := map[string]map[string]map[string]any{}
	for c, actions := range rt.handlers {
		out[c] = map[string]map[string]any{}
		for a := range actions {
			out[c][a] = map[string]any{"controller": c, "action": a, "http": []any{}}
		}
	}
	for _, r := range httpRoutes {
		if def, ok := out[r.controller][r.action]; ok {
			def["http"] = append(def["http"].([]any), map[string]string{"verb": r.method, "url": r.path})
		}
	}
	return out
}

func (rt *Router) registerIndex() {
	rt.handle("index", "create", func(ctx context.Context, r *Request) (any, error) {
		index, err := r.String("index")
		if err != nil {
			return nil, err
		}
		_, err = rt.write(ctx, r, storage.Write{Op: storage.OpIndexCreate, Index: index})
		return nil, err
	})
	rt.handle("index", "delete", func(ctx context.Context, r *Request) (any, error) {
		index, err := r.String("index")
		if err != nil {
			return nil, err
		}
		if err := rt.requireIndex(ctx, index); err != nil {
			return nil, err
		}
		_, err = rt.write(ctx, r, storage.Write{Op: storage.OpIndexDelete, Indexes: []string{index}})
		if err != nil {
			return nil, err
		}
		return map[string]any{"acknowledged": true}, nil
	})
	rt.handle("index", "exists", func(ctx context.Context, r *Request) (any, error) {
		index, err := r.String("index")
		if err != nil {
			return nil, err
		}
		if err := rt.b.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		return rt.b.IndexExists(ctx, index)
	})
	rt.handle("index", "list", func(ctx context.Context, r *Request) (any, error) {
		if err := rt.b.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		list, err := rt.b.ListIndexes(ctx)
		if list == nil {
			list = []string{}
		}
		return map[string]any{"indexes": list}, err
	})
	rt.handle("index", "mDelete", func(ctx context.Context, r *Request) (any, error) {
		body, err := r.RequireBody()
		if err != nil {
			return nil, err
		}
		indexes, err := BodyStrings(body, "indexes")
		if err != nil {
			return nil, err
		}
		res, err := rt.write(ctx, r, storage.Write{Op: storage.OpIndexDelete, Indexes: indexes})
		if err != nil {
			return nil, err
		}
		deleted := []string{}
		for _, it := range res.Items {
			if it.Err == nil {
				deleted = append(deleted, it.ID)
			}
		}
		return map[string]any{"deleted": deleted}, nil
	})
}

func (rt *Router) requireIndex(ctx context.Context, index string) error {
	if err := rt.b.ReadBarrier(ctx); err != nil {
		return err
	}
	ok, err := rt.b.IndexExists(ctx, index)
	if err != nil {
		return err
	}
	if !ok {
		return kerror.New("services.storage.unknown_index", index)
	}
	return nil
}

// mappingsOf accepts Kuzzle 2's {mappings, settings} body and the older
// form where the body is the mapping itself.
func mappingsOf(body map[string]any) (json.RawMessage, error) {
	m := body
	if inner, ok := body["mappings"]; ok {
		mm, ok := inner.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.mappings", "object")
		}
		m = mm
	} else if _, ok := body["settings"]; ok {
		m = map[string]any{}
	}
	return json.Marshal(m)
}

func (rt *Router) registerCollection() {
	createOrUpdate := func(op storage.Op) Handler {
		return func(ctx context.Context, r *Request) (any, error) {
			index, collection, body, err := targetBody(r, false)
			if err != nil {
				return nil, err
			}
			m, err := mappingsOf(body)
			if err != nil {
				return nil, err
			}
			if _, err := rt.write(ctx, r, storage.Write{Op: op, Index: index, Collection: collection, Mappings: m}); err != nil {
				return nil, err
			}
			if op == storage.OpCollectionCreate {
				return map[string]any{"acknowledged": true}, nil
			}
			return nil, nil
		}
	}
	rt.handle("collection", "create", createOrUpdate(storage.OpCollectionCreate))
	rt.handle("collection", "update", createOrUpdate(storage.OpCollectionUpdate))
	rt.handle("collection", "delete", func(ctx context.Context, r *Request) (any, error) {
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		_, err = rt.write(ctx, r, storage.Write{Op: storage.OpCollectionDelete, Index: index, Collection: collection})
		return nil, err
	})
	rt.handle("collection", "truncate", func(ctx context.Context, r *Request) (any, error) {
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		_, err = rt.write(ctx, r, storage.Write{Op: storage.OpCollectionTruncate, Index: index, Collection: collection})
		if err != nil {
			return nil, err
		}
		return map[string]any{"acknowledged": true}, nil
	})
	rt.handle("collection", "exists", func(ctx context.Context, r *Request) (any, error) {
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		if err := rt.b.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		return rt.b.CollectionExists(ctx, index, collection)
	})
	rt.handle("collection", "refresh", func(ctx context.Context, r *Request) (any, error) {
		// The embedded engine is always refreshed; check the target exists.
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		return nil, rt.requireCollection(ctx, index, collection)
	})
	rt.handle("collection", "list", func(ctx context.Context, r *Request) (any, error) {
		index, err := r.String("index")
		if err != nil {
			return nil, err
		}
		if err := rt.requireIndex(ctx, index); err != nil {
			return nil, err
		}
		names, err := rt.b.ListCollections(ctx, index)
		if err != nil {
			return nil, err
		}
		list := make([]any, 0, len(names))
		for _, n := range names {
			list = append(list, map[string]any{"name": n, "type": "stored"})
		}
		return map[string]any{"type": "all", "collections": list}, nil
	})
	rt.handle("collection", "getMapping", func(ctx context.Context, r *Request) (any, error) {
		index, collection, err := target(r)
		if err != nil {
			return nil, err
		}
		if err := rt.b.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		return rt.b.GetMapping(ctx, index, collection)
	})
}

func (rt *Router) requireCollection(ctx context.Context, index, collection string) error {
	if err := rt.requireIndex(ctx, index); err != nil {
		return err
	}
	ok, err := rt.b.CollectionExists(ctx, index, collection)
	if err != nil {
		return err
	}
	if !ok {
		return kerror.New("services.storage.unknown_collection", index, collection)
	}
	return nil
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

func (rt *Router) registerRealtime() {
	needConn := func(r *Request) error {
		if r.Conn == nil {
			return kerror.New("api.assert.unsupported_protocol", r.Protocol, "realtime:"+r.Action)
		}
		return nil
	}
	rt.handle("realtime", "subscribe", func(ctx context.Context, r *Request) (any, error) {
		if err := needConn(r); err != nil {
			return nil, err
		}
		index, collection, body, err := targetBody(r, false)
		if err != nil {
			return nil, err
		}
		opts, err := subscribeOptions(r)
		if err != nil {
			return nil, err
		}
		return rt.b.Hub().Subscribe(ctx, r.Conn, index, collection, body, opts)
	})
	rt.handle("realtime", "join", func(ctx context.Context, r *Request) (any, error) {
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
		return rt.b.Hub().Join(ctx, r.Conn, id, opts)
	})
	rt.handle("realtime", "unsubscribe", func(ctx context.Context, r *Request) (any, error) {
		if err := needConn(r); err != nil {
			return nil, err
		}
		id, err := roomIDArg(r)
		if err != nil {
			return nil, err
		}
		if err := rt.b.Hub().Unsubscribe(ctx, r.Conn, id); err != nil {
			return nil, err
		}
		return map[string]any{"roomId": id}, nil
	})
	rt.handle("realtime", "count", func(ctx context.Context, r *Request) (any, error) {
		id, err := roomIDArg(r)
		if err != nil {
			return nil, err
		}
		n, ok, err := rt.b.RoomCount(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, kerror.New("core.realtime.room_not_found", id)
		}
		return map[string]any{"count": n}, nil
	})
	rt.handle("realtime", "list", func(ctx context.Context, r *Request) (any, error) {
		return rt.b.RoomList(ctx)
	})
	rt.handle("realtime", "validate", func(ctx context.Context, r *Request) (any, error) {
		if _, _, err := target(r); err != nil {
			return nil, err
		}
		body, err := r.OptBody()
		if err != nil {
			return nil, err
		}
		if err := rt.b.Hub().Engine().Validate(body); err != nil {
			return nil, realtime.DSLError(err)
		}
		return map[string]any{"valid": true}, nil
	})
	rt.handle("realtime", "publish", func(ctx context.Context, r *Request) (any, error) {
		index, collection, body, err := targetBody(r, true)
		if err != nil {
			return nil, err
		}
		id, err := r.OptString("_id")
		if err != nil {
			return nil, err
		}
		meta := rt.meta(r)
		src := make(map[string]any, len(body)+1)
		for k, v := range body {
			src[k] = v
		}
		src["_kuzzle_info"] = map[string]any{"author": "-1", "createdAt": meta.Timestamp}
		if err := rt.b.Publish(ctx, index, collection, id, src, meta); err != nil {
			return nil, err
		}
		return map[string]any{"published": true}, nil
	})
}

// registerAuth serves the anonymous-user answers the SDKs ask for; users,
// profiles and tokens are not implemented yet.
func (rt *Router) registerAuth() {
	anonymous := map[string]any{"_id": "-1", "_source": map[string]any{"profileIds": []string{"anonymous"}}, "strategies": []string{}}
	rt.handle("auth", "checkToken", func(ctx context.Context, r *Request) (any, error) {
		return map[string]any{"valid": false, "state": "Korum does not issue authentication tokens yet", "expiresAt": nil}, nil
	})
	rt.handle("auth", "getCurrentUser", func(ctx context.Context, r *Request) (any, error) {
		return anonymous, nil
	})
	rt.handle("auth", "getMyRights", func(ctx context.Context, r *Request) (any, error) {
		return map[string]any{"hits": []any{map[string]any{"controller": "*", "action": "*", "index": "*", "collection": "*", "value": "allowed"}}}, nil
	})
	rt.handle("auth", "logout", func(ctx context.Context, r *Request) (any, error) {
		return map[string]any{"acknowledged": true}, nil
	})
}

func (rt *Router) registerCluster() {
	status := func(ctx context.Context, r *Request) (any, error) { return rt.b.ClusterStatus(ctx) }
	rt.handle("cluster", "status", status)
	// The legacy kuzzle-plugin-cluster routes, as Kuzzle's compat plugin
	// answers them.
	rt.handle("cluster", "health", func(ctx context.Context, r *Request) (any, error) {
		if err := rt.b.Ready(); err != nil {
			return nil, err
		}
		return "ok", nil
	})
	rt.handle("cluster", "reset", func(ctx context.Context, r *Request) (any, error) {
		return "no-op: this route is deprecated and has been kept for backward-compatibility only. To reset a cluster, simply use \"admin:shutdown\" and then restart Korum nodes", nil
	})
}
