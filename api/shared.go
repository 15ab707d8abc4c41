package api

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
)

// Writer proposes storage writes to the cluster. Writes and publishes go
// through the log; reads are served locally after a read barrier.
type Writer interface {
	// Write proposes a storage write and returns its result once applied.
	Write(ctx context.Context, w storage.Write, meta realtime.Meta, silent bool) (*storage.WriteResult, error)
}

// Clock stamps requests: the realtime metadata of notifications and the
// dates writes record are taken once, here, before proposing, so that every
// replica applies the same values.
type Clock interface {
	NodeID() string
	Now() time.Time
}

// meta is the realtime metadata of a request.
func meta(c Clock, r *Request) realtime.Meta {
	return realtime.Meta{RequestID: r.RequestID, Volatile: r.Volatile, Timestamp: c.Now().UnixMilli(),
		Controller: r.Controller, Action: r.Action, Protocol: r.Protocol, Node: c.NodeID()}
}

// write stamps a command with the clock and author, proposes it and turns a
// command-level failure into the request's error.
func write(ctx context.Context, wr Writer, c Clock, r *Request, w storage.Write) (*storage.WriteResult, error) {
	silent, err := r.Bool("silent")
	if err != nil {
		return nil, err
	}
	return writeSilently(ctx, wr, c, r, w, silent)
}

// writeSilently is write with notifications decided by the caller (the
// bulk actions notify only when asked to, or never).
func writeSilently(ctx context.Context, wr Writer, c Clock, r *Request, w storage.Write, silent bool) (*storage.WriteResult, error) {
	if err := checkRefresh(r); err != nil {
		return nil, err
	}
	m := meta(c, r)
	w.Now = m.Timestamp
	w.Author = r.UserID()
	if v, _ := r.Args["refresh"].(string); v == "wait_for" {
		w.Refresh = v
	}
	res, err := wr.Write(ctx, w, m, silent)
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return res, nil
}

func checkRefresh(r *Request) error {
	v := r.Args["refresh"]
	switch v {
	case nil, "", "false", false, "wait_for":
		return nil
	}
	return kerror.New("api.assert.invalid_argument", "refresh", `"wait_for" or "false"`)
}

// single returns the only item of a single-document write, or its error.
func single(res *storage.WriteResult) (*storage.ItemResult, error) {
	if len(res.Items) != 1 {
		return nil, kerror.New("core.fatal.assertion_failed", "a single-document write returned "+strconv.Itoa(len(res.Items))+" items")
	}
	it := &res.Items[0]
	if it.Err != nil {
		return nil, it.Err
	}
	return it, nil
}

// indexReader is what checking that an index exists takes.
type indexReader interface {
	ReadBarrier(ctx context.Context) error
	IndexExists(ctx context.Context, index string) (bool, error)
}

func requireIndex(ctx context.Context, s indexReader, index string) error {
	if err := s.ReadBarrier(ctx); err != nil {
		return err
	}
	ok, err := s.IndexExists(ctx, index)
	if err != nil {
		return err
	}
	if !ok {
		return kerror.New("services.storage.unknown_index", index)
	}
	return nil
}

// target returns the index and collection arguments, both required, in
// the order of Kuzzle's getIndexAndCollection: the index first.
func target(r *Request) (string, string, error) {
	index, err := r.resource("index")
	if err != nil {
		return "", "", err
	}
	collection, err := r.resource("collection")
	if err != nil {
		return "", "", err
	}
	return index, collection, nil
}

// targetBody returns index, collection and the body (required or not):
// the preamble most document actions share.
func targetBody(r *Request, required bool) (string, string, map[string]any, error) {
	index, collection, err := target(r)
	if err != nil {
		return "", "", nil, err
	}
	var body map[string]any
	if required {
		body, err = r.RequireBody()
	} else {
		body, err = r.OptBody()
	}
	return index, collection, body, err
}

// idBodyTarget reads what Kuzzle's replace, createOrReplace and update
// read, in its order: the _id, then the body, then index and collection
// (a request missing both its _id and its index is missing its _id).
func idBodyTarget(r *Request) (index, collection, id string, body map[string]any, err error) {
	if id, err = r.docID(); err != nil {
		return
	}
	if body, err = r.RequireBody(); err != nil {
		return
	}
	index, collection, err = target(r)
	return
}

func checkID(id string) error {
	if strings.HasPrefix(id, "_") {
		return kerror.New("api.assert.invalid_id")
	}
	return nil
}

func (r *Request) docID() (string, error) {
	id, err := r.resource("_id")
	if err != nil {
		return "", err
	}
	return id, checkID(id)
}
