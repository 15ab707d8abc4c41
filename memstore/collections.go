package memstore

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// cmdLen builds hlen, llen, scard and zcard: the elements of a value of
// kind k, 0 when the key is absent.
func cmdLen(k kind) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		e, err := x.get(a[0], k)
		if err != nil || e == nil {
			return int64(0), err
		}
		return int64(e.length()), nil
	}
}

// --- hashes ---

func cmdHset(nx bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		if len(a)%2 != 1 || (nx && len(a) != 3) {
			return nil, errf("ERR wrong number of arguments for '%s' command", map[bool]string{true: "hsetnx", false: "hset"}[nx])
		}
		e, err := x.mut(a[0], kHash)
		if err != nil {
			return nil, err
		}
		var n int64
		for i := 1; i < len(a); i += 2 {
			_, had := e.hash[a[i]]
			if nx && had {
				return int64(0), nil
			}
			if !had {
				n++
			}
			e.hash[a[i]] = a[i+1]
		}
		return n, nil
	}
}

func cmdHmset(x *ctx, a []string) (any, error) {
	if len(a)%2 != 1 {
		return nil, errf("ERR wrong number of arguments for 'hmset' command")
	}
	if _, err := cmdHset(false)(x, a); err != nil {
		return nil, err
	}
	return "OK", nil
}

func cmdHget(x *ctx, a []string) (any, error) {
	e, err := x.get(a[0], kHash)
	if err != nil || e == nil {
		return nil, err
	}
	if v, ok := e.hash[a[1]]; ok {
		return v, nil
	}
	return nil, nil
}

func cmdHexists(x *ctx, a []string) (any, error) {
	v, err := cmdHget(x, a)
	return boolInt(v != nil), err
}

func cmdHstrlen(x *ctx, a []string) (any, error) {
	v, err := cmdHget(x, a)
	s, _ := v.(string)
	return int64(len(s)), err
}

func cmdHdel(x *ctx, a []string) (any, error) {
	e, err := x.mutExisting(a[0], kHash)
	if err != nil || e == nil {
		return int64(0), err
	}
	return removeAll(e.hash, a[1:]), nil
}

// removeAll deletes names from m and counts those it held (hdel, srem,
// zrem).
func removeAll[V any](m map[string]V, names []string) int64 {
	var n int64
	for _, k := range names {
		if _, ok := m[k]; ok {
			delete(m, k)
			n++
		}
	}
	return n
}

func (x *ctx) hashFields(key string) ([]string, *entry, error) {
	e, err := x.get(key, kHash)
	if err != nil || e == nil {
		return nil, nil, err
	}
	fs := make([]string, 0, len(e.hash))
	for f := range e.hash {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	return fs, e, nil
}

func cmdHgetall(x *ctx, a []string) (any, error) {
	_, e, err := x.hashFields(a[0])
	out := map[string]string{}
	if e != nil {
		for f, v := range e.hash {
			out[f] = v
		}
	}
	return out, err
}

func cmdHkeys(x *ctx, a []string) (any, error) {
	fs, _, err := x.hashFields(a[0])
	return strs(fs), err
}

func cmdHvals(x *ctx, a []string) (any, error) {
	fs, e, err := x.hashFields(a[0])
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = e.hash[f]
	}
	return out, err
}

func cmdHmget(x *ctx, a []string) (any, error) {
	e, err := x.get(a[0], kHash)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(a)-1)
	for i, f := range a[1:] {
		if e != nil {
			if v, ok := e.hash[f]; ok {
				out[i] = v
			}
		}
	}
	return out, nil
}

func cmdHincrby(x *ctx, a []string) (any, error) {
	by, err := parseInt(a[2])
	if err != nil {
		return nil, err
	}
	e, err := x.mut(a[0], kHash)
	if err != nil {
		return nil, err
	}
	var cur int64
	if v, ok := e.hash[a[1]]; ok {
		if cur, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, &Error{"ERR hash value is not an integer"}
		}
	}
	if (by > 0 && cur > math.MaxInt64-by) || (by < 0 && cur < math.MinInt64-by) {
		return nil, errOverflow
	}
	cur += by
	e.hash[a[1]] = strconv.FormatInt(cur, 10)
	return cur, nil
}

func cmdHincrbyfloat(x *ctx, a []string) (any, error) {
	by, err := parseFloat(a[2])
	if err != nil || math.IsInf(by, 0) {
		return nil, errNotFloat
	}
	e, err := x.mut(a[0], kHash)
	if err != nil {
		return nil, err
	}
	var cur float64
	if v, ok := e.hash[a[1]]; ok {
		if cur, err = parseFloat(v); err != nil || math.IsInf(cur, 0) {
			return nil, &Error{"ERR hash value is not a float"}
		}
	}
	cur += by
	if math.IsInf(cur, 0) || math.IsNaN(cur) {
		return nil, errNaN
	}
	e.hash[a[1]] = fmtFloat(cur)
	return e.hash[a[1]], nil
}

func cmdHscan(x *ctx, a []string) (any, error) {
	pattern, count, err := scanOpts(a[2:])
	if err != nil {
		return nil, err
	}
	fs, e, err := x.hashFields(a[0])
	if err != nil {
		return nil, err
	}
	next, page, err := scanPage(fs, a[1], pattern, count)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, 2*len(page))
	for _, f := range page {
		out = append(out, f, e.hash[f])
	}
	return []any{next, out}, nil
}

// --- lists ---

func cmdPush(left, onlyExisting bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		var e *entry
		var err error
		if onlyExisting {
			e, err = x.mutExisting(a[0], kList)
			if err != nil || e == nil {
				return int64(0), err
			}
		} else if e, err = x.mut(a[0], kList); err != nil {
			return nil, err
		}
		if len(e.list)+len(a)-1 > MaxElements {
			return nil, errf("LIMIT a list may hold at most %d elements", MaxElements)
		}
		for _, v := range a[1:] {
			if left {
				e.list = append([]string{v}, e.list...)
			} else {
				e.list = append(e.list, v)
			}
		}
		return int64(len(e.list)), nil
	}
}

func cmdPop(left bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		e, err := x.mutExisting(a[0], kList)
		if err != nil || e == nil {
			return nil, err
		}
		return e.pop(left), nil
	}
}

func (e *entry) pop(left bool) string {
	if left {
		v := e.list[0]
		e.list = e.list[1:]
		return v
	}
	v := e.list[len(e.list)-1]
	e.list = e.list[:len(e.list)-1]
	return v
}

func cmdRpoplpush(x *ctx, a []string) (any, error) {
	src, err := x.get(a[0], kList)
	if err != nil || src == nil {
		return nil, err
	}
	if _, err := x.get(a[1], kList); err != nil {
		return nil, err
	}
	src, _ = x.mutExisting(a[0], kList)
	v := src.pop(false)
	dst, _ := x.mut(a[1], kList)
	dst.list = append([]string{v}, dst.list...)
	return v, nil
}

func cmdLindex(x *ctx, a []string) (any, error) {
	i, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	e, err := x.get(a[0], kList)
	if err != nil || e == nil {
		return nil, err
	}
	if i < 0 {
		i += int64(len(e.list))
	}
	if i < 0 || i >= int64(len(e.list)) {
		return nil, nil
	}
	return e.list[i], nil
}

func cmdLrange(x *ctx, a []string) (any, error) {
	start, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	stop, err := parseInt(a[2])
	if err != nil {
		return nil, err
	}
	e, err := x.get(a[0], kList)
	if err != nil || e == nil {
		return []any{}, err
	}
	i, j, ok := span(start, stop, len(e.list))
	if !ok {
		return []any{}, nil
	}
	return strs(e.list[i : j+1]), nil
}

func cmdLinsert(x *ctx, a []string) (any, error) {
	pos := strings.ToUpper(a[1])
	if pos != "BEFORE" && pos != "AFTER" {
		return nil, errSyntax
	}
	e, err := x.mutExisting(a[0], kList)
	if err != nil || e == nil {
		return int64(0), err
	}
	for i, v := range e.list {
		if v != a[2] {
			continue
		}
		if pos == "AFTER" {
			i++
		}
		e.list = append(e.list[:i], append([]string{a[3]}, e.list[i:]...)...)
		return int64(len(e.list)), nil
	}
	return int64(-1), nil
}

func cmdLrem(x *ctx, a []string) (any, error) {
	count, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	e, err := x.mutExisting(a[0], kList)
	if err != nil || e == nil {
		return int64(0), err
	}
	var removed int64
	limit := count
	if limit < 0 {
		limit = -limit
	}
	keep := make([]bool, len(e.list))
	for i := range keep {
		keep[i] = true
	}
	visit := func(i int) {
		if e.list[i] == a[2] && (limit == 0 || removed < limit) {
			keep[i] = false
			removed++
		}
	}
	if count < 0 {
		for i := len(e.list) - 1; i >= 0; i-- {
			visit(i)
		}
	} else {
		for i := range e.list {
			visit(i)
		}
	}
	out := e.list[:0]
	for i, v := range e.list {
		if keep[i] {
			out = append(out, v)
		}
	}
	e.list = out
	return removed, nil
}

func cmdLset(x *ctx, a []string) (any, error) {
	i, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	e, err := x.mutExisting(a[0], kList)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, errNoKey
	}
	if i < 0 {
		i += int64(len(e.list))
	}
	if i < 0 || i >= int64(len(e.list)) {
		return nil, errIndex
	}
	e.list[i] = a[2]
	return "OK", nil
}

func cmdLtrim(x *ctx, a []string) (any, error) {
	start, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	stop, err := parseInt(a[2])
	if err != nil {
		return nil, err
	}
	e, err := x.mutExisting(a[0], kList)
	if err != nil || e == nil {
		return "OK", err
	}
	i, j, ok := span(start, stop, len(e.list))
	if !ok {
		e.list = nil
	} else {
		e.list = append([]string(nil), e.list[i:j+1]...)
	}
	return "OK", nil
}

// --- sets ---

func cmdSadd(x *ctx, a []string) (any, error) {
	e, err := x.mut(a[0], kSet)
	if err != nil {
		return nil, err
	}
	var n int64
	for _, m := range a[1:] {
		if _, ok := e.set[m]; !ok {
			e.set[m] = struct{}{}
			n++
		}
	}
	return n, nil
}

func cmdSrem(x *ctx, a []string) (any, error) {
	e, err := x.mutExisting(a[0], kSet)
	if err != nil || e == nil {
		return int64(0), err
	}
	return removeAll(e.set, a[1:]), nil
}

func cmdSismember(x *ctx, a []string) (any, error) {
	e, err := x.get(a[0], kSet)
	if err != nil || e == nil {
		return int64(0), err
	}
	_, ok := e.set[a[1]]
	return boolInt(ok), nil
}

func (x *ctx) members(key string) ([]string, error) {
	e, err := x.get(key, kSet)
	if err != nil || e == nil {
		return []string{}, err
	}
	return sortedSet(e.set), nil
}

func cmdSmembers(x *ctx, a []string) (any, error) {
	m, err := x.members(a[0])
	return strs(m), err
}

// setAlgebra computes a union, an intersection or a difference (the first
// set minus the others), sorted.
func (x *ctx) setAlgebra(op string, keys []string) ([]string, error) {
	sets := make([]map[string]struct{}, len(keys))
	for i, k := range keys {
		e, err := x.get(k, kSet)
		if err != nil {
			return nil, err
		}
		if e != nil {
			sets[i] = e.set
		}
	}
	out := map[string]struct{}{}
	switch op {
	case "union":
		for _, s := range sets {
			for m := range s {
				out[m] = struct{}{}
			}
		}
	case "inter":
	members:
		for m := range sets[0] {
			for _, s := range sets[1:] {
				if _, ok := s[m]; !ok {
					continue members
				}
			}
			out[m] = struct{}{}
		}
	case "diff":
	diff:
		for m := range sets[0] {
			for _, s := range sets[1:] {
				if _, ok := s[m]; ok {
					continue diff
				}
			}
			out[m] = struct{}{}
		}
	}
	return sortedSet(out), nil
}

func cmdSetOp(op string) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		m, err := x.setAlgebra(op, a)
		return strs(m), err
	}
}

func cmdSetOpStore(op string) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		m, err := x.setAlgebra(op, a[1:])
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			x.remove(a[0])
			return int64(0), nil
		}
		x.put(a[0], &entry{k: kSet, set: toSet(m)})
		return int64(len(m)), nil
	}
}

func cmdSmove(x *ctx, a []string) (any, error) {
	src, err := x.get(a[0], kSet)
	if err != nil {
		return nil, err
	}
	if _, err := x.get(a[1], kSet); err != nil {
		return nil, err
	}
	if src == nil {
		return int64(0), nil
	}
	if _, ok := src.set[a[2]]; !ok {
		return int64(0), nil
	}
	src, _ = x.mutExisting(a[0], kSet)
	delete(src.set, a[2])
	dst, _ := x.mut(a[1], kSet)
	dst.set[a[2]] = struct{}{}
	return int64(1), nil
}

func cmdSpop(x *ctx, a []string) (any, error) {
	count := int64(-1)
	if len(a) > 1 {
		n, err := parseInt(a[1])
		if err != nil || n < 0 {
			return nil, &Error{"ERR value is out of range, must be positive"}
		}
		count = n
	}
	e, err := x.mutExisting(a[0], kSet)
	if err != nil {
		return nil, err
	}
	if e == nil {
		if count >= 0 {
			return []any{}, nil
		}
		return nil, nil
	}
	// Drawn from the sorted members with the command's seed: the same
	// members leave on every replica.
	m := sortedSet(e.set)
	n := int(count)
	if count < 0 {
		n = 1
	}
	n = min(n, len(m))
	var out []string
	for range n {
		i := x.rnd.IntN(len(m))
		out = append(out, m[i])
		delete(e.set, m[i])
		m = append(m[:i], m[i+1:]...)
	}
	if count < 0 {
		return out[0], nil
	}
	return strs(out), nil
}

func cmdSrandmember(x *ctx, a []string) (any, error) {
	m, err := x.members(a[0])
	if err != nil {
		return nil, err
	}
	if len(a) == 1 {
		if len(m) == 0 {
			return nil, nil
		}
		return m[x.rnd.IntN(len(m))], nil
	}
	n, err := parseInt(a[1])
	if err != nil {
		return nil, err
	}
	out := []string{}
	switch {
	case len(m) == 0:
	case n < 0:
		// Repeats allowed.
		for range min(-n, MaxElements) {
			out = append(out, m[x.rnd.IntN(len(m))])
		}
	default:
		perm := x.rnd.Perm(len(m))
		for _, i := range perm[:min(int(n), len(m))] {
			out = append(out, m[i])
		}
	}
	return strs(out), nil
}

func cmdSscan(x *ctx, a []string) (any, error) {
	pattern, count, err := scanOpts(a[2:])
	if err != nil {
		return nil, err
	}
	m, err := x.members(a[0])
	if err != nil {
		return nil, err
	}
	next, page, err := scanPage(m, a[1], pattern, count)
	if err != nil {
		return nil, err
	}
	return []any{next, strs(page)}, nil
}
