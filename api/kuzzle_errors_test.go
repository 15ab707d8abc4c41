package api

// Error ids as Kuzzle 2 gives them for the same mistakes, in the order it
// checks them. Each row sends one mistake, or two at once to pin which
// one Kuzzle reports first. Checked against kuzzleio/kuzzle:
//
//   - lib/api/request/kuzzleRequest.ts: getId (falsy: missing_argument
//     "_id"; not a string: invalid_type), getIndex/getIndexAndCollection
//     (falsy: missing_argument, index before collection), getBody
//     (body_required), getBodyObject/getBodyArray/getBodyString
//     (body_required, then missing_argument/invalid_type "body.<name>"),
//     getInteger (invalid_type "<name>" integer), getScrollTTLParam,
//     getSearchParams (from, size, scroll, body.query before the target).
//   - lib/api/request/requestInput.ts: a body that is not an object is
//     invalid_type "body" when the request is built, before anything else.
//   - lib/api/controllers/documentController.ts: get, exists, delete,
//     update, replace, createOrReplace read the _id (and body) before
//     index and collection; create reads _id (ifMissing: ignore), then
//     index and collection; upsert: _id, body.changes, body.default;
//     deleteFields: _id, body.fields; m* writes: body.documents;
//     mGet/mExists: body.ids when non-empty, else the ids argument;
//     mDelete: body.ids; updateByQuery: body.query, body.changes;
//     deleteByQuery: body.query defaults to {}; validate: body first;
//     count and search: search params first; scroll: getScrollTTLParam
//     before scrollId; export: target and search params before the
//     protocol check.
//   - lib/api/controllers/bulkController.ts: index and collection first,
//     then _id (write) and the body's field.
//   - lib/api/controllers/collectionController.ts: index, collection,
//     then the body; list: index, from, size, type.
//   - lib/api/controllers/indexController.ts: getIndex.
//   - lib/api/controllers/realtimeController.ts: subscribe: target then
//     body (required); publish: body then target; join, unsubscribe,
//     count: body.roomId (getBodyString); validate is document:validate.
//   - lib/api/controllers/memoryStorageController.ts and
//     lib/util/requestAssertions.ts: assertHasId (falsy _id:
//     missing_argument "_id"), assertHasBody, body attributes as
//     "body.<name>", mapping keys ("key") for the generic commands.
//   - lib/service/storage/elasticsearch.ts createCollection: names, then
//     _kuzzle_keep is collection_reserved (storage/embedded's
//     TestValidateCollectionNames).

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/realtime/filter"
)

// errsConn is a WebSocket connection for the realtime actions' checks;
// no row gets far enough to send anything on it.
type errsConn struct{}

func (errsConn) ID() string       { return "errs" }
func (errsConn) Send([]byte) bool { return true }

func TestKuzzleErrorOrder(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// wsBackend implements no storage: a row whose checks let it reach
	// the store panics, which the router answers as assertion_failed.
	b := &wsBackend{hub: realtime.NewHub("n1", filter.New(filter.Options{}), nil, realtime.Limits{}, log)}
	rt := NewRouter(b, Limits{}, log)
	const (
		missing  = "api.assert.missing_argument"
		badType  = "api.assert.invalid_type"
		noBody   = "api.assert.body_required"
		badValue = "api.assert.invalid_argument"
	)
	for _, c := range []struct {
		req   string
		id    string
		props []string
	}{
		// A non-object body is refused before the controller is looked at.
		{`{"controller":"document","action":"get","body":[1]}`, badType, []string{"body", "object"}},
		{`{"controller":"nope","action":"x","body":"text"}`, badType, []string{"body", "object"}},

		// document:get and exists: _id, then index, then collection.
		{`{"controller":"document","action":"get"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"get","index":"i","collection":"c"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"get","_id":"","index":"i","collection":"c"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"get","_id":5,"index":"i"}`, badType, []string{"_id", "string"}},
		{`{"controller":"document","action":"get","_id":"d"}`, missing, []string{"index"}},
		{`{"controller":"document","action":"get","_id":"d","index":"","collection":"c"}`, missing, []string{"index"}},
		{`{"controller":"document","action":"get","_id":"d","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"document","action":"exists","collection":"c"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"exists","_id":"d","collection":"c"}`, missing, []string{"index"}},

		// document:create: the _id's type, index, collection, then body.
		{`{"controller":"document","action":"create","_id":5}`, badType, []string{"_id", "string"}},
		{`{"controller":"document","action":"create"}`, missing, []string{"index"}},
		{`{"controller":"document","action":"create","index":"i","body":{}}`, missing, []string{"collection"}},
		{`{"controller":"document","action":"create","_id":"","index":"i","collection":"c"}`, noBody, nil},

		// replace, createOrReplace, update: _id, body, index, collection.
		{`{"controller":"document","action":"replace","index":"i","collection":"c","body":{}}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"replace","_id":"d"}`, noBody, nil},
		{`{"controller":"document","action":"createOrReplace","_id":"d","collection":"c"}`, noBody, nil},
		{`{"controller":"document","action":"createOrReplace","_id":"d","body":{}}`, missing, []string{"index"}},
		{`{"controller":"document","action":"update","_id":"d","index":"i"}`, noBody, nil},
		{`{"controller":"document","action":"update","_id":"d","index":"i","body":{}}`, missing, []string{"collection"}},

		// upsert: _id, body.changes, body.default, then the target.
		{`{"controller":"document","action":"upsert","index":"i"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"upsert","_id":"d"}`, noBody, nil},
		{`{"controller":"document","action":"upsert","_id":"d","body":{}}`, missing, []string{"body.changes"}},
		{`{"controller":"document","action":"upsert","_id":"d","body":{"changes":1}}`, badType, []string{"body.changes", "object"}},
		{`{"controller":"document","action":"upsert","_id":"d","body":{"changes":{},"default":1}}`, badType, []string{"body.default", "object"}},
		{`{"controller":"document","action":"upsert","_id":"d","body":{"changes":{}}}`, missing, []string{"index"}},

		// delete: _id, then the target; deleteFields: _id, body.fields.
		{`{"controller":"document","action":"delete","index":"i","collection":"c"}`, missing, []string{"_id"}},
		{`{"controller":"document","action":"delete","_id":"d"}`, missing, []string{"index"}},
		{`{"controller":"document","action":"deleteFields","_id":"d"}`, noBody, nil},
		{`{"controller":"document","action":"deleteFields","_id":"d","body":{}}`, missing, []string{"body.fields"}},
		{`{"controller":"document","action":"deleteFields","_id":"d","body":{"fields":"a"}}`, badType, []string{"body.fields", "array"}},
		{`{"controller":"document","action":"deleteFields","_id":"d","body":{"fields":["a"]}}`, missing, []string{"index"}},

		// m* writes: body.documents before the target.
		{`{"controller":"document","action":"mCreate","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"document","action":"mCreateOrReplace","body":{}}`, missing, []string{"body.documents"}},
		{`{"controller":"document","action":"mReplace","body":{"documents":{}}}`, badType, []string{"body.documents", "array"}},
		{`{"controller":"document","action":"mUpdate","body":{"documents":[]}}`, missing, []string{"index"}},
		{`{"controller":"document","action":"mUpsert","index":"i","body":{"documents":[]}}`, missing, []string{"collection"}},

		// mGet and mExists: the ids (body or argument), then the target.
		{`{"controller":"document","action":"mGet"}`, missing, []string{"ids"}},
		{`{"controller":"document","action":"mGet","body":{"ids":[]}}`, missing, []string{"ids"}},
		{`{"controller":"document","action":"mGet","ids":"a"}`, badType, []string{"ids", "array"}},
		{`{"controller":"document","action":"mGet","body":{"ids":{"a":1}}}`, badType, []string{"body.ids", "array"}},
		{`{"controller":"document","action":"mGet","body":{"ids":["a"]}}`, missing, []string{"index"}},
		{`{"controller":"document","action":"mExists","ids":["a"],"index":"i"}`, missing, []string{"collection"}},

		// mDelete: body.ids, then the target.
		{`{"controller":"document","action":"mDelete","index":"i"}`, noBody, nil},
		{`{"controller":"document","action":"mDelete","body":{}}`, missing, []string{"body.ids"}},
		{`{"controller":"document","action":"mDelete","body":{"ids":["a"]}}`, missing, []string{"index"}},

		// validate: the body, then the target.
		{`{"controller":"document","action":"validate"}`, noBody, nil},
		{`{"controller":"document","action":"validate","body":{}}`, missing, []string{"index"}},

		// updateByQuery: body.query, body.changes, then the target.
		{`{"controller":"document","action":"updateByQuery","index":"i"}`, noBody, nil},
		{`{"controller":"document","action":"updateByQuery","body":{}}`, missing, []string{"body.query"}},
		{`{"controller":"document","action":"updateByQuery","body":{"query":[]}}`, badType, []string{"body.query", "object"}},
		{`{"controller":"document","action":"updateByQuery","body":{"query":{}}}`, missing, []string{"body.changes"}},
		{`{"controller":"document","action":"updateByQuery","body":{"query":{},"changes":{}}}`, missing, []string{"index"}},
		// deleteByQuery: a missing query defaults to {}: the target first.
		{`{"controller":"document","action":"deleteByQuery"}`, missing, []string{"index"}},
		{`{"controller":"document","action":"deleteByQuery","body":{}}`, missing, []string{"index"}},
		{`{"controller":"document","action":"deleteByQuery","body":{"query":1}}`, badType, []string{"body.query", "object"}},

		// count and search: from, size, scroll, body.query, then the target.
		{`{"controller":"document","action":"count","from":"x"}`, badType, []string{"from", "integer"}},
		{`{"controller":"document","action":"count","size":1.5}`, badType, []string{"size", "integer"}},
		{`{"controller":"document","action":"count","scroll":5}`, badType, []string{"scroll", "string"}},
		{`{"controller":"document","action":"count","body":{"query":"x"}}`, badType, []string{"body.query", "object"}},
		{`{"controller":"document","action":"count","body":{"query":{}}}`, missing, []string{"index"}},
		{`{"controller":"document","action":"search","size":"x","index":"i","collection":"c"}`, badType, []string{"size", "integer"}},
		{`{"controller":"document","action":"search","from":"x"}`, badType, []string{"from", "integer"}},
		{`{"controller":"document","action":"search"}`, missing, []string{"index, collection or targets"}},
		{`{"controller":"document","action":"search","index":"i"}`, missing, []string{"collection"}},

		// scroll: the duration's type, then the scroll id.
		{`{"controller":"document","action":"scroll","scroll":5}`, badType, []string{"scroll", "string"}},
		{`{"controller":"document","action":"scroll"}`, missing, []string{"scrollId"}},
		// export: the target and search parameters before the protocol
		// (the router test sends WebSocket requests).
		{`{"controller":"document","action":"export","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"document","action":"export","index":"i","collection":"c","size":"x"}`, badType, []string{"size", "integer"}},

		// bulk: index and collection, then _id and the body.
		{`{"controller":"bulk","action":"write","_id":5}`, missing, []string{"index"}},
		{`{"controller":"bulk","action":"write","index":"i","collection":"c","_id":5}`, badType, []string{"_id", "string"}},
		{`{"controller":"bulk","action":"write","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"bulk","action":"import","body":{}}`, missing, []string{"index"}},
		{`{"controller":"bulk","action":"import","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"bulk","action":"import","index":"i","collection":"c","body":{}}`, missing, []string{"body.bulkData"}},
		{`{"controller":"bulk","action":"mWrite","index":"i","body":{}}`, missing, []string{"collection"}},
		{`{"controller":"bulk","action":"mWrite","index":"i","collection":"c","body":{}}`, missing, []string{"body.documents"}},
		{`{"controller":"bulk","action":"deleteByQuery","body":{}}`, missing, []string{"index"}},
		{`{"controller":"bulk","action":"deleteByQuery","index":"i","collection":"c","body":{}}`, missing, []string{"body.query"}},
		{`{"controller":"bulk","action":"updateByQuery","index":"i","collection":"c","body":{"query":{}}}`, missing, []string{"body.changes"}},

		// collection: index, collection, then the body.
		{`{"controller":"collection","action":"create"}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"create","index":"","collection":"c"}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"create","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"create","index":"i","collection":"c","body":[]}`, badType, []string{"body", "object"}},
		{`{"controller":"collection","action":"updateMapping","body":{}}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"updateMapping","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"collection","action":"getMapping","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"truncate","collection":"c"}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"delete","index":"i","collection":""}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"exists","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"refresh","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"getSettings","index":"i"}`, missing, []string{"collection"}},
		{`{"controller":"collection","action":"updateSpecifications","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"collection","action":"validateSpecifications","collection":"c","body":{}}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"list"}`, missing, []string{"index"}},
		{`{"controller":"collection","action":"list","index":"i","from":"x","type":"bad"}`, badType, []string{"from", "integer"}},
		{`{"controller":"collection","action":"list","index":"i","type":"bad"}`, badValue, nil},

		// index: getIndex; mDelete: body.indexes.
		{`{"controller":"index","action":"create"}`, missing, []string{"index"}},
		{`{"controller":"index","action":"create","index":""}`, missing, []string{"index"}},
		{`{"controller":"index","action":"delete"}`, missing, []string{"index"}},
		{`{"controller":"index","action":"exists","index":""}`, missing, []string{"index"}},
		{`{"controller":"index","action":"mDelete"}`, noBody, nil},
		{`{"controller":"index","action":"mDelete","body":{}}`, missing, []string{"body.indexes"}},

		// realtime: subscribe reads the target, then requires a body;
		// publish the reverse; the room actions read body.roomId.
		{`{"controller":"realtime","action":"subscribe","body":{}}`, missing, []string{"index"}},
		{`{"controller":"realtime","action":"subscribe","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"realtime","action":"publish","index":"i"}`, noBody, nil},
		{`{"controller":"realtime","action":"publish","body":{}}`, missing, []string{"index"}},
		{`{"controller":"realtime","action":"publish","index":"i","body":{}}`, missing, []string{"collection"}},
		// realtime:validate is document:validate (body, then target).
		{`{"controller":"realtime","action":"validate","index":"i","collection":"c"}`, noBody, nil},
		{`{"controller":"realtime","action":"validate","body":{}}`, missing, []string{"index"}},
		{`{"controller":"realtime","action":"join"}`, noBody, nil},
		{`{"controller":"realtime","action":"unsubscribe","body":{}}`, missing, []string{"body.roomId"}},
		{`{"controller":"realtime","action":"count","body":{"roomId":1}}`, badType, []string{"body.roomId", "string"}},

		// ms: assertHasId, assertHasBody, then the body's attributes.
		{`{"controller":"ms","action":"set","body":{"value":1}}`, missing, []string{"_id"}},
		{`{"controller":"ms","action":"set","_id":""}`, missing, []string{"_id"}},
		{`{"controller":"ms","action":"set","_id":"k"}`, noBody, nil},
		{`{"controller":"ms","action":"set","_id":"k","body":{}}`, badType, []string{"value", "string, number"}},
		{`{"controller":"ms","action":"zadd","_id":"k"}`, noBody, nil},
		{`{"controller":"ms","action":"zadd","_id":"k","body":{}}`, missing, []string{"body.elements"}},
		{`{"controller":"ms","action":"zadd","_id":"k","body":{"elements":{}}}`, badType, []string{"body.elements", "array"}},
		{`{"controller":"ms","action":"get"}`, missing, []string{"key"}},
		{`{"controller":"ms","action":"getset","_id":"k"}`, missing, []string{"value"}},
	} {
		r, err := DecodeRequest([]byte(c.req))
		if err != nil {
			t.Fatalf("%s: %v", c.req, err)
		}
		r.Protocol = "websocket"
		if r.Controller == "realtime" {
			r.Conn = errsConn{}
		}
		resp := rt.Dispatch(context.Background(), r)
		if resp.Error == nil {
			t.Errorf("%s: no error, want %s %v", c.req, c.id, c.props)
			continue
		}
		if resp.Error.ID != c.id || (c.props != nil && !reflect.DeepEqual(resp.Error.Props, c.props)) {
			t.Errorf("%s: %s %q (%s), want %s %q", c.req, resp.Error.ID, resp.Error.Props, resp.Error.Message, c.id, c.props)
			continue
		}
		if resp.Status != 400 || resp.Error.Status != 400 {
			t.Errorf("%s: status %d, want 400", c.req, resp.Status)
		}
	}
}
