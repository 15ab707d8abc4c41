package memstore

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

type scored struct {
	m string
	s float64
}

// ranked returns a sorted set's members by score, then member.
func ranked(e *entry) []scored {
	out := make([]scored, 0, len(e.zset))
	for m, s := range e.zset {
		out = append(out, scored{m, s})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].s != out[j].s {
			return out[i].s < out[j].s
		}
		return out[i].m < out[j].m
	})
	return out
}

func reverse(a []scored) {
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
}

func zreply(a []scored, withScores bool) []any {
	out := make([]any, 0, len(a)*2)
	for _, v := range a {
		out = append(out, v.m)
		if withScores {
			out = append(out, fmtScore(v.s))
		}
	}
	return out
}

func cmdZadd(x *ctx, a []string) (any, error) {
	var nx, xx, ch, incr bool
	i := 1
	for ; i < len(a); i++ {
		switch strings.ToUpper(a[i]) {
		case "NX":
			nx = true
			continue
		case "XX":
			xx = true
			continue
		case "CH":
			ch = true
			continue
		case "INCR":
			incr = true
			continue
		}
		break
	}
	pairs := a[i:]
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return nil, errSyntax
	}
	if nx && xx {
		return nil, &Error{"ERR XX and NX options at the same time are not compatible"}
	}
	if incr && len(pairs) != 2 {
		return nil, &Error{"ERR INCR option supports a single increment-element pair"}
	}
	scores := make([]float64, len(pairs)/2)
	for k := range scores {
		s, err := parseScore(pairs[2*k])
		if err != nil {
			return nil, errNotFloat
		}
		scores[k] = s
	}
	e, err := x.mut(a[0], kZSet)
	if err != nil {
		return nil, err
	}
	var added, changed int64
	for k, s := range scores {
		m := pairs[2*k+1]
		old, had := e.zset[m]
		if (nx && had) || (xx && !had) {
			if incr {
				return nil, nil
			}
			continue
		}
		if incr {
			s += old
			if math.IsNaN(s) {
				return nil, &Error{"ERR resulting score is not a number (NaN)"}
			}
			e.zset[m] = s
			return fmtScore(s), nil
		}
		e.zset[m] = s
		if !had {
			added++
		} else if old != s {
			changed++
		}
	}
	if ch {
		return added + changed, nil
	}
	return added, nil
}

func cmdZincrby(x *ctx, a []string) (any, error) {
	by, err := parseScore(a[1])
	if err != nil {
		return nil, errNotFloat
	}
	e, err := x.mut(a[0], kZSet)
	if err != nil {
		return nil, err
	}
	s := e.zset[a[2]] + by
	if math.IsNaN(s) {
		return nil, &Error{"ERR resulting score is not a number (NaN)"}
	}
	e.zset[a[2]] = s
	return fmtScore(s), nil
}

func cmdZscore(x *ctx, a []string) (any, error) {
	e, err := x.get(a[0], kZSet)
	if err != nil || e == nil {
		return nil, err
	}
	if s, ok := e.zset[a[1]]; ok {
		return fmtScore(s), nil
	}
	return nil, nil
}

func cmdZrank(rev bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		e, err := x.get(a[0], kZSet)
		if err != nil || e == nil {
			return nil, err
		}
		if _, ok := e.zset[a[1]]; !ok {
			return nil, nil
		}
		r := ranked(e)
		if rev {
			reverse(r)
		}
		for i, v := range r {
			if v.m == a[1] {
				return int64(i), nil
			}
		}
		return nil, nil
	}
}

func cmdZrem(x *ctx, a []string) (any, error) {
	e, err := x.mutExisting(a[0], kZSet)
	if err != nil || e == nil {
		return int64(0), err
	}
	return removeAll(e.zset, a[1:]), nil
}

func withScores(opts []string) (bool, error) {
	ws := false
	for _, o := range opts {
		if !strings.EqualFold(o, "WITHSCORES") {
			return false, errSyntax
		}
		ws = true
	}
	return ws, nil
}

func cmdZrange(rev bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		start, err := parseInt(a[1])
		if err != nil {
			return nil, err
		}
		stop, err := parseInt(a[2])
		if err != nil {
			return nil, err
		}
		ws, err := withScores(a[3:])
		if err != nil {
			return nil, err
		}
		e, err := x.get(a[0], kZSet)
		if err != nil || e == nil {
			return []any{}, err
		}
		r := ranked(e)
		if rev {
			reverse(r)
		}
		i, j, ok := span(start, stop, len(r))
		if !ok {
			return []any{}, nil
		}
		return zreply(r[i:j+1], ws), nil
	}
}

// scoreBound parses a ZRANGEBYSCORE bound: a float, inf, or (exclusive.
type scoreBound struct {
	v    float64
	excl bool
}

func parseScoreBound(s string) (scoreBound, error) {
	b := scoreBound{}
	if strings.HasPrefix(s, "(") {
		b.excl, s = true, s[1:]
	}
	v, err := parseScore(s)
	if err != nil {
		return b, errMinMax
	}
	b.v = v
	return b, nil
}

func (b scoreBound) below(s float64) bool { // s satisfies s >= b (min side)
	if b.excl {
		return s > b.v
	}
	return s >= b.v
}

func (b scoreBound) above(s float64) bool { // s satisfies s <= b (max side)
	if b.excl {
		return s < b.v
	}
	return s <= b.v
}

// lexBound parses a ZRANGEBYLEX bound: -, +, [inclusive or (exclusive.
type lexBound struct {
	v          string
	excl       bool
	inf, minus bool
}

func parseLexBound(s string) (lexBound, error) {
	switch {
	case s == "-":
		return lexBound{inf: true, minus: true}, nil
	case s == "+":
		return lexBound{inf: true}, nil
	case strings.HasPrefix(s, "["):
		return lexBound{v: s[1:]}, nil
	case strings.HasPrefix(s, "("):
		return lexBound{v: s[1:], excl: true}, nil
	}
	return lexBound{}, errLex
}

func (b lexBound) geMin(m string) bool {
	if b.inf {
		return b.minus
	}
	if b.excl {
		return m > b.v
	}
	return m >= b.v
}

func (b lexBound) leMax(m string) bool {
	if b.inf {
		return !b.minus
	}
	if b.excl {
		return m < b.v
	}
	return m <= b.v
}

// limitOpt parses [LIMIT offset count] and reports the other options.
func limitOpt(opts []string) (off, count int64, rest []string, err error) {
	count = -1
	for i := 0; i < len(opts); i++ {
		if strings.EqualFold(opts[i], "LIMIT") {
			if i+2 >= len(opts) {
				return 0, 0, nil, errSyntax
			}
			if off, err = parseInt(opts[i+1]); err != nil {
				return 0, 0, nil, err
			}
			if count, err = parseInt(opts[i+2]); err != nil {
				return 0, 0, nil, err
			}
			i += 2
			continue
		}
		rest = append(rest, opts[i])
	}
	return off, count, rest, nil
}

func applyLimit[T any](a []T, off, count int64) []T {
	if off < 0 || off >= int64(len(a)) {
		return a[:0]
	}
	a = a[off:]
	if count >= 0 && count < int64(len(a)) {
		a = a[:count]
	}
	return a
}

// zfilter keeps the members whose score or name is in range.
func (x *ctx) zfilter(key string, keep func(scored) bool) ([]scored, *entry, error) {
	e, err := x.get(key, kZSet)
	if err != nil || e == nil {
		return nil, nil, err
	}
	var out []scored
	for _, v := range ranked(e) {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out, e, nil
}

func scoreRange(minS, maxS string) (func(scored) bool, error) {
	lo, err := parseScoreBound(minS)
	if err != nil {
		return nil, err
	}
	hi, err := parseScoreBound(maxS)
	if err != nil {
		return nil, err
	}
	return func(v scored) bool { return lo.below(v.s) && hi.above(v.s) }, nil
}

func lexRange(minS, maxS string) (func(scored) bool, error) {
	lo, err := parseLexBound(minS)
	if err != nil {
		return nil, err
	}
	hi, err := parseLexBound(maxS)
	if err != nil {
		return nil, err
	}
	return func(v scored) bool { return lo.geMin(v.m) && hi.leMax(v.m) }, nil
}

// cmdZrangeBy builds zrangebyscore/zrevrangebyscore (lex false) and
// zrangebylex/zrevrangebylex (lex true); the rev forms take max then min.
func cmdZrangeBy(lex, rev bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		minS, maxS := a[1], a[2]
		if rev {
			minS, maxS = maxS, minS
		}
		var keep func(scored) bool
		var err error
		if lex {
			keep, err = lexRange(minS, maxS)
		} else {
			keep, err = scoreRange(minS, maxS)
		}
		if err != nil {
			return nil, err
		}
		off, count, rest, err := limitOpt(a[3:])
		if err != nil {
			return nil, err
		}
		ws := false
		if !lex {
			if ws, err = withScores(rest); err != nil {
				return nil, err
			}
		} else if len(rest) > 0 {
			return nil, errSyntax
		}
		r, _, err := x.zfilter(a[0], keep)
		if err != nil {
			return nil, err
		}
		if rev {
			reverse(r)
		}
		return zreply(applyLimit(r, off, count), ws), nil
	}
}

func cmdZcount(lex bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		var keep func(scored) bool
		var err error
		if lex {
			keep, err = lexRange(a[1], a[2])
		} else {
			keep, err = scoreRange(a[1], a[2])
		}
		if err != nil {
			return nil, err
		}
		r, _, err := x.zfilter(a[0], keep)
		return int64(len(r)), err
	}
}

// cmdZremRange builds zremrangebyscore, zremrangebylex and
// zremrangebyrank.
func cmdZremRange(by string) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		var keep func(scored) bool
		var err error
		switch by {
		case "lex":
			keep, err = lexRange(a[1], a[2])
		case "score":
			keep, err = scoreRange(a[1], a[2])
		case "rank":
			start, err1 := parseInt(a[1])
			stop, err2 := parseInt(a[2])
			if err1 != nil || err2 != nil {
				return nil, errNotInt
			}
			e, err := x.get(a[0], kZSet)
			if err != nil || e == nil {
				return int64(0), err
			}
			r := ranked(e)
			i, j, ok := span(start, stop, len(r))
			in := map[string]bool{}
			if ok {
				for _, v := range r[i : j+1] {
					in[v.m] = true
				}
			}
			keep = func(v scored) bool { return in[v.m] }
		}
		if err != nil {
			return nil, err
		}
		r, _, err := x.zfilter(a[0], keep)
		if err != nil || len(r) == 0 {
			return int64(0), err
		}
		e, _ := x.mutExisting(a[0], kZSet)
		for _, v := range r {
			delete(e.zset, v.m)
		}
		return int64(len(r)), nil
	}
}

func cmdZscan(x *ctx, a []string) (any, error) {
	pattern, count, err := scanOpts(a[2:])
	if err != nil {
		return nil, err
	}
	e, err := x.get(a[0], kZSet)
	if err != nil {
		return nil, err
	}
	var names []string
	if e != nil {
		for m := range e.zset {
			names = append(names, m)
		}
	}
	next, page, err := scanPage(names, a[1], pattern, count)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, 2*len(page))
	for _, m := range page {
		out = append(out, m, fmtScore(e.zset[m]))
	}
	return []any{next, out}, nil
}

// cmdZstore builds zunionstore and zinterstore: dest numkeys key...
// [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX]. Plain sets count as sorted sets
// whose scores are 1, as in Redis.
func cmdZstore(inter bool) func(*ctx, []string) (any, error) {
	return func(x *ctx, a []string) (any, error) {
		n, err := parseInt(a[1])
		if err != nil {
			return nil, err
		}
		if n < 1 || n > int64(len(a)-2) {
			return nil, errSyntax
		}
		keys := a[2 : 2+n]
		weights := make([]float64, n)
		for i := range weights {
			weights[i] = 1
		}
		agg := "SUM"
		opts := a[2+n:]
		for i := 0; i < len(opts); i++ {
			switch strings.ToUpper(opts[i]) {
			case "WEIGHTS":
				if i+int(n) >= len(opts) {
					return nil, errSyntax
				}
				for k := range weights {
					w, err := parseScore(opts[i+1+k])
					if err != nil {
						return nil, &Error{"ERR weight value is not a float"}
					}
					weights[k] = w
				}
				i += int(n)
			case "AGGREGATE":
				if i+1 >= len(opts) {
					return nil, errSyntax
				}
				agg = strings.ToUpper(opts[i+1])
				if agg != "SUM" && agg != "MIN" && agg != "MAX" {
					return nil, errSyntax
				}
				i++
			default:
				return nil, errSyntax
			}
		}
		srcs := make([]map[string]float64, n)
		for i, k := range keys {
			e := x.lookup(k)
			switch {
			case e == nil:
				srcs[i] = map[string]float64{}
			case e.k == kZSet:
				srcs[i] = e.zset
			case e.k == kSet:
				srcs[i] = map[string]float64{}
				for m := range e.set {
					srcs[i][m] = 1
				}
			default:
				return nil, errWrongType
			}
		}
		out := map[string]float64{}
		combine := func(acc, v float64) float64 {
			switch agg {
			case "MIN":
				return math.Min(acc, v)
			case "MAX":
				return math.Max(acc, v)
			}
			s := acc + v
			if math.IsNaN(s) {
				return 0
			}
			return s
		}
		for i, src := range srcs {
			for m, s := range src {
				v := s * weights[i]
				if math.IsNaN(v) {
					v = 0
				}
				if inter {
					if i > 0 {
						continue
					}
					acc, ok := v, true
					for j := 1; j < len(srcs); j++ {
						o, in := srcs[j][m]
						if !in {
							ok = false
							break
						}
						w := o * weights[j]
						if math.IsNaN(w) {
							w = 0
						}
						acc = combine(acc, w)
					}
					if ok {
						out[m] = acc
					}
					continue
				}
				if acc, ok := out[m]; ok {
					out[m] = combine(acc, v)
				} else {
					out[m] = v
				}
			}
		}
		if len(out) == 0 {
			x.remove(a[0])
			return int64(0), nil
		}
		x.put(a[0], &entry{k: kZSet, zset: out})
		return int64(len(out)), nil
	}
}

// --- sort ---

func cmdSort(x *ctx, a []string) (any, error) {
	var (
		alpha, desc, nosort bool
		by, store           string
		gets                []string
		off, count          int64 = 0, -1
	)
	for i := 1; i < len(a); i++ {
		switch strings.ToUpper(a[i]) {
		case "ASC":
			desc = false
		case "DESC":
			desc = true
		case "ALPHA":
			alpha = true
		case "BY", "GET", "STORE":
			if i+1 >= len(a) {
				return nil, errSyntax
			}
			switch strings.ToUpper(a[i]) {
			case "BY":
				by = a[i+1]
				nosort = !strings.Contains(by, "*")
			case "GET":
				gets = append(gets, a[i+1])
			case "STORE":
				store = a[i+1]
			}
			i++
		case "LIMIT":
			if i+2 >= len(a) {
				return nil, errSyntax
			}
			var err error
			if off, err = parseInt(a[i+1]); err != nil {
				return nil, err
			}
			if count, err = parseInt(a[i+2]); err != nil {
				return nil, err
			}
			i += 2
		default:
			return nil, errSyntax
		}
	}
	var elems []string
	if e := x.lookup(a[0]); e != nil {
		switch e.k {
		case kList:
			elems = append([]string(nil), e.list...)
		case kSet:
			elems = sortedSet(e.set)
		case kZSet:
			for _, v := range ranked(e) {
				elems = append(elems, v.m)
			}
		default:
			return nil, errWrongType
		}
	}
	if !nosort {
		weight := func(el string) (string, bool) {
			if by == "" {
				return el, true
			}
			return x.sortLookup(by, el)
		}
		type keyed struct {
			el  string
			w   string
			num float64
		}
		ks := make([]keyed, len(elems))
		for i, el := range elems {
			w, _ := weight(el)
			ks[i] = keyed{el: el, w: w}
			if !alpha {
				if w == "" && by != "" {
					continue
				}
				f, err := strconv.ParseFloat(w, 64)
				if err != nil {
					return nil, &Error{"ERR One or more scores can't be converted into double"}
				}
				ks[i].num = f
			}
		}
		sort.SliceStable(ks, func(i, j int) bool {
			if alpha {
				if ks[i].w != ks[j].w {
					return ks[i].w < ks[j].w
				}
			} else if ks[i].num != ks[j].num {
				return ks[i].num < ks[j].num
			}
			return ks[i].el < ks[j].el
		})
		for i := range ks {
			elems[i] = ks[i].el
		}
		if desc {
			for i, j := 0, len(elems)-1; i < j; i, j = i+1, j-1 {
				elems[i], elems[j] = elems[j], elems[i]
			}
		}
	}
	elems = applyLimit(elems, off, count)
	var out []any
	if len(gets) == 0 {
		out = strs(elems)
	} else {
		for _, el := range elems {
			for _, g := range gets {
				if v, ok := x.sortLookup(g, el); ok {
					out = append(out, v)
				} else {
					out = append(out, nil)
				}
			}
		}
	}
	if out == nil {
		out = []any{}
	}
	if store == "" {
		return out, nil
	}
	list := make([]string, len(out))
	for i, v := range out {
		list[i], _ = v.(string)
	}
	if len(list) == 0 {
		x.remove(store)
		return int64(0), nil
	}
	x.put(store, &entry{k: kList, list: list})
	return int64(len(list)), nil
}

// sortLookup resolves a SORT BY/GET pattern for an element: "#" is the
// element, "key*" a string key, "key*->field" a hash field.
func (x *ctx) sortLookup(pattern, el string) (string, bool) {
	if pattern == "#" {
		return el, true
	}
	key, field, isHash := strings.Cut(pattern, "->")
	key = strings.Replace(key, "*", el, 1)
	e := x.lookup(key)
	if e == nil {
		return "", false
	}
	if isHash {
		if e.k != kHash {
			return "", false
		}
		v, ok := e.hash[field]
		return v, ok
	}
	if e.k != kString || e.hll != nil {
		return "", false
	}
	return e.str, true
}
