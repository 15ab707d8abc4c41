package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/korumdb/korum/kerror"
)

// healthBackend is a node whose readiness and storage health the test sets.
type healthBackend struct {
	*secBackend
	ready, storage error
}

func (b *healthBackend) Ready() error                            { return b.ready }
func (b *healthBackend) StorageHealth(ctx context.Context) error { return b.storage }

func TestHealthCheck(t *testing.T) {
	b := &healthBackend{secBackend: &secBackend{memSecurity: newMemSecurity()}}
	s := NewServer(b, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(url string) (int, Response, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		var env Response
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s: %v %s", url, err, rec.Body)
		}
		res, _ := env.Result.(map[string]any)
		return rec.Code, env, res
	}
	for _, url := range []string{"/_healthcheck", "/_healthCheck"} {
		code, env, res := get(url)
		svcs, _ := res["services"].(map[string]any)
		if code != 200 || env.Error != nil || res["status"] != "green" || len(svcs) != 3 ||
			svcs["internalCache"] != "green" || svcs["memoryStorage"] != "green" || svcs["storageEngine"] != "green" {
			t.Fatalf("%s healthy: %d %+v", url, code, res)
		}
	}
	// Only the services asked for.
	if _, _, res := get("/_healthcheck?services=storageEngine"); len(res["services"].(map[string]any)) != 1 {
		t.Fatalf("services=storageEngine: %+v", res)
	}

	// Elasticsearch down: the storage engine is red, and the answer is
	// Kuzzle's error with the statuses beside it.
	b.storage = kerror.New("services.storage.not_connected")
	code, env, res := get("/_healthcheck")
	if code != 500 || env.Error == nil || env.Error.ID != "core.fatal.service_unavailable" || res["status"] != "red" ||
		res["services"].(map[string]any)["storageEngine"] != "red" || res["services"].(map[string]any)["internalCache"] != "green" {
		t.Fatalf("storage down: %d %+v %+v", code, env.Error, res)
	}
	// A node that cannot serve the replicated state: every service red.
	b.storage, b.ready = nil, kerror.New("api.process.not_enough_nodes")
	code, _, res = get("/_healthcheck")
	svcs := res["services"].(map[string]any)
	if code != 500 || svcs["internalCache"] != "red" || svcs["memoryStorage"] != "red" || svcs["storageEngine"] != "red" {
		t.Fatalf("not ready: %d %+v", code, res)
	}
}
