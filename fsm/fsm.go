package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/memstore"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/security"
	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/validation"
)

// Store is the embedded document engine as the state machine drives it.
type Store interface {
	// Apply commits the writes of the entries up to raftIndex in one
	// transaction. Client errors are per write, in the results; an error
	// means nothing was committed and AppliedIndex did not move.
	Apply(raftIndex uint64, writes []storage.Write) ([]storage.WriteResult, error)
	AppliedIndex() uint64
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
	// SnapshotView pins the store's current state and runs fn with its
	// applied index and a function that writes what Snapshot would write
	// of that state, however long fn takes and whatever Apply commits
	// meanwhile.
	SnapshotView(fn func(applied uint64, snapshot func(io.Writer) error) error) error
}

// FormatMarker is a Store that records in its own files the highest
// feature version its cluster agreed on, so that a binary too old to read
// what may follow refuses to open them (the embedded engine's format key,
// which v0.2.0 checks at open).
type FormatMarker interface {
	MarkFormat(version uint32) error
}

// Notifier receives the document events of applied commands, in log order.
type Notifier interface {
	DocumentChanged(ev realtime.DocumentEvent)
}

// Room is a replicated room: its filter and the nodes holding subscribers.
type Room struct {
	ID         string            `json:"id"`
	Index      string            `json:"index"`
	Collection string            `json:"collection"`
	Canonical  json.RawMessage   `json:"canonical"`
	Nodes      map[string]uint64 `json:"nodes"` // node → seq of its last change
}

// state is the part of the replicated state kept in memory and carried in
// snapshots beside the store.
type state struct {
	Rooms map[string]*Room `json:"rooms"`
	// Left remembers the seq of a node's last "emptied" per room, so a
	// reordered older "created" stays ignored.
	Left     map[string]map[string]uint64 `json:"left"`
	Members  map[string]*Member           `json:"members"`
	Activity []Activity                   `json:"activity"`
	// Recent maps the keys of the last dedupWindow keyed commands to their
	// results; RecentOrder is their order of application, oldest first.
	Recent      map[string]json.RawMessage `json:"recent"`
	RecentOrder []string                   `json:"recentOrder"`
	// Applied is the last index covered, so a restored node knows how
	// fresh it is even when the store recorded an older write.
	Applied uint64 `json:"applied"`
	// MS is the memory storage (ms controller).
	MS *memstore.Store `json:"ms,omitempty"`
	// Security is the security state (package security), the same
	// object as FSM.sec.
	Security *security.State `json:"security"`
	// DocSeqs holds, for the documents of the last docWindow "changed"
	// items, the Elasticsearch position of their last notified state;
	// DocOrder is the order they were recorded in, DocBase the position
	// of DocOrder[0] (docseq.go).
	DocSeqs  map[string]docSeq `json:"docSeqs,omitempty"`
	DocOrder []string          `json:"docOrder,omitempty"`
	DocBase  uint64            `json:"docBase,omitempty"`
	// Feature is the cluster's feature version (KindFeature); 0 in a
	// state of format version 1, which means 1.
	Feature uint32 `json:"feature,omitempty"`
	// Specs holds the collections' validation specifications (KindSpecs,
	// format version 2), the same object as FSM.specs once the first was
	// applied; nil before, so that a version 1 state keeps its bytes.
	Specs *validation.State `json:"specs,omitempty"`
}

// FSM is Korum's raft.BatchingFSM.
type FSM struct {
	store  Store
	notify Notifier
	log    *slog.Logger

	// applyMu is held from a batch's store commit to the end of its
	// in-memory changes, so Backup sees both parts at one index.
	applyMu sync.Mutex

	mu      sync.RWMutex
	st      state
	applied uint64
	// memApplied is the last index whose in-memory effects st holds. It
	// lags applied while a restarted node replays entries its store
	// already held (their writes are skipped, their in-memory effects are
	// not).
	memApplied uint64
	// sec is the security state: one object for the FSM's life (a restore
	// replaces its content), with its own lock, so that the request path
	// reads it without the FSM's lock.
	sec *security.State
	// specs is the validation specifications, read by the request path
	// without the FSM's lock (validation.State publishes immutable maps).
	specs *validation.State

	// halted is set when a committed entry could not be applied: from then
	// on nothing is applied, snapshotted or reported as applied, and onHalt
	// has been told to stop the node.
	halted *HaltError
	onHalt func(*HaltError)

	// holders indexes st.Rooms by collection: which nodes hold at least
	// one room on it, and how many. It is derived (rebuilt on restore,
	// never snapshotted) and lets realtime:publish find the nodes to send
	// a message to without scanning every room.
	holders map[collKey]map[string]int
}

// ErrHalted is the result of every command this replica received after it
// failed to apply a committed entry. Its text is what a forwarding node
// receives, so callers recognise it by errors.Is or by that text.
var ErrHalted = errors.New("fsm: this node could not apply a committed log entry and is stopping")

// ErrReplaying is Backup's error while the node replays entries its store
// already holds, after a restart: retry once the replay is over.
var ErrReplaying = errors.New("fsm: this node is replaying its log")

// HaltError says which committed entries a replica could not apply, and why.
// The replica must stop: skipping them would leave it silently diverged from
// its peers. Restarted, it replays them from its snapshot and the log.
type HaltError struct {
	From, To uint64 // the log indexes of the entries that failed together
	Cause    error
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("could not apply committed log entries %d–%d: %v", e.From, e.To, e.Cause)
}

func (e *HaltError) Unwrap() error { return e.Cause }

// OnHalt registers what to do when a committed entry cannot be applied
// (stop the node). fn runs once, on the goroutine that applies entries, and
// must not block. Set it before the first Apply.
func (f *FSM) OnHalt(fn func(*HaltError)) { f.mu.Lock(); f.onHalt = fn; f.mu.Unlock() }

// Halted returns the failure that stopped this replica, or nil.
func (f *FSM) Halted() *HaltError {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.halted
}

// halt records the failure and fails every unit of the call; the applied
// index stays where it was, so a restart replays these entries.
func (f *FSM) halt(units []unit, err error) []any {
	f.mu.Lock()
	first := f.halted == nil
	if first {
		var from, to uint64
		for _, u := range units {
			if from == 0 || u.index < from {
				from = u.index
			}
			to = max(to, u.index)
		}
		f.halted = &HaltError{From: from, To: to, Cause: err}
		f.log.Error("a committed log entry could not be applied: this node stops instead of skipping it",
			"from", from, "to", to, "err", err)
	}
	h, onHalt := f.halted, f.onHalt
	f.mu.Unlock()
	if first && onHalt != nil {
		onHalt(h)
	}
	return haltedResults(len(units))
}

func haltedResults(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = ErrHalted
	}
	return out
}

// New builds the state machine over an opened store.
func New(store Store, notify Notifier, log *slog.Logger) *FSM {
	f := &FSM{store: store, notify: notify, log: log, holders: map[collKey]map[string]int{}}
	f.st = emptyState()
	f.sec = f.st.Security
	f.specs = validation.NewState()
	f.applied = store.AppliedIndex()
	return f
}

func emptyState() state {
	return state{Rooms: map[string]*Room{}, Left: map[string]map[string]uint64{}, Members: map[string]*Member{},
		Recent: map[string]json.RawMessage{}, MS: memstore.New(), Security: security.NewState(),
		DocSeqs: map[string]docSeq{}}
}

// FeatureVersion is the cluster's agreed feature version as of the last
// applied entry: commands of kinds it allows (KindVersion) may be
// proposed. It never decreases.
func (f *FSM) FeatureVersion() uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return max(f.st.Feature, 1)
}

// MemStore is the memory storage, for reads; it has its own lock, and a
// restore replaces it, so callers fetch it for each read.
func (f *FSM) MemStore() *memstore.Store {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.MS
}

// dedupWindow bounds the remembered results (between one and two windows
// are kept). A retry comes within one request timeout, so it only has to
// outlive the writes of that window.
const dedupWindow = 20000

func (f *FSM) remember(key string, result []byte) {
	if key == "" {
		return
	}
	f.st.Recent[key] = result
	f.st.RecentOrder = append(f.st.RecentOrder, key)
	// Trim in halves, not one key at a time: copying the window on every
	// command made each apply O(window). Every replica trims at the same
	// lengths, so the state stays identical.
	if len(f.st.RecentOrder) >= 2*dedupWindow {
		over := len(f.st.RecentOrder) - dedupWindow
		for _, k := range f.st.RecentOrder[:over] {
			delete(f.st.Recent, k)
		}
		f.st.RecentOrder = append([]string(nil), f.st.RecentOrder[over:]...)
	}
}

// Member is a node of the cluster topology, as cluster:status shows it.
type Member struct {
	ID          string `json:"id"`
	APIAddr     string `json:"apiAddr"`
	ClusterAddr string `json:"clusterAddr"`
	Birthdate   int64  `json:"birthdate"`
}

// Activity is one entry of the topology's activity log (Kuzzle's shape).
type Activity struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Date    int64  `json:"date"`
	Event   string `json:"event"` // joined or evicted
	Reason  string `json:"reason,omitempty"`
}

// SetNotifier attaches the notifier once the realtime hub exists.
func (f *FSM) SetNotifier(n Notifier) { f.mu.Lock(); f.notify = n; f.mu.Unlock() }

// AppliedIndex is the last log index this state machine consumed.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Apply applies one entry.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// unit is one command to apply: a plain entry, or one sub-command of a
// batch entry, which behaves as if it were an entry of its own at the
// batch's index.
type unit struct {
	entry int // position in the logs given to ApplyBatch
	sub   int // position in its batch; -1 for a plain entry
	index uint64
	c     *Command
}

// ApplyBatch applies consecutive entries; their storage writes share one
// store transaction (one fsync), then side effects follow in log order,
// and within a batch entry in sub-command order.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	if f.Halted() != nil {
		// Applying later entries after skipping committed ones would be a
		// silent divergence: refuse everything until the node restarts.
		return haltedResults(len(logs))
	}
	out := make([]any, len(logs))
	var units []unit
	// subOut holds the per-sub-command results of batch entries.
	subOut := map[int][]any{}
	var last uint64
	for i, l := range logs {
		if l.Index > last {
			last = l.Index
		}
		if l.Type != raft.LogCommand {
			out[i] = []byte(nil)
			continue
		}
		c, err := DecodeCommand(l.Data)
		if errors.Is(err, ErrNewerFormat) {
			// Skipping it would diverge from the peers that read it; this
			// binary must be upgraded. Nothing of this call is applied.
			return f.halt(logUnits(logs), fmt.Errorf("decoding command at %d: %w", l.Index, err))
		}
		if err != nil {
			// Every node fails the same way on the same bytes, so the state
			// stays identical; the proposer learns why.
			out[i] = fmt.Errorf("decoding command at %d: %w", l.Index, err)
			continue
		}
		if c.Kind != KindBatch {
			units = append(units, unit{entry: i, sub: -1, index: l.Index, c: c})
			continue
		}
		subOut[i] = make([]any, len(c.Batch))
		for j, sc := range c.Batch {
			units = append(units, unit{entry: i, sub: j, index: l.Index, c: sc})
		}
	}
	f.applyMu.Lock()
	res := f.applyUnits(units, last)
	f.applyMu.Unlock()
	for k, u := range units {
		if u.sub < 0 {
			out[u.entry] = res[k]
		} else {
			subOut[u.entry][u.sub] = res[k]
		}
	}
	for i, rs := range subOut {
		out[i] = encodeBatchResult(rs)
	}
	return out
}

// logUnits stands for the entries of a call that fails as a whole.
func logUnits(logs []*raft.Log) []unit {
	us := make([]unit, len(logs))
	for i, l := range logs {
		us[i] = unit{entry: i, sub: -1, index: l.Index}
	}
	return us
}

// applyUnits applies commands in order and returns one result each: a
// []byte (an encoded Response) or an error. last is the highest index of
// the entries they came from.
func (f *FSM) applyUnits(units []unit, last uint64) []any {
	out := make([]any, len(units))
	skip := make([]bool, len(units))
	var writes []storage.Write
	var writeAt []int
	storeApplied := f.store.AppliedIndex()
	seen := map[string]bool{}
	dupOf := map[int]string{}
	var feature uint32 // the highest KindFeature version among the units
	// One read lock for the whole scan rather than one per key: this
	// goroutine is the only writer, the lock only orders it with readers.
	f.mu.RLock()
	for i, u := range units {
		c := u.c
		switch {
		case c == nil:
			out[i], skip[i] = fmt.Errorf("empty command in the batch at %d", u.index), true
			continue
		case c.Kind == KindBatch:
			out[i], skip[i] = fmt.Errorf("a batch inside the batch at %d", u.index), true
			continue
		}
		if c.Key != "" {
			if prev, dup := f.st.Recent[c.Key]; dup {
				out[i], skip[i] = []byte(prev), true
				continue
			}
			if seen[c.Key] {
				// The same proposal twice in one batch: the second one
				// gets the first's result once it is known.
				dupOf[i], skip[i] = c.Key, true
				continue
			}
			seen[c.Key] = true
		}
		// On replay after a restart the store already holds entries up to
		// its own applied index: apply the rest only.
		if c.Kind == KindWrite && c.Write != nil && u.index > storeApplied {
			writes = append(writes, *c.Write)
			writeAt = append(writeAt, i)
		}
		if c.Kind == KindFeature {
			feature = max(feature, c.Feature)
		}
	}
	f.mu.RUnlock()
	if feature > FormatVersion {
		// The cluster agreed on a version this binary does not have: the
		// entries that follow may use it.
		return f.halt(units, newerFormat("the cluster's feature version", uint64(feature)))
	}
	var results []storage.WriteResult
	if len(writes) > 0 {
		var err error
		if results, err = f.store.Apply(last, writes); err != nil {
			return f.halt(units, err)
		}
	}
	if m, ok := f.store.(FormatMarker); ok && feature > 1 {
		// Idempotent, so a replay marks again harmlessly.
		if err := m.MarkFormat(feature); err != nil {
			return f.halt(units, fmt.Errorf("recording feature version %d in the store: %w", feature, err))
		}
	}
	byUnit := make(map[int]*storage.WriteResult, len(writeAt))
	for k, i := range writeAt {
		byUnit[i] = &results[k]
	}

	f.mu.Lock()
	if last > f.applied {
		f.applied = last
	}
	f.memApplied = max(f.memApplied, last)
	notify := f.notify
	var events []realtime.DocumentEvent
	for i, u := range units {
		if skip[i] {
			continue
		}
		c := u.c
		switch c.Kind {
		case KindWrite:
			res := byUnit[i]
			if res == nil {
				out[i] = encodeResponse(&Response{Write: &storage.WriteResult{}})
				continue
			}
			out[i] = encodeResponse(&Response{Write: res})
			if !c.Silent && res.Err == nil && c.Write != nil {
				if ev, ok := documentEvent(c, res); ok {
					events = append(events, ev)
				}
			}
		case KindMS:
			if c.MS == nil {
				out[i] = fmt.Errorf("a memory storage command without its payload at %d", u.index)
				continue
			}
			out[i] = encodeResponse(&Response{MS: f.st.MS.Apply(c.MS)})
		case KindChanged:
			kept, dropped := f.orderChanged(c)
			out[i] = encodeResponse(&Response{Dropped: dropped})
			if !c.Silent && kept != nil {
				if ev, ok := documentEvent(c, kept); ok {
					events = append(events, ev)
				}
			}
		case KindPublish:
			if c.Publish != nil && !c.Silent {
				events = append(events, publishEvent(c))
			}
			out[i] = emptyResponse()
		case KindRoomCreated:
			f.roomCreated(c.Room)
			out[i] = emptyResponse()
		case KindRoomEmptied:
			f.roomEmptied(c.Room)
			out[i] = emptyResponse()
		case KindNodeHello:
			f.nodeReset(c.Node)
			f.memberJoined(c.Node, c.Member)
			out[i] = emptyResponse()
		case KindNodeEvicted:
			if !f.otherIncarnation(c.Node, c.Member) {
				f.nodeReset(c.Node)
				f.memberEvicted(c.Node, c.Member)
			}
			out[i] = emptyResponse()
		case KindSecurity:
			if c.Security == nil {
				out[i] = fmt.Errorf("a security command without payload at %d", u.index)
				continue
			}
			out[i] = encodeResponse(&Response{Security: f.sec.Apply(c.Security).Encode()})
		case KindFeature:
			f.st.Feature = max(f.st.Feature, c.Feature)
			out[i] = emptyResponse()
		case KindSpecs:
			if c.Specs == nil {
				out[i] = fmt.Errorf("a specifications command without payload at %d", u.index)
				continue
			}
			f.st.Specs = f.specs
			out[i] = encodeResponse(&Response{Existed: f.specs.Apply(c.Specs)})
		default:
			out[i] = fmt.Errorf("unknown command kind %q", c.Kind)
		}
	}
	for i, u := range units {
		if !skip[i] && u.c.Key != "" {
			if b, ok := out[i].([]byte); ok {
				f.remember(u.c.Key, b)
			}
		}
	}
	for i, key := range dupOf {
		if prev, ok := f.st.Recent[key]; ok {
			out[i] = []byte(prev)
		} else {
			// The first one failed (errors are not remembered): so does
			// its copy, the same way on every node.
			out[i] = fmt.Errorf("command %s failed", key)
		}
	}
	f.mu.Unlock()
	if notify != nil {
		for _, ev := range events {
			notify.DocumentChanged(ev)
		}
	}
	return out
}

// emptyResponse is the result of commands that return nothing but success.
func emptyResponse() []byte { return []byte("{}") }

func encodeResponse(r *Response) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		return []byte(`{}`)
	}
	return b
}

func (f *FSM) roomCreated(rc *RoomChange) {
	if rc == nil {
		return
	}
	if left := f.st.Left[rc.ID]; left != nil && left[rc.Node] >= rc.Seq {
		return
	}
	r := f.st.Rooms[rc.ID]
	if r == nil {
		r = &Room{ID: rc.ID, Index: rc.Index, Collection: rc.Collection, Canonical: rc.Canonical, Nodes: map[string]uint64{}}
		f.st.Rooms[rc.ID] = r
	}
	if _, held := r.Nodes[rc.Node]; !held {
		f.hold(r, rc.Node)
	}
	if r.Nodes[rc.Node] < rc.Seq {
		r.Nodes[rc.Node] = rc.Seq
	}
}

func (f *FSM) roomEmptied(rc *RoomChange) {
	if rc == nil {
		return
	}
	r := f.st.Rooms[rc.ID]
	if r != nil {
		seq, ok := r.Nodes[rc.Node]
		if ok && seq > rc.Seq {
			return
		}
		if ok {
			f.release(r, rc.Node)
		}
		delete(r.Nodes, rc.Node)
		if len(r.Nodes) == 0 {
			delete(f.st.Rooms, rc.ID)
		}
	}
	left := f.st.Left[rc.ID]
	if left == nil {
		left = map[string]uint64{}
		f.st.Left[rc.ID] = left
	}
	if left[rc.Node] < rc.Seq {
		left[rc.Node] = rc.Seq
	}
}

func (f *FSM) nodeReset(node string) {
	for id, r := range f.st.Rooms {
		if _, ok := r.Nodes[node]; ok {
			f.release(r, node)
		}
		delete(r.Nodes, node)
		if len(r.Nodes) == 0 {
			delete(f.st.Rooms, id)
		}
	}
	for id, left := range f.st.Left {
		delete(left, node)
		if len(left) == 0 {
			delete(f.st.Left, id)
		}
	}
}

func (f *FSM) memberJoined(id string, m *MemberInfo) {
	if m == nil {
		m = &MemberInfo{}
	}
	f.st.Members[id] = &Member{ID: id, APIAddr: m.APIAddr, ClusterAddr: m.ClusterAddr, Birthdate: m.Date}
	f.record(Activity{ID: id, Address: hostOf(m.ClusterAddr), Date: m.Date, Event: "joined"}, m.Depth)
}

// otherIncarnation reports an eviction aimed at an earlier incarnation of
// a node that has restarted and said hello since: the eviction was decided
// before the restart and must not wipe the new incarnation's rooms.
func (f *FSM) otherIncarnation(id string, m *MemberInfo) bool {
	if m == nil || m.Incarnation == 0 {
		return false
	}
	cur := f.st.Members[id]
	return cur != nil && cur.Birthdate != m.Incarnation
}

func (f *FSM) memberEvicted(id string, m *MemberInfo) {
	if m == nil {
		m = &MemberInfo{}
	}
	addr := m.ClusterAddr
	if old := f.st.Members[id]; old != nil && addr == "" {
		addr = old.ClusterAddr
	}
	if _, known := f.st.Members[id]; !known {
		// Evicting a node twice (two leaders' views, a retried command)
		// must not log it twice.
		return
	}
	delete(f.st.Members, id)
	f.record(Activity{ID: id, Address: hostOf(addr), Date: m.Date, Event: "evicted", Reason: m.Reason}, m.Depth)
}

// record appends to the activity log, keeping the newest depth entries.
func (f *FSM) record(a Activity, depth int) {
	if depth <= 0 {
		depth = 50
	}
	f.st.Activity = append(f.st.Activity, a)
	if over := len(f.st.Activity) - depth; over > 0 {
		f.st.Activity = append([]Activity(nil), f.st.Activity[over:]...)
	}
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Members returns the topology, sorted by id, and the activity log.
func (f *FSM) Members() ([]Member, []Activity) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ms := make([]Member, 0, len(f.st.Members))
	for _, m := range f.st.Members {
		ms = append(ms, *m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms, append([]Activity(nil), f.st.Activity...)
}

// Specs returns the collections' validation specifications, which the
// request path reads (it has its own synchronisation).
func (f *FSM) Specs() *validation.State { return f.specs }

// Security returns the security state, which the request path reads
// without the FSM's lock; it is the same object for the FSM's life.
func (f *FSM) Security() *security.State { return f.sec }

// Room returns a replicated room, or nil.
func (f *FSM) Room(id string) *Room {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r := f.st.Rooms[id]
	if r == nil {
		return nil
	}
	cp := *r
	cp.Nodes = make(map[string]uint64, len(r.Nodes))
	for k, v := range r.Nodes {
		cp.Nodes[k] = v
	}
	return &cp
}

// Rooms returns every replicated room, sorted by id.
func (f *FSM) Rooms() []Room {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Room, 0, len(f.st.Rooms))
	for _, r := range f.st.Rooms {
		cp := *r
		cp.Nodes = make(map[string]uint64, len(r.Nodes))
		for k, v := range r.Nodes {
			cp.Nodes[k] = v
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func notifyAction(op storage.Op, created bool) string {
	switch op {
	case storage.OpDocCreate:
		return "create"
	case storage.OpDocCreateOrReplace:
		if created {
			return "create"
		}
		return "replace"
	case storage.OpDocReplace:
		return "replace"
	case storage.OpDocUpsert:
		if created {
			return "create"
		}
		return "update"
	case storage.OpDocUpdate, storage.OpDocDeleteFields, storage.OpDocUpdateByQuery:
		return "update"
	case storage.OpDocDelete, storage.OpDocDeleteByQuery:
		return "delete"
	}
	return ""
}

func documentEvent(c *Command, res *storage.WriteResult) (realtime.DocumentEvent, bool) {
	w := c.Write
	ev := realtime.DocumentEvent{Index: w.Index, Collection: w.Collection}
	if c.Meta != nil {
		ev.Meta = *c.Meta
	}
	for _, it := range res.Items {
		if it.Err != nil {
			continue
		}
		action := notifyAction(w.Op, it.Created)
		if action == "" {
			continue
		}
		ch := realtime.Change{ID: it.ID, Action: action}
		if it.Before != nil {
			ch.Before = it.Before.Source
		}
		if it.After != nil {
			ch.After = it.After.Source
			ch.Version = it.After.Version
		}
		if action == "update" {
			ch.UpdatedFields = it.UpdatedFields
		}
		ev.Changes = append(ev.Changes, ch)
	}
	return ev, len(ev.Changes) > 0
}

func publishEvent(c *Command) realtime.DocumentEvent {
	ev := realtime.DocumentEvent{Index: c.Publish.Index, Collection: c.Publish.Collection}
	if c.Meta != nil {
		ev.Meta = *c.Meta
	}
	ev.Changes = []realtime.Change{{ID: c.Publish.ID, After: c.Publish.Body, Action: "publish"}}
	return ev
}

// Snapshot captures the in-memory state now; the store is copied while the
// snapshot is persisted, which runs concurrently with Apply. The store's
// copy may then be newer than the in-memory part, which is safe because a
// restored store skips entries it already holds and room changes are
// idempotent.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.halted != nil {
		// Raft would label the snapshot with its own applied index, past
		// the entries this replica failed to apply, and compact them away.
		return nil, fmt.Errorf("no snapshot of a halted state machine: %w", f.halted)
	}
	f.st.Applied = f.memApplied
	b, err := json.Marshal(f.st)
	if err != nil {
		return nil, fmt.Errorf("encoding the replicated state: %w", err)
	}
	// The snapshot's format is the one the cluster agreed on, not this
	// binary's newest: a member of the previous release may install it.
	return &snapshot{state: b, store: f.store, version: max(f.st.Feature, 1)}, nil
}

type snapshot struct {
	state   []byte
	store   Store
	version uint32
}

// Persist writes the header (format.go) and the state JSON, then the
// store's snapshot.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.version, s.state, s.store.Snapshot); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// writeSnapshot writes the snapshot format Restore reads: the header of
// format version (format.go) with the state JSON, then the store's
// snapshot. Raft snapshots and backups share it.
func writeSnapshot(out io.Writer, version uint32, state []byte, store func(io.Writer) error) error {
	w := bufio.NewWriter(out)
	if err := writeSnapshotHeader(w, version, state); err != nil {
		return err
	}
	if err := store(w); err != nil {
		return fmt.Errorf("snapshotting the store: %w", err)
	}
	return w.Flush()
}

func (s *snapshot) Release() {}

// Restore replaces all state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	r := bufio.NewReader(rc)
	_, b, err := readSnapshotHeader(r)
	if err != nil {
		if errors.Is(err, ErrNewerFormat) {
			// Installing nothing and going on would leave this replica
			// behind for good: stop, as for an entry it cannot apply.
			f.halt([]unit{{index: f.AppliedIndex() + 1}}, err)
		}
		return err
	}
	st := emptyState()
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("decoding the snapshot state: %w", err)
	}
	if st.Feature > FormatVersion {
		err := newerFormat("the snapshot's cluster feature version", uint64(st.Feature))
		f.halt([]unit{{index: f.AppliedIndex() + 1}}, err)
		return err
	}
	if st.Rooms == nil {
		st.Rooms = map[string]*Room{}
	}
	if st.Left == nil {
		st.Left = map[string]map[string]uint64{}
	}
	if st.Members == nil {
		st.Members = map[string]*Member{}
	}
	if st.Recent == nil {
		st.Recent = map[string]json.RawMessage{}
	}
	if st.MS == nil {
		st.MS = memstore.New()
	}
	if st.Security == nil { // "security": null
		st.Security = security.NewState()
	}
	if st.DocSeqs == nil {
		st.DocSeqs = map[string]docSeq{}
	}
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if err := f.store.Restore(r); err != nil {
		return fmt.Errorf("restoring the store: %w", err)
	}
	f.mu.Lock()
	f.sec.Replace(st.Security)
	st.Security = f.sec
	f.specs.Replace(st.Specs)
	if st.Specs != nil {
		st.Specs = f.specs
	}
	f.st = st
	f.reindexHolders()
	f.applied = max(st.Applied, f.store.AppliedIndex())
	f.memApplied = st.Applied
	f.mu.Unlock()
	return nil
}

// Backup gives fn a consistent copy of the whole replicated state at one
// applied index: index, and write, which writes the snapshot format
// Restore reads. Unlike Snapshot, whose store part may be newer than its
// in-memory part (harmless for Raft, which replays the log from the
// snapshot's index), the two parts of a backup are taken at the same
// index, since nothing will be replayed onto a restored backup. Applying
// waits only while the in-memory state is encoded and the store's view is
// pinned, not while fn runs.
func (f *FSM) Backup(fn func(index uint64, write func(io.Writer) error) error) error {
	f.applyMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			f.applyMu.Unlock()
		}
	}
	defer unlock()
	f.mu.Lock()
	if f.halted != nil {
		f.mu.Unlock()
		return fmt.Errorf("no backup of a halted state machine: %w", f.halted)
	}
	index := f.memApplied
	f.st.Applied = index
	// Written in the format the cluster agreed on, as Raft snapshots are.
	version := max(f.st.Feature, 1)
	state, err := json.Marshal(f.st)
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encoding the replicated state: %w", err)
	}
	return f.store.SnapshotView(func(storeApplied uint64, snap func(io.Writer) error) error {
		unlock()
		if storeApplied > index {
			// A restarted node replaying entries its store already
			// held: the two parts are at different indexes until the
			// replay passes the store's.
			return fmt.Errorf("%w: its store is at index %d, its in-memory state at %d", ErrReplaying, storeApplied, index)
		}
		return fn(index, func(w io.Writer) error { return writeSnapshot(w, version, state, snap) })
	})
}
