package memstore

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
)

func (x *ctx) str(key string) (*entry, error) {
	e, err := x.get(key, kString)
	if err != nil {
		return nil, err
	}
	if e != nil && e.hll != nil {
		e = &entry{k: kString, str: hllString(e)}
	}
	return e, nil
}

// hllString is what reading a HyperLogLog as a string shows: Redis's
// magic, then the element count (its registers are not emulated).
func hllString(e *entry) string { return "HYLL" + strconv.Itoa(len(e.hll)) }

func cmdGet(x *ctx, a []string) (any, error) {
	e, err := x.str(a[0])
	if err != nil || e == nil {
		return nil, err
	}
	return e.str, nil
}

// setString replaces key by a string, keeping its expiry if keepTTL.
func (x *ctx) setString(key, v string, expireAt int64, keepTTL bool) {
	if keepTTL {
		if old := x.lookup(key); old != nil {
			expireAt = old.expireAt
		}
	}
	x.put(key, &entry{k: kString, str: v, expireAt: expireAt})
}

func (x *ctx) ttlArg(s string, unitMs int64, cmd string) (int64, error) {
	n, err := parseInt(s)
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > math.MaxInt64/unitMs/2 {
		return 0, errf("ERR invalid expire time in '%s' command", cmd)
	}
	return x.now + n*unitMs, nil
}

func cmdSet(x *ctx, a []string) (any, error) {
	var expireAt int64
	var nx, xx, keep, get, hasExp bool
	for i := 2; i < len(a); i++ {
		switch o := strings.ToUpper(a[i]); o {
		case "NX":
			nx = true
		case "XX":
			xx = true
		case "KEEPTTL":
			keep = true
		case "GET":
			get = true
		case "EX", "PX":
			if i+1 >= len(a) || hasExp {
				return nil, errSyntax
			}
			unit := int64(1000)
			if o == "PX" {
				unit = 1
			}
			t, err := x.ttlArg(a[i+1], unit, "set")
			if err != nil {
				return nil, err
			}
			expireAt, hasExp = t, true
			i++
		default:
			return nil, errSyntax
		}
	}
	if (nx && xx) || (keep && hasExp) {
		return nil, errSyntax
	}
	var old any
	if get {
		e, err := x.str(a[0])
		if err != nil {
			return nil, err
		}
		if e != nil {
			old = e.str
		}
	}
	exists := x.lookup(a[0]) != nil
	if (nx && exists) || (xx && !exists) {
		if get {
			return old, nil
		}
		return nil, nil
	}
	x.setString(a[0], a[1], expireAt, keep)
	if get {
		return old, nil
	}
	return "OK", nil
}

func cmdSetex(unit int64, name string) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		t, err := x.ttlArg(a[1], unit, name)
		if err != nil {
			return nil, err
		}
		x.setString(a[0], a[2], t, false)
		return "OK", nil
	}
}

func cmdSetnx(x *ctx, a []string) (any, error) {
	if x.lookup(a[0]) != nil {
		return int64(0), nil
	}
	x.setString(a[0], a[1], 0, false)
	return int64(1), nil
}

func cmdGetset(x *ctx, a []string) (any, error) {
	old, err := cmdGet(x, a[:1])
	if err != nil {
		return nil, err
	}
	x.setString(a[0], a[1], 0, false)
	return old, nil
}

func cmdAppend(x *ctx, a []string) (any, error) {
	e, err := x.mut(a[0], kString)
	if err != nil {
		return nil, err
	}
	if e.hll != nil {
		return nil, errWrongType
	}
	if len(e.str)+len(a[1]) > MaxValueLen {
		return nil, errf("LIMIT string exceeds maximum allowed size (%d bytes)", MaxValueLen)
	}
	e.str += a[1]
	return int64(len(e.str)), nil
}

func cmdStrlen(x *ctx, a []string) (any, error) {
	e, err := x.str(a[0])
	if err != nil || e == nil {
		return int64(0), err
	}
	return int64(len(e.str)), nil
}

func (x *ctx) incr(key string, by int64) (any, error) {
	e, err := x.mut(key, kString)
	if err != nil {
		return nil, err
	}
	if e.hll != nil {
		return nil, errWrongType
	}
	var cur int64
	if e.str != "" {
		if cur, err = parseInt(e.str); err != nil {
			return nil, err
		}
	}
	if (by > 0 && cur > math.MaxInt64-by) || (by < 0 && cur < math.MinInt64-by) {
		return nil, errOverflow
	}
	cur += by
	e.str = strconv.FormatInt(cur, 10)
	return cur, nil
}

func cmdIncrBy(sign int64, fixed bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		by := int64(1)
		if !fixed {
			n, err := parseInt(a[1])
			if err != nil {
				return nil, err
			}
			if sign < 0 && n == math.MinInt64 {
				return nil, errOverflow
			}
			by = n
		}
		return x.incr(a[0], sign*by)
	}
}

func cmdIncrByFloat(x *ctx, a []string) (any, error) {
	by, err := parseFloat(a[1])
	if err != nil || math.IsInf(by, 0) {
		return nil, errNotFloat
	}
	e, err := x.mut(a[0], kString)
	if err != nil {
		return nil, err
	}
	if e.hll != nil {
		return nil, errWrongType
	}
	var cur float64
	if e.str != "" {
		if cur, err = parseFloat(e.str); err != nil || math.IsInf(cur, 0) {
			return nil, errNotFloat
		}
	}
	cur += by
	if math.IsInf(cur, 0) || math.IsNaN(cur) {
		return nil, errNaN
	}
	e.str = fmtFloat(cur)
	return e.str, nil
}

func cmdGetrange(x *ctx, a []string) (any, error) {
	start, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	end, err := parseInt(a[2])
	if err != nil {
		return nil, err
	}
	e, err := x.str(a[0])
	if err != nil || e == nil {
		return "", err
	}
	if start < 0 && end < 0 && start > end {
		return "", nil
	}
	i, j, ok := span(start, end, len(e.str))
	if !ok {
		return "", nil
	}
	return e.str[i : j+1], nil
}

func cmdMget(x *ctx, a []string) (any, error) {
	out := make([]any, len(a))
	for i, k := range a {
		if e := x.lookup(k); e != nil && e.k == kString {
			if e.hll != nil {
				out[i] = hllString(e)
			} else {
				out[i] = e.str
			}
		}
	}
	return out, nil
}

func cmdMset(nx bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		if len(a)%2 != 0 {
			if nx {
				return nil, errf("ERR wrong number of arguments for 'msetnx' command")
			}
			return nil, errf("ERR wrong number of arguments for 'mset' command")
		}
		if nx {
			for i := 0; i < len(a); i += 2 {
				if x.lookup(a[i]) != nil {
					return int64(0), nil
				}
			}
		}
		for i := 0; i < len(a); i += 2 {
			x.setString(a[i], a[i+1], 0, false)
		}
		if nx {
			return int64(1), nil
		}
		return "OK", nil
	}
}

// --- bits ---

func cmdGetbit(x *ctx, a []string) (any, error) {
	off, err := parseInt(a[1])
	if err != nil || off < 0 || off >= int64(MaxValueLen)*8 {
		return nil, &Error{"ERR bit offset is not an integer or out of range"}
	}
	e, err := x.str(a[0])
	if err != nil || e == nil {
		return int64(0), err
	}
	byt := off / 8
	if byt >= int64(len(e.str)) {
		return int64(0), nil
	}
	return int64(e.str[byt]>>(7-uint(off%8))) & 1, nil
}

// byteRange resolves optional start/end byte arguments over n bytes.
func byteRange(a []string, n int) (int, int, bool, error) {
	if len(a) == 0 {
		return 0, n - 1, n > 0, nil
	}
	if len(a) != 2 {
		return 0, 0, false, errSyntax
	}
	start, err := parseInt(a[0])
	if err != nil {
		return 0, 0, false, err
	}
	end, err := parseInt(a[1])
	if err != nil {
		return 0, 0, false, err
	}
	i, j, ok := span(start, end, n)
	return i, j, ok, nil
}

func cmdBitcount(x *ctx, a []string) (any, error) {
	e, err := x.str(a[0])
	if err != nil {
		return nil, err
	}
	s := ""
	if e != nil {
		s = e.str
	}
	i, j, ok, err := byteRange(a[1:], len(s))
	if err != nil || !ok {
		return int64(0), err
	}
	n := 0
	for k := i; k <= j; k++ {
		n += bits.OnesCount8(s[k])
	}
	return int64(n), nil
}

func cmdBitpos(x *ctx, a []string) (any, error) {
	bit, err := parseInt(a[1])
	if err != nil || (bit != 0 && bit != 1) {
		return nil, &Error{"ERR The bit argument must be 1 or 0."}
	}
	e, err := x.str(a[0])
	if err != nil {
		return nil, err
	}
	if e == nil || e.str == "" {
		if bit == 1 {
			return int64(-1), nil
		}
		return int64(0), nil
	}
	s := e.str
	var i, j int
	ok := true
	switch len(a) {
	case 2:
		i, j = 0, len(s)-1
	case 3:
		start, err := parseInt(a[2])
		if err != nil {
			return nil, err
		}
		i, j, ok = span(start, -1, len(s))
	case 4:
		i, j, ok, err = byteRange(a[2:], len(s))
		if err != nil {
			return nil, err
		}
	default:
		return nil, errSyntax
	}
	if !ok {
		return int64(-1), nil
	}
	for k := i; k <= j; k++ {
		for b := 0; b < 8; b++ {
			if int64(s[k]>>(7-uint(b)))&1 == bit {
				return int64(k*8 + b), nil
			}
		}
	}
	// Looking for a clear bit with no end given: the string is padded
	// with zeroes to the right, as Redis does.
	if bit == 0 && len(a) < 4 {
		return int64((j + 1) * 8), nil
	}
	return int64(-1), nil
}

func cmdBitop(x *ctx, a []string) (any, error) {
	op := strings.ToUpper(a[0])
	srcs := a[2:]
	if op == "NOT" && len(srcs) != 1 {
		return nil, &Error{"ERR BITOP NOT must be called with a single source key."}
	}
	vals := make([]string, len(srcs))
	maxLen := 0
	for i, k := range srcs {
		e, err := x.str(k)
		if err != nil {
			return nil, err
		}
		if e != nil {
			vals[i] = e.str
		}
		maxLen = max(maxLen, len(vals[i]))
	}
	out := make([]byte, maxLen)
	for p := range maxLen {
		at := func(i int) byte {
			if p < len(vals[i]) {
				return vals[i][p]
			}
			return 0
		}
		b := at(0)
		for i := 1; i < len(vals); i++ {
			switch op {
			case "AND":
				b &= at(i)
			case "OR":
				b |= at(i)
			case "XOR":
				b ^= at(i)
			}
		}
		switch op {
		case "NOT":
			b = ^b
		case "AND", "OR", "XOR":
		default:
			return nil, errSyntax
		}
		out[p] = b
	}
	if op != "AND" && op != "OR" && op != "XOR" && op != "NOT" {
		return nil, errSyntax
	}
	if maxLen == 0 {
		x.remove(a[1])
		return int64(0), nil
	}
	x.setString(a[1], string(out), 0, false)
	return int64(maxLen), nil
}

// --- HyperLogLog (exact) ---

func (x *ctx) hll(key string, create bool) (*entry, error) {
	var e *entry
	var err error
	if create {
		e, err = x.mut(key, kString)
	} else {
		e, err = x.get(key, kString)
	}
	if err != nil || e == nil {
		return e, err
	}
	if e.hll == nil {
		if e.str != "" || !create {
			return nil, &Error{"WRONGTYPE Key is not a valid HyperLogLog string value."}
		}
		e.hll = map[string]struct{}{}
	}
	return e, nil
}

func cmdPfadd(x *ctx, a []string) (any, error) {
	existed := x.lookup(a[0]) != nil
	e, err := x.hll(a[0], true)
	if err != nil {
		return nil, err
	}
	n := len(e.hll)
	for _, m := range a[1:] {
		e.hll[m] = struct{}{}
	}
	return boolInt(len(e.hll) != n || !existed), nil
}

func cmdPfcount(x *ctx, a []string) (any, error) {
	union := map[string]struct{}{}
	for _, k := range a {
		e, err := x.hll(k, false)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		if len(a) == 1 {
			return int64(len(e.hll)), nil
		}
		for m := range e.hll {
			union[m] = struct{}{}
		}
	}
	return int64(len(union)), nil
}

func cmdPfmerge(x *ctx, a []string) (any, error) {
	union := map[string]struct{}{}
	for _, k := range a {
		e, err := x.hll(k, false)
		if err != nil {
			return nil, err
		}
		if e != nil {
			for m := range e.hll {
				union[m] = struct{}{}
			}
		}
	}
	e, err := x.hll(a[0], true)
	if err != nil {
		return nil, err
	}
	e.hll = union
	return "OK", nil
}
