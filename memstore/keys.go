package memstore

import (
	"sort"
	"strconv"
	"strings"
)

func cmdDel(x *ctx, a []string) (any, error) {
	var n int64
	for _, k := range a {
		if x.remove(k) {
			n++
		}
	}
	return n, nil
}

// cmdExists counts the live keys among a, a key named twice counting twice
// (as EXISTS and TOUCH do).
func cmdExists(x *ctx, a []string) (any, error) {
	var n int64
	for _, k := range a {
		if x.lookup(k) != nil {
			n++
		}
	}
	return n, nil
}

// expireAt sets key's expiry (unix ms); a past time deletes it.
func (x *ctx) expireAt(key string, at int64) (any, error) {
	e := x.lookup(key)
	if e == nil {
		return int64(0), nil
	}
	x.touch(key)
	if at <= x.now {
		delete(x.s.keys, key)
		return int64(1), nil
	}
	e.expireAt = at
	return int64(1), nil
}

// cmdExpire builds expire (unit 1000, relative), pexpire (1, relative),
// expireat (1000, absolute) and pexpireat (1, absolute).
func cmdExpire(unit int64, absolute bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		n, err := parseInt(a[1])
		if err != nil {
			return nil, err
		}
		const limit = int64(1) << 50
		if n > limit/unit || n < -limit/unit {
			return nil, &Error{"ERR invalid expire time"}
		}
		at := n * unit
		if !absolute {
			at += x.now
		}
		return x.expireAt(a[0], at)
	}
}

func cmdPersist(x *ctx, a []string) (any, error) {
	e := x.lookup(a[0])
	if e == nil || e.expireAt == 0 {
		return int64(0), nil
	}
	x.touch(a[0])
	e.expireAt = 0
	return int64(1), nil
}

func cmdTTL(unit int64) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		e := x.lookup(a[0])
		switch {
		case e == nil:
			return int64(-2), nil
		case e.expireAt == 0:
			return int64(-1), nil
		}
		left := e.expireAt - x.now
		return (left + unit/2) / unit, nil
	}
}

func cmdType(x *ctx, a []string) (any, error) {
	e := x.lookup(a[0])
	if e == nil {
		return "none", nil
	}
	return e.k.String(), nil
}

// liveKeys lists the keys not expired at x.now.
func (x *ctx) liveKeys() []string {
	out := make([]string, 0, len(x.s.keys))
	for k, e := range x.s.keys {
		if e.expireAt == 0 || e.expireAt > x.now {
			out = append(out, k)
		}
	}
	return out
}

func cmdKeys(x *ctx, a []string) (any, error) {
	var out []string
	for _, k := range x.liveKeys() {
		if match(a[0], k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return strs(out), nil
}

func cmdScan(x *ctx, a []string) (any, error) {
	pattern, count, err := scanOpts(a[1:])
	if err != nil {
		return nil, err
	}
	next, page, err := scanPage(x.liveKeys(), a[0], pattern, count)
	if err != nil {
		return nil, err
	}
	return []any{next, strs(page)}, nil
}

func cmdRandomkey(x *ctx, _ []string) (any, error) {
	keys := x.liveKeys()
	if len(keys) == 0 {
		return nil, nil
	}
	sort.Strings(keys)
	return keys[x.rnd.IntN(len(keys))], nil
}

func cmdRename(nx bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		e := x.lookup(a[0])
		if e == nil {
			return nil, errNoKey
		}
		if a[0] == a[1] {
			if nx {
				return int64(0), nil
			}
			return "OK", nil
		}
		if nx && x.lookup(a[1]) != nil {
			return int64(0), nil
		}
		moved := e.clone()
		x.remove(a[0])
		x.put(a[1], moved)
		if nx {
			return int64(1), nil
		}
		return "OK", nil
	}
}

func cmdDbsize(x *ctx, _ []string) (any, error) { return int64(len(x.liveKeys())), nil }

func cmdFlushdb(x *ctx, _ []string) (any, error) {
	// Not undoable key by key (it cannot fail): the whole map goes at once.
	x.s.keys = map[string]*entry{}
	x.s.bytes = 0
	x.undo = map[string]*entry{}
	return "OK", nil
}

func cmdObject(x *ctx, a []string) (any, error) {
	sub := strings.ToLower(a[0])
	e := x.lookup(a[1])
	if e == nil {
		return nil, nil
	}
	switch sub {
	case "refcount":
		return int64(1), nil
	case "idletime":
		// Access times are not replicated: every read would be a write.
		return int64(0), nil
	case "freq":
		return int64(0), nil
	case "encoding":
		switch e.k {
		case kString:
			if e.hll != nil {
				return "raw", nil
			}
			if _, err := strconv.ParseInt(e.str, 10, 64); err == nil {
				return "int", nil
			}
			if len(e.str) <= 44 {
				return "embstr", nil
			}
			return "raw", nil
		case kList:
			return "quicklist", nil
		case kZSet:
			return "skiplist", nil
		default:
			return "hashtable", nil
		}
	}
	return nil, errf("ERR unknown subcommand '%s'. Try OBJECT HELP.", a[0])
}

func cmdPing(_ *ctx, a []string) (any, error) {
	if len(a) > 0 {
		return a[0], nil
	}
	return "PONG", nil
}

func cmdTime(x *ctx, _ []string) (any, error) {
	return []any{strconv.FormatInt(x.now/1000, 10), strconv.FormatInt(x.now%1000*1000, 10)}, nil
}
