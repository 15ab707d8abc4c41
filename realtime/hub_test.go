package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/korumdb/korum/realtime/filter"
)

// sink is a connection that keeps what it receives; full makes it refuse,
// like a transport whose queue is full.
type sink struct {
	id   string
	mu   sync.Mutex
	msgs []map[string]any
	full bool
}

func (s *sink) ID() string { return s.id }
func (s *sink) Send(b []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return false
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("invalid notification JSON %q: %v", b, err))
	}
	s.msgs = append(s.msgs, m)
	return true
}
func (s *sink) take() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.msgs
	s.msgs = nil
	return out
}

// ledger is a Replicator that records calls in memory, standing in for the
// replicated state (tested with the real log in package fsm and node).
type ledger struct {
	mu      sync.Mutex
	rooms   map[string]*filter.Normalized
	created int
	emptied int
	fail    error
	during  func() // called by RoomCreated, before it answers
}

func (l *ledger) RoomCreated(_ context.Context, n *filter.Normalized, _ uint64) error {
	if l.during != nil {
		l.during()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.created++
	l.rooms[n.ID] = n
	return nil
}
func (l *ledger) RoomEmptied(_ context.Context, id string, _ uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.emptied++
	delete(l.rooms, id)
	return nil
}
func (l *ledger) Room(id string) *filter.Normalized {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rooms[id]
}

func newHub(t testing.TB) (*Hub, *ledger) {
	l := &ledger{rooms: map[string]*filter.Normalized{}}
	return NewHub("n1", filter.New(filter.Options{}), l, Limits{MaxSubscriptionsPerConn: 3},
		slog.New(slog.NewTextHandler(io.Discard, nil))), l
}

func blue() any { return map[string]any{"equals": map[string]any{"color": "blue"}} }

func write(id, action string, before, after map[string]any) DocumentEvent {
	return DocumentEvent{Index: "i", Collection: "c", Meta: Meta{RequestID: "req", Timestamp: 42, Node: "n1"},
		Changes: []Change{{ID: id, Action: action, Before: before, After: after}}}
}

func TestRoomsAreSharedAndReplicatedOnce(t *testing.T) {
	h, l := newHub(t)
	ctx := context.Background()
	a, b := &sink{id: "a"}, &sink{id: "b"}
	ra, err := h.Subscribe(ctx, a, "i", "c", blue(), SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := h.Subscribe(ctx, b, "i", "c", map[string]any{"in": map[string]any{"color": []any{"blue"}}}, SubscribeOptions{Scope: "in"})
	if err != nil {
		t.Fatal(err)
	}
	if ra.RoomID != rb.RoomID || ra.Channel == rb.Channel {
		t.Fatalf("equivalent filters must share a room, other options another channel: %+v %+v", ra, rb)
	}
	if l.created != 1 {
		t.Fatalf("room replicated %d times, want once", l.created)
	}
	if n, _ := h.Count(ra.RoomID); n != 2 {
		t.Fatalf("count %d", n)
	}
	if err := h.Unsubscribe(ctx, a, ra.RoomID); err != nil {
		t.Fatal(err)
	}
	if l.emptied != 0 {
		t.Fatal("room emptied while b still subscribed")
	}
	if err := h.Unsubscribe(ctx, a, ra.RoomID); err == nil {
		t.Fatal("a second unsubscribe must fail")
	}
	h.Disconnect(b)
	eventuallyEmptied(t, l)
}

func eventuallyEmptied(t *testing.T, l *ledger) {
	t.Helper()
	// Disconnect replicates in the background.
	eventually(t, "the room to be emptied", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.emptied == 1
	})
}

func TestNotificationsScopesAndShape(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	all, in, out, none := &sink{id: "all"}, &sink{id: "in"}, &sink{id: "out"}, &sink{id: "none"}
	res, _ := h.Subscribe(ctx, all, "i", "c", blue(), SubscribeOptions{})
	h.Subscribe(ctx, in, "i", "c", blue(), SubscribeOptions{Scope: "in"})
	h.Subscribe(ctx, out, "i", "c", blue(), SubscribeOptions{Scope: "out"})
	h.Subscribe(ctx, none, "i", "c", blue(), SubscribeOptions{Scope: "none"})

	h.DocumentChanged(write("d", "create", nil, map[string]any{"color": "blue"}))
	got := all.take()
	if len(got) != 1 {
		t.Fatalf("all: %v", got)
	}
	n := got[0]
	for k, want := range map[string]any{"type": "document", "action": "create", "scope": "in", "event": "write",
		"index": "i", "collection": "c", "controller": "document", "room": res.Channel, "requestId": "req",
		"timestamp": float64(42), "node": "n1", "status": float64(200)} {
		if n[k] != want {
			t.Errorf("%s = %v, want %v", k, n[k], want)
		}
	}
	if len(in.take()) != 1 || len(out.take()) != 0 || len(none.take()) != 0 {
		t.Fatal("scope filtering on create")
	}

	// Leaving the filter: out, with the new source.
	h.DocumentChanged(write("d", "update", map[string]any{"color": "blue"}, map[string]any{"color": "red"}))
	o := out.take()
	if len(o) != 1 || o[0]["scope"] != "out" || o[0]["result"].(map[string]any)["_source"].(map[string]any)["color"] != "red" {
		t.Fatalf("out notification: %v", o)
	}
	if len(in.take()) != 0 || len(all.take()) != 1 {
		t.Fatal("scope filtering on leave")
	}
	// Unrelated change: nothing.
	h.DocumentChanged(write("d", "update", map[string]any{"color": "red"}, map[string]any{"color": "green"}))
	if len(all.take()) != 0 {
		t.Fatal("a document outside the room before and after must not notify")
	}
	// Deletion of a matching document: out with action delete.
	h.DocumentChanged(write("e", "delete", map[string]any{"color": "blue"}, nil))
	if d := all.take(); len(d) != 1 || d[0]["action"] != "delete" || d[0]["scope"] != "out" {
		t.Fatalf("delete: %v", d)
	}
	// Another collection: nothing.
	ev := write("f", "create", nil, map[string]any{"color": "blue"})
	ev.Collection = "other"
	h.DocumentChanged(ev)
	if len(all.take()) != 0 {
		t.Fatal("rooms are scoped to their collection")
	}
}

func TestUserNotifications(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	w, x := &sink{id: "w"}, &sink{id: "x"}
	h.Subscribe(ctx, w, "i", "c", blue(), SubscribeOptions{Users: "all"})
	w.take() // its own "in"
	res, _ := h.Subscribe(ctx, x, "i", "c", blue(), SubscribeOptions{})
	got := w.take()
	if len(got) != 1 || got[0]["type"] != "user" || got[0]["user"] != "in" || got[0]["result"].(map[string]any)["count"] != float64(2) {
		t.Fatalf("user in: %v", got)
	}
	if len(x.take()) != 0 {
		t.Fatal("users:none receives no user notification")
	}
	h.Unsubscribe(ctx, x, res.RoomID)
	if got := w.take(); len(got) != 1 || got[0]["user"] != "out" {
		t.Fatalf("user out: %v", got)
	}
}

func TestFailedReplicationRollsBack(t *testing.T) {
	h, l := newHub(t)
	l.fail = errors.New("no leader")
	a := &sink{id: "a"}
	if _, err := h.Subscribe(context.Background(), a, "i", "c", blue(), SubscribeOptions{}); err == nil {
		t.Fatal("subscribe must fail when the room cannot be replicated")
	}
	if len(h.LocalRooms()) != 0 {
		t.Fatal("a failed subscription must leave no room behind")
	}
	h.DocumentChanged(write("d", "create", nil, map[string]any{"color": "blue"}))
	if len(a.take()) != 0 {
		t.Fatal("a failed subscription must not be notified")
	}
}

func TestLimitsAndBadInput(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	a := &sink{id: "a"}
	for i := range 3 {
		if _, err := h.Subscribe(ctx, a, "i", "c", map[string]any{"equals": map[string]any{"n": float64(i)}}, SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(ctx, a, "i", "c", map[string]any{"equals": map[string]any{"n": 9.0}}, SubscribeOptions{}); err == nil {
		t.Fatal("the per-connection subscription limit must hold")
	}
	if len(h.LocalRooms()) != 3 {
		t.Fatalf("a refused subscription must not leave a room: %v", h.LocalRooms())
	}
	if _, err := h.Subscribe(ctx, &sink{id: "b"}, "i", "c", map[string]any{"nope": 1}, SubscribeOptions{}); err == nil {
		t.Fatal("invalid filter accepted")
	}
	if _, err := ParseScope("sideways"); err == nil {
		t.Fatal("bad scope accepted")
	}
}

func TestSlowConsumerIsCountedNotWaitedFor(t *testing.T) {
	h, _ := newHub(t)
	slow, fast := &sink{id: "slow", full: true}, &sink{id: "fast"}
	h.Subscribe(context.Background(), slow, "i", "c", blue(), SubscribeOptions{})
	h.Subscribe(context.Background(), fast, "i", "c", blue(), SubscribeOptions{})
	h.DocumentChanged(write("d", "create", nil, map[string]any{"color": "blue"}))
	if len(fast.take()) != 1 {
		t.Fatal("the fast consumer must be served")
	}
	if _, dropped := h.Stats(); dropped != 1 {
		t.Fatalf("dropped = %d", dropped)
	}
}

func TestConcurrentSubscribeAndDispatch(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c := &sink{id: fmt.Sprintf("c%d-%d", w, i)}
				f := map[string]any{"equals": map[string]any{"n": float64(i % 7)}}
				res, err := h.Subscribe(ctx, c, "i", "c", f, SubscribeOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					h.Unsubscribe(ctx, c, res.RoomID)
				}
			}
		}()
	}
	for i := range 500 {
		h.DocumentChanged(write("d", "create", nil, map[string]any{"n": float64(i % 7)}))
	}
	wg.Wait()
}

// A connection holding many rooms disconnects: the rooms only it held are
// emptied cluster-wide, the shared ones stay, and their other subscribers
// hear that someone left.
func TestDisconnectManyRooms(t *testing.T) {
	h, l := newHub(t)
	h.limits.MaxSubscriptionsPerConn = 0
	ctx := context.Background()
	leaving, staying := &sink{id: "leaving"}, &sink{id: "staying"}
	const rooms = 50
	var shared []string
	for i := range rooms {
		f := map[string]any{"equals": map[string]any{"k": fmt.Sprint(i)}}
		r, err := h.Subscribe(ctx, leaving, "i", "c", f, SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := h.Subscribe(ctx, staying, "i", "c", f, SubscribeOptions{Users: "all"}); err != nil {
				t.Fatal(err)
			}
			shared = append(shared, r.RoomID)
		}
	}
	staying.take()
	h.Disconnect(leaving)
	eventually(t, "the rooms only it held to be emptied", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.emptied == rooms-len(shared)
	})
	if got := len(h.LocalRooms()); got != len(shared) {
		t.Fatalf("%d rooms left, want the %d shared ones", got, len(shared))
	}
	for _, id := range shared {
		if n, _ := h.Count(id); n != 1 {
			t.Fatalf("shared room %s counts %d", id, n)
		}
	}
	outs := 0
	for _, m := range staying.take() {
		if m["type"] == "user" && m["user"] == "out" {
			outs++
		}
	}
	if outs != len(shared) {
		t.Fatalf("%d user notifications, want one per shared room (%d)", outs, len(shared))
	}
	h.Disconnect(leaving) // twice: nothing left to do
}

// A new room is fenced (the node waits until others route the collection's
// publications here) unless an established room of the same collection
// already makes them do so and none has left since.
func TestFenceOnlyWhenOthersMayNotRouteHere(t *testing.T) {
	h, l := newHub(t)
	ctx := context.Background()
	fences := 0
	h.SetFence(func(context.Context) { fences++ })
	eq := func(v string) any { return map[string]any{"equals": map[string]any{"color": v}} }
	a := &sink{id: "a"}
	b := &sink{id: "b"}
	ra, err := h.Subscribe(ctx, a, "i", "c", eq("blue"), SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fences != 1 {
		t.Fatalf("first room of a collection: %d fences, want 1", fences)
	}
	if _, err := h.Subscribe(ctx, b, "i", "c", eq("red"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(ctx, b, "i", "c", eq("blue"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if fences != 1 {
		t.Fatalf("a second room, and an existing room: %d fences, want still 1", fences)
	}
	if _, err := h.Subscribe(ctx, a, "i", "other", eq("blue"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if fences != 2 {
		t.Fatalf("first room of another collection: %d fences, want 2", fences)
	}
	// b leaves: red goes, blue stays (a holds it). blue was established
	// before green is created and stays, so green needs no fence.
	h.Disconnect(b)
	rg, err := h.Subscribe(ctx, a, "i", "c", eq("green"), SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fences != 2 {
		t.Fatalf("new room beside an established one: %d fences, want 2", fences)
	}
	// Once no room of c is left, the next one is fenced again.
	for _, id := range []string{ra.RoomID, rg.RoomID} {
		if err := h.Unsubscribe(ctx, a, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(ctx, b, "i", "c", eq("green"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if fences != 3 {
		t.Fatalf("new room after every other left: %d fences, want 3", fences)
	}
	// A room of c leaves while a new one is being replicated: its
	// departure may reach the log first, so the new room is fenced.
	if _, err := h.Subscribe(ctx, a, "i", "c", eq("red"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	l.during = func() { l.during = nil; h.Disconnect(a) }
	if _, err := h.Subscribe(ctx, b, "i", "c", eq("blue"), SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if fences != 4 {
		t.Fatalf("new room while another left: %d fences, want 4", fences)
	}
	if len(h.colls) != 1 {
		t.Fatalf("per-collection state: %d entries, want 1 (c; a left other)", len(h.colls))
	}
}

func TestTotalsCountRoomsAndSubscriptions(t *testing.T) {
	h, _ := newHub(t)
	ctx := context.Background()
	if rooms, subs := h.Totals(); rooms != 0 || subs != 0 {
		t.Fatalf("empty hub: %d rooms, %d subscriptions", rooms, subs)
	}
	a, b := &sink{id: "a"}, &sink{id: "b"}
	for _, c := range []*sink{a, b} {
		if _, err := h.Subscribe(ctx, c, "i", "c", blue(), SubscribeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Subscribe(ctx, b, "i", "c", map[string]any{"equals": map[string]any{"color": "red"}}, SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}
	if rooms, subs := h.Totals(); rooms != 2 || subs != 3 {
		t.Fatalf("%d rooms, %d subscriptions; want 2 and 3", rooms, subs)
	}
	h.Disconnect(b)
	if rooms, subs := h.Totals(); rooms != 1 || subs != 1 {
		t.Fatalf("after b left: %d rooms, %d subscriptions; want 1 and 1", rooms, subs)
	}
}
