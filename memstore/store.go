package memstore

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Limits every replica enforces identically: they are constants, never
// configuration, because a command must have the same outcome everywhere.
const (
	// MaxKeyLen bounds a key's length in bytes.
	MaxKeyLen = 4096
	// MaxValueLen bounds a string value, and each element of a collection.
	MaxValueLen = 1 << 20
	// MaxElements bounds the elements of one hash, list, set or sorted set.
	MaxElements = 10000
	// MaxKeys bounds the number of keys.
	MaxKeys = 1000000
	// MaxBytes bounds the store's approximate size (keys and values).
	MaxBytes = 256 << 20
	// MaxArgs bounds the arguments of one command, and MaxCommands the
	// commands of one entry (ms:mexecute).
	MaxArgs     = 2 * MaxElements
	MaxCommands = 1000
	// SweepBatch is the most expired keys one sweep removes, so that a
	// sweep is a short entry whatever the backlog.
	SweepBatch = 1000
	// MaxReplyBytes bounds the replies of one logged command (they travel
	// back to the proposer and are remembered for retries): a command
	// whose reply would overflow it fails and changes nothing.
	MaxReplyBytes = 16 << 20
)

type kind uint8

const (
	kString kind = iota + 1
	kHash
	kList
	kSet
	kZSet
)

func (k kind) String() string {
	return [...]string{"none", "string", "hash", "list", "set", "zset"}[k]
}

// entry is one key's value. Only the field of its kind is set; a
// HyperLogLog is a string (as in Redis) whose registers are kept as the
// exact set of its elements (hll), which makes pfcount exact.
type entry struct {
	k        kind
	str      string
	hll      map[string]struct{}
	hash     map[string]string
	list     []string
	set      map[string]struct{}
	zset     map[string]float64
	expireAt int64 // unix ms; 0: never
	size     int64 // approximate bytes, key included
}

// Store is the memory storage of one replica.
type Store struct {
	mu    sync.RWMutex
	keys  map[string]*entry
	now   int64 // the latest command time applied: time never goes back
	bytes int64
}

// New returns an empty store.
func New() *Store { return &Store{keys: map[string]*entry{}} }

// Error is a command's failure, with Redis's message.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errf(format string, a ...any) *Error { return &Error{Msg: fmt.Sprintf(format, a...)} }

var (
	errWrongType = &Error{"WRONGTYPE Operation against a key holding the wrong kind of value"}
	errNotInt    = &Error{"ERR value is not an integer or out of range"}
	errNotFloat  = &Error{"ERR value is not a valid float"}
	errSyntax    = &Error{"ERR syntax error"}
	errNoKey     = &Error{"ERR no such key"}
	errIndex     = &Error{"ERR index out of range"}
	errOverflow  = &Error{"ERR increment or decrement would overflow"}
	errNaN       = &Error{"ERR increment would produce NaN or Infinity"}
	errMinMax    = &Error{"ERR min or max is not a float"}
	errLex       = &Error{"ERR min or max not valid string range item"}
)

// Command is one log entry of the memory storage: Redis argument vectors
// stamped with the proposer's time and, for the commands that pick at
// random (spop), a seed.
type Command struct {
	Now  int64      `json:"now"`
	Seed uint64     `json:"seed,omitempty"`
	Cmds [][]string `json:"cmds,omitempty"`
	// Sweep removes up to SweepBatch keys expired at Now.
	Sweep bool `json:"sweep,omitempty"`
}

// Reply is one command's outcome.
type Reply struct {
	Value any    `json:"v,omitempty"`
	Err   string `json:"e,omitempty"`
}

// Apply runs a logged command's argument vectors in order; each reply
// is independent (a failed one changes nothing, the next still runs).
func (s *Store) Apply(c *Command) []Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Now > s.now {
		s.now = c.Now
	}
	if c.Sweep {
		return []Reply{{Value: s.sweep()}}
	}
	x := &ctx{s: s, now: s.now, write: true, rnd: rand.New(rand.NewPCG(c.Seed, uint64(c.Now))), budget: MaxReplyBytes}
	out := make([]Reply, len(c.Cmds))
	for i, argv := range c.Cmds {
		v, err := x.run(argv)
		if err != nil {
			out[i] = Reply{Err: err.Error()}
			continue
		}
		out[i] = Reply{Value: v}
	}
	return out
}

// Read runs a read-only command against this replica's keys, comparing
// expirations with now (unix ms, the reader's clock).
func (s *Store) Read(argv []string, now int64, rnd *rand.Rand) (any, error) {
	if err := Validate(argv); err != nil {
		return nil, err
	}
	if IsWrite(argv) {
		return nil, errf("ERR '%s' is a write command", argv[0])
	}
	if rnd == nil {
		// Reads may pick at random freely: nothing depends on the pick.
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	x := &ctx{s: s, now: now, rnd: rnd}
	return x.run(argv)
}

// Expired counts the keys expired at now (a leader's cue to sweep).
func (s *Store) Expired(now int64) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.keys {
		if e.expireAt > 0 && e.expireAt <= now {
			n++
			if n >= SweepBatch {
				break
			}
		}
	}
	return n
}

// Stats are the figures of the store.
func (s *Store) Stats() (keys int, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys), s.bytes
}

func (s *Store) sweep() int64 {
	var dead []string
	for k, e := range s.keys {
		if e.expireAt > 0 && e.expireAt <= s.now {
			dead = append(dead, k)
		}
	}
	// Which keys go must not depend on map order: the first in key order.
	sort.Strings(dead)
	if len(dead) > SweepBatch {
		dead = dead[:SweepBatch]
	}
	for _, k := range dead {
		s.bytes -= s.keys[k].size
		delete(s.keys, k)
	}
	return int64(len(dead))
}

// spec describes a command: whether it writes and its arity (Redis's
// convention, the name included: n exact, -n at least n).
type spec struct {
	write bool
	arity int
	fn    func(x *ctx, a []string) (any, error)
}

var commands map[string]spec

// IsWrite reports whether a command changes the store and so must go
// through the log.
func IsWrite(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	name := strings.ToLower(argv[0])
	if name == "sort" {
		for _, a := range argv[2:] {
			if strings.EqualFold(a, "store") {
				return true
			}
		}
		return false
	}
	return commands[name].write
}

// Known reports whether name is a command of the store.
func Known(name string) bool { _, ok := commands[strings.ToLower(name)]; return ok }

// Validate checks what can be checked without the keys: the command
// exists, its arity, and the sizes of its arguments.
func Validate(argv []string) error {
	if len(argv) == 0 {
		return errf("ERR empty command")
	}
	sp, ok := commands[strings.ToLower(argv[0])]
	if !ok {
		return errf("ERR unknown command '%s'", argv[0])
	}
	if (sp.arity > 0 && len(argv) != sp.arity) || (sp.arity < 0 && len(argv) < -sp.arity) {
		return errf("ERR wrong number of arguments for '%s' command", strings.ToLower(argv[0]))
	}
	if len(argv) > MaxArgs+1 {
		return errf("LIMIT too many arguments for '%s' command (at most %d)", strings.ToLower(argv[0]), MaxArgs)
	}
	for _, a := range argv[1:] {
		if len(a) > MaxValueLen {
			return errf("LIMIT an argument is larger than %d bytes", MaxValueLen)
		}
	}
	return nil
}

// ctx is one command's execution. In write mode every key it touches is
// saved first (undo), so that a failure or a broken limit restores them.
type ctx struct {
	s     *Store
	now   int64
	write bool
	rnd   *rand.Rand
	undo  map[string]*entry
	// budget is what is left of MaxReplyBytes for this entry's replies.
	budget int
}

func (x *ctx) run(argv []string) (any, error) {
	if err := Validate(argv); err != nil {
		return nil, err
	}
	sp := commands[strings.ToLower(argv[0])]
	if !x.write && IsWrite(argv) {
		return nil, errf("ERR '%s' is a write command", argv[0])
	}
	if !x.write {
		v, err := sp.fn(x, argv[1:])
		if err == nil && replySize(v) > MaxReplyBytes {
			return nil, errf("LIMIT the reply exceeds %d bytes", MaxReplyBytes)
		}
		return v, err
	}
	x.undo = map[string]*entry{}
	v, err := sp.fn(x, argv[1:])
	if err == nil {
		if n := replySize(v); n > x.budget {
			err = errf("LIMIT the replies of one command exceed %d bytes", MaxReplyBytes)
		} else {
			x.budget -= n
		}
	}
	if err == nil {
		err = x.settle()
	}
	if err != nil {
		x.rollback()
		return nil, err
	}
	return v, nil
}

// settle drops emptied collections and enforces the limits; only when
// they hold are the new sizes accounted. On an error nothing is accounted
// and rollback restores the touched keys as they were.
func (x *ctx) settle() error {
	keys := make([]string, 0, len(x.undo))
	for k := range x.undo {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var delta int64
	sizes := make(map[string]int64, len(keys))
	for _, k := range keys {
		if old := x.undo[k]; old != nil {
			delta -= old.size
		}
		e := x.s.keys[k]
		if e == nil {
			continue
		}
		if e.k != kString && e.length() == 0 {
			delete(x.s.keys, k)
			continue
		}
		if len(k) > MaxKeyLen {
			return errf("LIMIT key too long (at most %d bytes)", MaxKeyLen)
		}
		if e.k == kString && len(e.str) > MaxValueLen {
			return errf("LIMIT string exceeds maximum allowed size (%d bytes)", MaxValueLen)
		}
		if e.length() > MaxElements && (e.k != kString || e.hll != nil) {
			return errf("LIMIT a %s may hold at most %d elements", e.k, MaxElements)
		}
		sizes[k] = e.measure(k)
		delta += sizes[k]
	}
	if len(x.s.keys) > MaxKeys {
		return errf("LIMIT the memory storage holds at most %d keys", MaxKeys)
	}
	if delta > 0 && x.s.bytes+delta > MaxBytes {
		return errf("OOM command not allowed when used memory > 'maxmemory' (%d bytes)", MaxBytes)
	}
	for k, n := range sizes {
		x.s.keys[k].size = n
	}
	x.s.bytes += delta
	return nil
}

// rollback restores the keys the failed command touched; their clones
// carry their accounted sizes, and settle accounted nothing.
func (x *ctx) rollback() {
	for k, old := range x.undo {
		if old == nil {
			delete(x.s.keys, k)
		} else {
			x.s.keys[k] = old
		}
	}
}

func (s *Store) recount() {
	s.bytes = 0
	for _, e := range s.keys {
		s.bytes += e.size
	}
}

// touch saves a key's value before its first change in this command.
func (x *ctx) touch(key string) {
	if _, ok := x.undo[key]; ok {
		return
	}
	x.undo[key] = x.s.keys[key].clone()
}

// lookup returns a live key or nil; in write mode an expired key is
// removed as it is met.
func (x *ctx) lookup(key string) *entry {
	e := x.s.keys[key]
	if e == nil {
		return nil
	}
	if e.expireAt > 0 && e.expireAt <= x.now {
		if x.write {
			x.touch(key)
			delete(x.s.keys, key)
		}
		return nil
	}
	return e
}

// get returns a live key of kind k, nil if absent, WRONGTYPE otherwise.
func (x *ctx) get(key string, k kind) (*entry, error) {
	e := x.lookup(key)
	if e != nil && e.k != k {
		return nil, errWrongType
	}
	return e, nil
}

// mut returns key's value of kind k for changing it, created if absent.
func (x *ctx) mut(key string, k kind) (*entry, error) {
	e, err := x.get(key, k)
	if err != nil {
		return nil, err
	}
	x.touch(key)
	if e == nil {
		e = newEntry(k)
		x.s.keys[key] = e
	}
	return e, nil
}

// mutExisting is mut for commands that do nothing to an absent key.
func (x *ctx) mutExisting(key string, k kind) (*entry, error) {
	e, err := x.get(key, k)
	if err != nil || e == nil {
		return nil, err
	}
	x.touch(key)
	return e, nil
}

// put replaces key's value (any kind), keeping nothing of the old one.
func (x *ctx) put(key string, e *entry) {
	x.lookup(key)
	x.touch(key)
	x.s.keys[key] = e
}

func (x *ctx) remove(key string) bool {
	if x.lookup(key) == nil {
		return false
	}
	x.touch(key)
	delete(x.s.keys, key)
	return true
}

func newEntry(k kind) *entry {
	e := &entry{k: k}
	switch k {
	case kHash:
		e.hash = map[string]string{}
	case kSet:
		e.set = map[string]struct{}{}
	case kZSet:
		e.zset = map[string]float64{}
	}
	return e
}

func (e *entry) clone() *entry {
	if e == nil {
		return nil
	}
	c := *e
	switch e.k {
	case kString:
		if e.hll != nil {
			c.hll = cloneSet(e.hll)
		}
	case kHash:
		c.hash = maps.Clone(e.hash)
	case kList:
		c.list = slices.Clone(e.list)
	case kSet:
		c.set = cloneSet(e.set)
	case kZSet:
		c.zset = maps.Clone(e.zset)
	}
	return &c
}

// cloneSet copies a set with maps.Clone, which copies the table whole
// rather than inserting key by key.
func cloneSet(s map[string]struct{}) map[string]struct{} { return maps.Clone(s) }

func (e *entry) length() int {
	switch e.k {
	case kString:
		if e.hll != nil {
			return len(e.hll)
		}
		return len(e.str)
	case kHash:
		return len(e.hash)
	case kList:
		return len(e.list)
	case kSet:
		return len(e.set)
	case kZSet:
		return len(e.zset)
	}
	return 0
}

// measure approximates the bytes a value holds: its payload plus a fixed
// overhead per key and per element.
func (e *entry) measure(key string) int64 {
	n := int64(len(key) + 64)
	switch e.k {
	case kString:
		n += int64(len(e.str))
		for m := range e.hll {
			n += int64(len(m) + 16)
		}
	case kHash:
		for k, v := range e.hash {
			n += int64(len(k) + len(v) + 32)
		}
	case kList:
		for _, v := range e.list {
			n += int64(len(v) + 16)
		}
	case kSet:
		for m := range e.set {
			n += int64(len(m) + 16)
		}
	case kZSet:
		for m := range e.zset {
			n += int64(len(m) + 24)
		}
	}
	return n
}

// replySize approximates a reply's encoded size.
func replySize(v any) int {
	switch r := v.(type) {
	case string:
		return len(r) + 2
	case []any:
		n := 2
		for _, e := range r {
			n += replySize(e) + 1
		}
		return n
	case map[string]string:
		n := 2
		for k, e := range r {
			n += len(k) + len(e) + 6
		}
		return n
	}
	return 8
}

// --- snapshots ---

type entryJSON struct {
	K    kind              `json:"k"`
	S    string            `json:"s,omitempty"`
	HLL  []string          `json:"p,omitempty"`
	H    map[string]string `json:"h,omitempty"`
	L    []string          `json:"l,omitempty"`
	Set  []string          `json:"m,omitempty"`
	Z    map[string]string `json:"z,omitempty"` // scores as text: JSON has no infinity
	X    int64             `json:"x,omitempty"`
	Size int64             `json:"n,omitempty"`
}

type storeJSON struct {
	Now  int64                `json:"now"`
	Keys map[string]entryJSON `json:"keys"`
}

// MarshalJSON encodes the store for a snapshot.
func (s *Store) MarshalJSON() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := storeJSON{Now: s.now, Keys: make(map[string]entryJSON, len(s.keys))}
	for k, e := range s.keys {
		j := entryJSON{K: e.k, S: e.str, H: e.hash, L: e.list, X: e.expireAt, Size: e.size}
		if e.hll != nil {
			j.HLL = sortedSet(e.hll)
		}
		if e.k == kSet {
			j.Set = sortedSet(e.set)
		}
		if e.k == kZSet {
			j.Z = make(map[string]string, len(e.zset))
			for m, sc := range e.zset {
				j.Z[m] = fmtScore(sc)
			}
		}
		out.Keys[k] = j
	}
	return json.Marshal(out)
}

// UnmarshalJSON restores a snapshot's store.
func (s *Store) UnmarshalJSON(b []byte) error {
	var in storeJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	keys := make(map[string]*entry, len(in.Keys))
	for k, j := range in.Keys {
		if j.K < kString || j.K > kZSet {
			return fmt.Errorf("memstore: key %q has an unknown kind %d", k, j.K)
		}
		e := newEntry(j.K)
		e.str, e.expireAt, e.size = j.S, j.X, j.Size
		if j.HLL != nil {
			e.hll = toSet(j.HLL)
		}
		switch j.K {
		case kHash:
			if j.H != nil {
				e.hash = j.H
			}
		case kList:
			e.list = j.L
		case kSet:
			e.set = toSet(j.Set)
		case kZSet:
			for m, t := range j.Z {
				sc, err := parseScore(t)
				if err != nil {
					return fmt.Errorf("memstore: key %q: score %q: %w", k, t, err)
				}
				e.zset[m] = sc
			}
		}
		if e.size == 0 {
			e.size = e.measure(k)
		}
		keys[k] = e
	}
	s.mu.Lock()
	s.keys, s.now = keys, in.Now
	s.recount()
	s.mu.Unlock()
	return nil
}

func toSet(a []string) map[string]struct{} {
	m := make(map[string]struct{}, len(a))
	for _, v := range a {
		m[v] = struct{}{}
	}
	return m
}

func sortedSet(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// --- argument parsing and formatting ---

func parseInt(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errNotInt
	}
	return n, nil
}

func parseFloat(s string) (float64, error) {
	f, err := parseScore(s)
	if err != nil || math.IsNaN(f) {
		return 0, errNotFloat
	}
	return f, nil
}

func parseScore(s string) (float64, error) {
	switch strings.ToLower(s) {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errNotFloat
	}
	return f, nil
}

func fmtScore(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// strs turns a []string into a reply array.
func strs(a []string) []any {
	out := make([]any, len(a))
	for i, v := range a {
		out[i] = v
	}
	return out
}

// span resolves Redis's inclusive, possibly negative, start/stop indexes
// over n elements; ok is false when the range is empty.
func span(start, stop int64, n int) (int, int, bool) {
	l := int64(n)
	if start < 0 {
		start += l
	}
	if stop < 0 {
		stop += l
	}
	if start < 0 {
		start = 0
	}
	if stop >= l {
		stop = l - 1
	}
	if start > stop || start >= l {
		return 0, 0, false
	}
	return int(start), int(stop), true
}

// match is Redis's glob matching (stringmatchlen): * ? [set] [^set]
// [a-z] and backslash escapes.
func match(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 1 && pattern[1] == '*' {
				pattern = pattern[1:]
			}
			if len(pattern) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if match(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			p := pattern[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			hit := false
			for len(p) > 0 && p[0] != ']' {
				switch {
				case p[0] == '\\' && len(p) >= 2:
					hit = hit || p[1] == s[0]
					p = p[2:]
				case len(p) >= 3 && p[1] == '-':
					lo, hi := p[0], p[2]
					if lo > hi {
						lo, hi = hi, lo
					}
					hit = hit || (s[0] >= lo && s[0] <= hi)
					p = p[3:]
				default:
					hit = hit || p[0] == s[0]
					p = p[1:]
				}
			}
			if not {
				hit = !hit
			}
			if !hit {
				return false
			}
			if len(p) > 0 {
				p = p[1:] // the closing bracket
			}
			pattern = p
			s = s[1:]
			continue
		case '\\':
			if len(pattern) >= 2 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || pattern[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		pattern = pattern[1:]
	}
	return len(s) == 0
}

// scanOpts parses [MATCH pattern] [COUNT n].
func scanOpts(a []string) (pattern string, count int, err error) {
	count = 10
	for i := 0; i < len(a); i++ {
		switch strings.ToUpper(a[i]) {
		case "MATCH":
			if i+1 >= len(a) {
				return "", 0, errSyntax
			}
			pattern = a[i+1]
			i++
		case "COUNT":
			if i+1 >= len(a) {
				return "", 0, errSyntax
			}
			n, err := parseInt(a[i+1])
			if err != nil {
				return "", 0, err
			}
			if n < 1 {
				return "", 0, errSyntax
			}
			count = int(min(n, MaxElements))
			i++
		default:
			return "", 0, errSyntax
		}
	}
	return pattern, count, nil
}

// scanPage walks names in order from cursor: a page of up to count names
// matching pattern, and the next cursor ("0" at the end).
func scanPage(names []string, cursor string, pattern string, count int) (string, []string, error) {
	c, err := strconv.ParseUint(cursor, 10, 64)
	if err != nil {
		return "", nil, &Error{"ERR invalid cursor"}
	}
	sort.Strings(names)
	var out []string
	i := int(min(c, uint64(len(names))))
	end := min(i+count, len(names))
	for ; i < end; i++ {
		if pattern == "" || match(pattern, names[i]) {
			out = append(out, names[i])
		}
	}
	next := "0"
	if end < len(names) {
		next = strconv.Itoa(end)
	}
	return next, out, nil
}
