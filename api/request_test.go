package api

import (
	"context"
	"testing"

	"github.com/korumdb/korum/kerror"
)

func TestDecodeRequestSplitsSpecialKeysFromArgs(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"controller":"document","action":"create","index":"i","collection":"c",
		"_id":"x","requestId":"r","jwt":"t","volatile":{"v":1},"body":{"a":1},"refresh":"wait_for","size":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Controller != "document" || r.Action != "create" || r.RequestID != "r" || r.JWT != "t" {
		t.Fatalf("special keys: %+v", r)
	}
	if r.Body["a"] != float64(1) || r.Volatile["v"] != float64(1) {
		t.Fatalf("body/volatile: %+v", r)
	}
	for _, k := range []string{"index", "collection", "_id", "refresh", "size", "requestId"} {
		if _, ok := r.Args[k]; !ok {
			t.Errorf("arg %s missing", k)
		}
	}
	for _, k := range []string{"controller", "action", "jwt", "volatile", "body"} {
		if _, ok := r.Args[k]; ok {
			t.Errorf("special key %s leaked into args", k)
		}
	}
	if n, err := r.Int("size", 10); err != nil || n != 5 {
		t.Fatalf("size: %d %v", n, err)
	}
}

func TestDecodeRequestRejectsNonObjects(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{`, `{"a":1} {"b":2}`, `null`} {
		if _, err := DecodeRequest([]byte(in)); !kerror.Is(err, "network.http.body_parse_failed") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestArgumentAccessors(t *testing.T) {
	r := requestFromMap(map[string]any{"s": "x", "n": "12", "f": 1.5, "b": "false", "e": "", "o": map[string]any{}, "body": []any{}})
	if _, err := r.String("missing"); !kerror.Is(err, "api.assert.missing_argument") {
		t.Error(err)
	}
	if _, err := r.String("e"); !kerror.Is(err, "api.assert.empty_argument") {
		t.Error(err)
	}
	if _, err := r.String("o"); !kerror.Is(err, "api.assert.invalid_type") {
		t.Error(err)
	}
	if n, err := r.Int("n", 0); n != 12 || err != nil {
		t.Error(n, err)
	}
	if _, err := r.Int("f", 0); !kerror.Is(err, "api.assert.invalid_type") {
		t.Error("1.5 is not an integer")
	}
	if b, err := r.Bool("b"); b || err != nil {
		t.Error(b, err)
	}
	if _, err := r.RequireBody(); !kerror.Is(err, "api.assert.invalid_type") {
		t.Error("an array body must be refused", err)
	}
}

func TestLimiterOverloads(t *testing.T) {
	rt := &Router{limits: Limits{ConcurrentRequests: 1, RequestsBuffer: 1}, slots: make(chan struct{}, 1)}
	if err := rt.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { waiting <- rt.acquire(ctx) }()
	for rt.waiting.Load() == 0 {
		// the second request is now queued
		select {
		case err := <-waiting:
			t.Fatalf("queued request returned early: %v", err)
		default:
		}
	}
	if err := rt.acquire(context.Background()); !kerror.Is(err, "api.process.overloaded") {
		t.Fatalf("a full buffer must overload, got %v", err)
	}
	<-rt.slots // the first request finishes
	if err := <-waiting; err != nil {
		t.Fatalf("the queued request must get the slot: %v", err)
	}
	cancel()
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"controller":"document","action":"get","_id":"x"}`, `{"p":1}`, `{"body":[1]}`,
		`{"requestId":12,"volatile":"x","size":"1e9"}`, `{`, `[]`, `{"a":{"b":{"c":[null,true]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			if _, ok := err.(*kerror.Error); !ok {
				t.Fatalf("non-Kuzzle error %T", err)
			}
			return
		}
		// Accessors must never panic, whatever the types.
		for k := range r.Args {
			r.String(k)
			r.Int(k, 0)
			r.Bool(k)
		}
		r.RequireBody()
	})
}
