package api

import (
	"encoding/json"
	"testing"
	"time"
)

// Statistics frames count each interval's requests per protocol, and the
// ring keeps the last ones only.
func TestStatsFrames(t *testing.T) {
	rt, _ := newSecRouter(t)
	frames := func(resp *Response) []statsFrame {
		t.Helper()
		b, _ := json.Marshal(mustOK(t, resp)["hits"])
		var fs []statsFrame
		if err := json.Unmarshal(b, &fs); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	req := func(action string, args map[string]any) map[string]any {
		m := map[string]any{"controller": "server", "action": action}
		for k, v := range args {
			m[k] = v
		}
		return m
	}
	// Before any frame: the current figures, this very request underway.
	fs := frames(call(t, rt, "", req("getStats", nil)))
	if len(fs) != 1 || fs[0].OngoingRequests["websocket"] != 1 {
		t.Fatalf("before any frame: %+v", fs)
	}

	call(t, rt, "", req("now", nil))
	call(t, rt, "", req("now", nil))
	call(t, rt, "", req("nope", nil)) // fails: action_not_found
	t0 := time.UnixMilli(1_000_000)
	rt.stats.snapshot(t0, map[string]int64{"websocket": 4}, 3)
	call(t, rt, "", req("now", nil))
	rt.stats.snapshot(t0.Add(10*time.Second), nil, 3)

	all := frames(call(t, rt, "", req("getAllStats", nil)))
	if len(all) != 2 {
		t.Fatalf("frames: %+v", all)
	}
	// The first frame holds the getStats above, two nows and the failure.
	if f := all[0]; f.Timestamp != t0.UnixMilli() || f.CompletedRequests["websocket"] != 3 ||
		f.FailedRequests["websocket"] != 1 || f.Connections["websocket"] != 4 || len(f.OngoingRequests) != 0 {
		t.Fatalf("first frame: %+v", f)
	}
	// The second, only the requests of its interval.
	if f := all[1]; f.CompletedRequests["websocket"] != 1 || len(f.FailedRequests) != 0 || len(f.Connections) != 0 {
		t.Fatalf("second frame: %+v", f)
	}
	if fs := frames(call(t, rt, "", req("getStats", map[string]any{"startTime": t0.UnixMilli() + 1}))); len(fs) != 1 || fs[0].Timestamp != all[1].Timestamp {
		t.Fatalf("from startTime: %+v", fs)
	}
	if fs := frames(call(t, rt, "", req("getStats", map[string]any{"stopTime": "1970-01-01T00:16:40Z"}))); len(fs) != 1 || fs[0].Timestamp != t0.UnixMilli() {
		t.Fatalf("until a date stopTime: %+v", fs)
	}
	if fs := frames(call(t, rt, "", req("getStats", map[string]any{"startTime": time.Now().Add(time.Hour).UnixMilli()}))); len(fs) != 0 {
		t.Fatalf("from the future: %+v", fs)
	}
	if got := errID(call(t, rt, "", req("getStats", map[string]any{"startTime": "yesterday"}))); got != "api.assert.invalid_argument" {
		t.Fatalf("bad startTime: %q", got)
	}

	// The ring keeps the last 3 frames.
	for i := 2; i < 6; i++ {
		rt.stats.snapshot(t0.Add(time.Duration(i)*10*time.Second), nil, 3)
	}
	all = frames(call(t, rt, "", req("getAllStats", nil)))
	if len(all) != 3 || all[0].Timestamp != t0.Add(30*time.Second).UnixMilli() || all[2].Timestamp != t0.Add(50*time.Second).UnixMilli() {
		t.Fatalf("ring: %+v", all)
	}
	last := mustOK(t, call(t, rt, "", req("getLastStats", nil)))
	if ts, _ := last["timestamp"].(float64); int64(ts) != t0.Add(50*time.Second).UnixMilli() {
		t.Fatalf("last stats: %+v", last)
	}
}
