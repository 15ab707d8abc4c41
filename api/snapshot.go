package api

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/korumdb/korum/kerror"
)

// snapshotPath serves `korum snapshot save`: a backup of the cluster's
// replicated state, streamed (format: package backup). It is not one of
// Kuzzle's routes and its answer is not an envelope, but it is guarded by
// the rights as the action admin:snapshot.
const snapshotPath = "/admin/_snapshot"

// Snapshots is what the snapshot route needs from the node.
type Snapshots interface {
	// Snapshot takes a backup and writes it to the writer that open
	// returns, calling open only once the backup is ready to stream, so
	// that an error before then can still be answered as an error.
	Snapshot(ctx context.Context, open func() (io.Writer, error)) error
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	req := &Request{Controller: "admin", Action: "snapshot", Protocol: "http", RequestID: r.Header.Get("X-Kuzzle-Request-Id")}
	s.applyHeaders(req, r)
	if req.RequestID == "" {
		req.RequestID = newUUID()
	}
	fail := func(err error) {
		resp := newResponse(req, s.b.NodeID())
		resp.setError(err)
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Kuzzle-Request-Id", resp.RequestID)
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.encode())
	}
	if r.Method != http.MethodGet {
		fail(kerror.New("network.http.url_not_found", r.URL.Path))
		return
	}
	if s.closing.Load() {
		fail(kerror.New("api.process.shutting_down"))
		return
	}
	if err := s.router.authorize(req); err != nil {
		fail(err)
		return
	}
	streaming := false
	rc := http.NewResponseController(w)
	// The request is read (a GET has no body): a read deadline left in
	// place would cancel the request's context in the middle of a long
	// backup, as in httpRequest.
	_ = rc.SetReadDeadline(time.Time{})
	err := s.b.Snapshot(r.Context(), func() (io.Writer, error) {
		streaming = true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Kuzzle-Request-Id", req.RequestID)
		h.Set("X-Kuzzle-Node", s.b.NodeID())
		s.setWriteDeadline(w)
		w.WriteHeader(http.StatusOK)
		return deadlineWriter{w: w, rc: rc, s: s}, nil
	})
	switch {
	case err == nil:
	case !streaming:
		fail(err)
	default:
		// The status is sent: cut the stream, so the client sees a
		// truncated backup (no trailer) rather than a complete one.
		s.log.Warn("snapshot stream failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}
