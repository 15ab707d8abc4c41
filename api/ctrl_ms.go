package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/memstore"
)

// MemoryStorage is what the ms controller needs from the node: reads of
// this node's copy of the replicated keys (after ReadBarrier) and writes
// proposed through the log, stamped there with the proposer's time.
type MemoryStorage interface {
	ReadBarrier(ctx context.Context) error
	MSRead(ctx context.Context, argv []string) (any, error)
	MSWrite(ctx context.Context, cmds [][]string) ([]memstore.Reply, error)
}

// msController is Kuzzle's ms (memory storage) controller. Each action
// turns its request into a Redis argument vector the way Kuzzle's
// memoryStorageController does (same argument names, same places, same
// errors), which package memstore runs.
type msController struct {
	ms MemoryStorage
}

// msParam is one argument of an action: where Kuzzle reads it (the
// document id, a request argument or a body attribute), whether it may be
// absent (opt), and how to turn it into Redis arguments.
type msParam struct {
	name string // Kuzzle's name for it in missing_argument
	from byte   // 'i': _id, 'a': argument, 'b': body attribute
	path string
	opt  bool
	conv func(v any) ([]string, error)
}

func msID() msParam                   { return msParam{name: "key", from: 'i', path: "_id"} }
func msArg(name, path string) msParam { return msParam{name: name, from: 'a', path: path} }
func msBody(name, path string) msParam {
	return msParam{name: name, from: 'b', path: path}
}
func msOpt(p msParam) msParam                                    { p.opt = true; return p }
func msWith(p msParam, conv func(any) ([]string, error)) msParam { p.conv = conv; return p }

// msActions maps every action to its parameters in Redis's order. nil
// entries are the actions with special parsing (msSpecial).
var msActions = func() map[string][]msParam {
	key := []msParam{msID()}
	keyValue := []msParam{msID(), msBody("value", "value")}
	keysArg := []msParam{msWith(msArg("keys", "keys"), commaList)}
	keyRange := func(a, b string) []msParam { return []msParam{msID(), msArg(a, a), msArg(b, b)} }
	scanOf := func(withKey bool) []msParam {
		ps := []msParam{msArg("cursor", "cursor"), msOpt(msWith(msArg("match", "match"), scanMatch)), msOpt(msWith(msArg("count", "count"), scanCount))}
		if withKey {
			ps = append([]msParam{msID()}, ps...)
		}
		return ps
	}
	upperList := msOpt(msWith(msArg("options", "options"), upperCommaList))
	limit := msOpt(msWith(msArg("limit", "limit"), limitArg))
	geoRadius := []msParam{msArg("distance", "distance"), msArg("unit", "unit"), upperList}
	m := map[string][]msParam{
		"append":            keyValue,
		"bitcount":          {msID(), msOpt(msArg("start", "start")), msOpt(msArg("end", "end"))},
		"bitop":             {msBody("operation", "operation"), msID(), msBody("keys", "keys")},
		"bitpos":            {msID(), msArg("bit", "bit"), msOpt(msArg("start", "start")), msOpt(msArg("end", "end"))},
		"dbsize":            {},
		"decr":              key,
		"decrby":            keyValue,
		"del":               {msBody("keys", "keys")},
		"exists":            keysArg,
		"expire":            {msID(), msBody("seconds", "seconds")},
		"expireat":          {msID(), msBody("timestamp", "timestamp")},
		"flushdb":           {},
		"geoadd":            {msID(), msWith(msBody("points", "points"), geoPoints)},
		"geodist":           {msID(), msArg("member1", "member1"), msArg("member2", "member2"), msOpt(msArg("unit", "unit"))},
		"geohash":           {msID(), msWith(msArg("members", "members"), commaList)},
		"geopos":            {msID(), msWith(msArg("members", "members"), commaList)},
		"georadius":         append([]msParam{msID(), msArg("lon", "lon"), msArg("lat", "lat")}, geoRadius...),
		"georadiusbymember": append([]msParam{msID(), msArg("member", "member")}, geoRadius...),
		"get":               key,
		"getbit":            {msID(), msArg("offset", "offset")},
		"getrange":          keyRange("start", "end"),
		"getset":            keyValue,
		"hdel":              {msID(), msOpt(msBody("fields", "fields"))},
		"hexists":           {msID(), msArg("field", "field")},
		"hget":              {msID(), msArg("field", "field")},
		"hgetall":           key,
		"hincrby":           {msID(), msBody("field", "field"), msBody("value", "value")},
		"hincrbyfloat":      {msID(), msBody("field", "field"), msBody("value", "value")},
		"hkeys":             key,
		"hlen":              key,
		"hmget":             {msID(), msWith(msArg("fields", "fields"), commaList)},
		"hmset":             {msID(), msWith(msBody("entries", "entries"), pairs("field", "value"))},
		"hscan":             scanOf(true),
		"hset":              {msID(), msBody("field", "field"), msBody("value", "value")},
		"hsetnx":            {msID(), msBody("field", "field"), msBody("value", "value")},
		"hstrlen":           {msID(), msArg("field", "field")},
		"hvals":             key,
		"incr":              key,
		"incrby":            keyValue,
		"incrbyfloat":       keyValue,
		"keys":              {msArg("pattern", "pattern")},
		"lindex":            {msID(), msArg("index", "idx")},
		"linsert":           {msID(), msBody("position", "position"), msBody("pivot", "pivot"), msBody("value", "value")},
		"llen":              key,
		"lpop":              key,
		"lpush":             {msID(), msOpt(msBody("values", "values"))},
		"lpushx":            keyValue,
		"lrange":            keyRange("start", "stop"),
		"lrem":              {msID(), msBody("count", "count"), msBody("value", "value")},
		"lset":              {msID(), msBody("index", "index"), msBody("value", "value")},
		"ltrim":             {msID(), msBody("start", "start"), msBody("stop", "stop")},
		"mget":              keysArg,
		"mset":              {msWith(msBody("entries", "entries"), pairs("key", "value"))},
		"msetnx":            {msWith(msBody("entries", "entries"), pairs("key", "value"))},
		"object":            {msArg("subcommand", "subcommand"), msID()},
		"persist":           key,
		"pexpire":           {msID(), msBody("milliseconds", "milliseconds")},
		"pexpireat":         {msID(), msBody("timestamp", "timestamp")},
		"pfadd":             {msID(), msOpt(msBody("elements", "elements"))},
		"pfcount":           keysArg,
		"pfmerge":           {msID(), msOpt(msBody("sources", "sources"))},
		"ping":              {},
		"psetex":            {msID(), msBody("milliseconds", "milliseconds"), msBody("value", "value")},
		"pttl":              key,
		"randomkey":         {},
		"rename":            {msID(), msBody("newkey", "newkey")},
		"renamenx":          {msID(), msBody("newkey", "newkey")},
		"rpop":              key,
		"rpoplpush":         {msBody("source", "source"), msBody("destination", "destination")},
		"rpush":             {msID(), msOpt(msBody("values", "values"))},
		"rpushx":            keyValue,
		"sadd":              {msID(), msOpt(msBody("members", "members"))},
		"scan":              scanOf(false),
		"scard":             key,
		"sdiff":             {msID(), msWith(msArg("keys", "keys"), commaList)},
		"sdiffstore":        {msBody("destination", "destination"), msID(), msBody("keys", "keys")},
		"setex":             {msID(), msBody("seconds", "seconds"), msBody("value", "value")},
		"setnx":             keyValue,
		"sinter":            keysArg,
		"sinterstore":       {msBody("destination", "destination"), msBody("keys", "keys")},
		"sismember":         {msID(), msArg("member", "member")},
		"smembers":          key,
		"smove":             {msID(), msBody("destination", "destination"), msBody("member", "member")},
		"spop":              {msID(), msOpt(msBody("count", "count"))},
		"srandmember":       {msID(), msOpt(msArg("count", "count"))},
		"srem":              {msID(), msOpt(msBody("members", "members"))},
		"sscan":             scanOf(true),
		"strlen":            key,
		"sunion":            keysArg,
		"sunionstore":       {msBody("destination", "destination"), msBody("keys", "keys")},
		"time":              {},
		"touch":             {msBody("keys", "keys")},
		"ttl":               key,
		"type":              key,
		"zcard":             key,
		"zcount":            keyRange("min", "max"),
		"zincrby":           {msID(), msBody("value", "value"), msBody("member", "member")},
		"zlexcount":         keyRange("min", "max"),
		"zrange":            append(keyRange("start", "stop"), upperList),
		"zrangebylex":       append(keyRange("min", "max"), limit),
		"zrangebyscore":     append(keyRange("min", "max"), upperList, limit),
		"zrank":             {msID(), msArg("member", "member")},
		"zrem":              {msID(), msBody("members", "members")},
		"zremrangebylex":    {msID(), msBody("min", "min"), msBody("max", "max")},
		"zremrangebyrank":   {msID(), msBody("min", "start"), msBody("max", "stop")},
		"zremrangebyscore":  {msID(), msBody("min", "min"), msBody("max", "max")},
		"zrevrange":         append(keyRange("start", "stop"), upperList),
		"zrevrangebylex":    append(keyRange("max", "min"), limit),
		"zrevrangebyscore":  append(keyRange("max", "min"), upperList, limit),
		"zrevrank":          {msID(), msArg("member", "member")},
		"zscan":             scanOf(true),
		"zscore":            {msID(), msArg("member", "member")},
	}
	for _, special := range []string{"set", "sort", "zadd", "zinterstore", "zunionstore"} {
		m[special] = nil
	}
	return m
}()

func (c *msController) actions() map[string]Handler {
	h := make(map[string]Handler, len(msActions)+1)
	for name := range msActions {
		h[name] = func(ctx context.Context, r *Request) (any, error) { return c.run(ctx, r, name) }
	}
	h["mexecute"] = c.mexecute
	return h
}

func (c *msController) run(ctx context.Context, r *Request, action string) (any, error) {
	argv, err := msArgv(r, action)
	if err != nil {
		return nil, err
	}
	if err := memstore.Validate(argv); err != nil {
		return nil, msError(err.Error())
	}
	if !memstore.IsWrite(argv) {
		if err := c.ms.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		v, err := c.ms.MSRead(ctx, argv)
		if err != nil {
			return nil, msError(err.Error())
		}
		return v, nil
	}
	replies, err := c.ms.MSWrite(ctx, [][]string{argv})
	if err != nil {
		return nil, err
	}
	if len(replies) != 1 {
		return nil, kerror.New("core.fatal.assertion_failed", "a memory storage write returned "+strconv.Itoa(len(replies))+" replies")
	}
	if replies[0].Err != "" {
		return nil, msError(replies[0].Err)
	}
	return replies[0].Value, nil
}

// mexecute runs several actions as one: one log entry when any of them
// writes (so they apply together, in order, on every node), a local read
// otherwise. Its result is Redis MULTI's: an [error, result] pair per
// action.
func (c *msController) mexecute(ctx context.Context, r *Request) (any, error) {
	b, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	list, err := BodyArray(b, "actions")
	if err != nil {
		return nil, err
	}
	if len(list) > memstore.MaxCommands {
		return nil, kerror.New("api.assert.too_many_arguments", "actions")
	}
	cmds := make([][]string, len(list))
	write := false
	for i, it := range list {
		a, ok := it.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "actions", "object[]")
		}
		action, ok := a["action"].(string)
		if !ok {
			return nil, kerror.New("api.assert.missing_argument", "action")
		}
		rawArgs, ok := a["args"]
		if !ok {
			return nil, kerror.New("api.assert.missing_argument", "args")
		}
		subArgs, ok := rawArgs.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "args", "object")
		}
		if action == "mexecute" {
			return nil, kerror.New("api.assert.forbidden_argument", "mexecute")
		}
		if _, known := msActions[action]; !known {
			return nil, kerror.New("api.assert.forbidden_argument", action)
		}
		argv, err := msArgv(requestFromMap(subArgs), action)
		if err != nil {
			return nil, err
		}
		if err := memstore.Validate(argv); err != nil {
			return nil, msError(err.Error())
		}
		cmds[i] = argv
		write = write || memstore.IsWrite(argv)
	}
	out := make([]any, len(cmds))
	if !write {
		if err := c.ms.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		for i, argv := range cmds {
			v, err := c.ms.MSRead(ctx, argv)
			out[i] = multiReply(v, errText(err))
		}
		return out, nil
	}
	replies, err := c.ms.MSWrite(ctx, cmds)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if i < len(replies) {
			out[i] = multiReply(replies[i].Value, replies[i].Err)
		}
	}
	return out, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func multiReply(v any, err string) []any {
	if err != "" {
		return []any{map[string]any{"message": err}, nil}
	}
	return []any{nil, v}
}

// msError turns a memory storage failure (Redis's message) into a Kuzzle
// error: a broken size limit is a 413, anything else a bad request.
func msError(msg string) error {
	if strings.HasPrefix(msg, "LIMIT ") || strings.HasPrefix(msg, "OOM ") {
		return kerror.New("services.cache.limit_exceeded", msg)
	}
	return kerror.New("services.cache.command_failed", msg)
}

// msArgv builds the Redis argument vector of an action from a request.
func msArgv(r *Request, action string) ([]string, error) {
	switch action {
	case "set":
		return msSet(r)
	case "sort":
		return msSort(r)
	case "zadd":
		return msZadd(r)
	case "zinterstore", "zunionstore":
		return msZstore(r, action)
	}
	params, ok := msActions[action]
	if !ok {
		return nil, kerror.New("api.process.action_not_found", "ms", action)
	}
	argv := []string{action}
	for _, p := range params {
		var v any
		var present bool
		switch p.from {
		case 'i', 'a':
			v, present = r.Args[p.path]
		case 'b':
			if r.Body != nil {
				v, present = r.Body[p.path]
			}
		}
		if !present || v == nil {
			if p.opt {
				continue
			}
			return nil, kerror.New("api.assert.missing_argument", p.name)
		}
		conv := p.conv
		if conv == nil {
			conv = flatten(p.name)
		}
		vals, err := conv(v)
		if err != nil {
			return nil, err
		}
		argv = append(argv, vals...)
	}
	return argv, nil
}

// scalar is a Redis argument from a JSON value: strings as they are,
// numbers in their shortest form, booleans as words.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// flatten turns a scalar or an array of scalars into arguments.
func flatten(name string) func(any) ([]string, error) {
	return func(v any) ([]string, error) {
		if a, ok := v.([]any); ok {
			out := make([]string, 0, len(a))
			for _, e := range a {
				s, ok := scalar(e)
				if !ok {
					return nil, kerror.New("api.assert.invalid_type", name, "string, number or array of them")
				}
				out = append(out, s)
			}
			return out, nil
		}
		s, ok := scalar(v)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", name, "string or number")
		}
		return []string{s}, nil
	}
}

// commaList accepts an array or a comma-separated string (the query
// string form).
func commaList(v any) ([]string, error) {
	if s, ok := v.(string); ok {
		return strings.Split(s, ","), nil
	}
	return flatten("keys")(v)
}

func upperCommaList(v any) ([]string, error) {
	a, err := commaList(v)
	for i := range a {
		a[i] = strings.ToUpper(a[i])
	}
	return a, err
}

func limitArg(v any) ([]string, error) {
	a, err := commaList(v)
	if err != nil || len(a) != 2 {
		return nil, kerror.New("api.assert.invalid_argument", "limit", "<offset, count>")
	}
	return append([]string{"LIMIT"}, a...), nil
}

func scanMatch(v any) ([]string, error) {
	s, ok := v.(string)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "match", "<string>")
	}
	return []string{"MATCH", s}, nil
}

func scanCount(v any) ([]string, error) {
	if err := assertInt("count", v); err != nil {
		return nil, err
	}
	s, _ := scalar(v)
	return []string{"COUNT", s}, nil
}

// assertInt and assertFloat accept what JavaScript's parseInt and
// parseFloat accept from a number or a numeric string, as Kuzzle does.
func assertInt(name string, v any) error {
	s, ok := scalar(v)
	if _, isBool := v.(bool); !ok || isBool {
		return kerror.New("api.assert.invalid_type", name, "integer")
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
		return kerror.New("api.assert.invalid_type", name, "integer")
	}
	return nil
}

func assertFloat(name string, v any) error {
	s, ok := scalar(v)
	if _, isBool := v.(bool); !ok || isBool {
		return kerror.New("api.assert.invalid_type", name, "number")
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
		return kerror.New("api.assert.invalid_type", name, "number")
	}
	return nil
}

func bodyArray(r *Request, name string) ([]any, error) {
	b, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	return BodyArray(b, name)
}

// pairs turns [{k: .., v: ..}] entries into k v k v arguments (mset,
// msetnx, hmset).
func pairs(k, val string) func(any) ([]string, error) {
	return func(v any) ([]string, error) {
		a, ok := v.([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.entries", "array")
		}
		out := make([]string, 0, 2*len(a))
		for _, e := range a {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, kerror.New("api.assert.invalid_argument", "entries", "<array of objects>")
			}
			ks, ok1 := scalar(m[k])
			vs, ok2 := scalar(m[val])
			if !ok1 || !ok2 || ks == "" {
				return nil, kerror.New("api.assert.invalid_argument", "entries", "<array of objects>")
			}
			out = append(out, ks, vs)
		}
		return out, nil
	}
}

func geoPoints(v any) ([]string, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "body.points", "array")
	}
	if len(a) == 0 {
		return nil, kerror.New("api.assert.empty_argument", "points")
	}
	out := make([]string, 0, 3*len(a))
	for _, e := range a {
		m, ok := e.(map[string]any)
		if !ok || m["lon"] == nil || m["lat"] == nil || m["name"] == nil {
			return nil, kerror.New("api.assert.invalid_argument", "points", "<array of geopoints>")
		}
		if err := assertFloat("lon", m["lon"]); err != nil {
			return nil, err
		}
		if err := assertFloat("lat", m["lat"]); err != nil {
			return nil, err
		}
		lon, _ := scalar(m["lon"])
		lat, _ := scalar(m["lat"])
		name, ok := scalar(m["name"])
		if !ok {
			return nil, kerror.New("api.assert.invalid_argument", "points", "<array of geopoints>")
		}
		out = append(out, lon, lat, name)
	}
	return out, nil
}

func msKey(r *Request) (string, error) {
	// Kuzzle's assertHasId: any falsy _id ("", 0) is missing.
	v := r.Args["_id"]
	if !truthy(v) {
		return "", kerror.New("api.assert.missing_argument", "_id")
	}
	s, ok := scalar(v)
	if !ok {
		return "", kerror.New("api.assert.invalid_type", "_id", "string")
	}
	return s, nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	}
	return true
}

func msSet(r *Request) ([]string, error) {
	key, err := msKey(r)
	if err != nil {
		return nil, err
	}
	b, err := r.RequireBody()
	if err != nil {
		return nil, err
	}
	value, ok := b["value"]
	if _, isBool := value.(bool); !ok || isBool {
		return nil, kerror.New("api.assert.invalid_type", "value", "string, number")
	}
	vs, ok := scalar(value)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "value", "string, number")
	}
	if truthy(b["nx"]) && truthy(b["xx"]) {
		return nil, kerror.New("api.assert.mutually_exclusive", "nx", "xx")
	}
	if truthy(b["ex"]) && truthy(b["px"]) {
		return nil, kerror.New("api.assert.mutually_exclusive", "ex", "px")
	}
	argv := []string{"set", key, vs}
	for _, o := range []string{"ex", "px"} {
		if v, ok := b[o]; ok && v != nil {
			s, ok := scalar(v)
			if !ok {
				return nil, kerror.New("api.assert.invalid_type", o, "integer")
			}
			argv = append(argv, strings.ToUpper(o), s)
		}
	}
	for _, o := range []string{"nx", "xx"} {
		if truthy(b[o]) {
			argv = append(argv, strings.ToUpper(o))
		}
	}
	return argv, nil
}

func msSort(r *Request) ([]string, error) {
	key, err := msKey(r)
	if err != nil {
		return nil, err
	}
	argv := []string{"sort", key}
	b := r.Body
	if b == nil {
		return argv, nil
	}
	if truthy(b["alpha"]) {
		argv = append(argv, "ALPHA")
	}
	if v, ok := b["direction"]; ok && v != nil {
		d, _ := v.(string)
		d = strings.ToUpper(d)
		if d != "ASC" && d != "DESC" {
			return nil, kerror.New("api.assert.invalid_argument", "direction", `"ASC", "DESC"`)
		}
		argv = append(argv, d)
	}
	if v, ok := b["by"]; ok && v != nil {
		s, _ := scalar(v)
		argv = append(argv, "BY", s)
	}
	if v, ok := b["limit"]; ok && v != nil {
		l, ok := v.([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.limit", "array")
		}
		if len(l) < 2 {
			return nil, kerror.New("api.assert.invalid_type", "limit.count", "integer")
		}
		if err := assertInt("limit.offset", l[0]); err != nil {
			return nil, err
		}
		if err := assertInt("limit.count", l[1]); err != nil {
			return nil, err
		}
		off, _ := scalar(l[0])
		cnt, _ := scalar(l[1])
		argv = append(argv, "LIMIT", off, cnt)
	}
	if v, ok := b["get"]; ok && v != nil {
		g, ok := v.([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.get", "array")
		}
		for _, p := range g {
			s, _ := scalar(p)
			argv = append(argv, "GET", s)
		}
	}
	if v, ok := b["store"]; ok && v != nil {
		s, _ := scalar(v)
		argv = append(argv, "STORE", s)
	}
	return argv, nil
}

func msZadd(r *Request) ([]string, error) {
	key, err := msKey(r)
	if err != nil {
		return nil, err
	}
	elements, err := bodyArray(r, "elements")
	if err != nil {
		return nil, err
	}
	b := r.Body
	if truthy(b["nx"]) && truthy(b["xx"]) {
		return nil, kerror.New("api.assert.mutually_exclusive", "nx", "xx")
	}
	argv := []string{"zadd", key}
	for _, o := range []string{"nx", "xx", "ch", "incr"} {
		if truthy(b[o]) {
			argv = append(argv, strings.ToUpper(o))
		}
	}
	if len(elements) == 0 {
		return nil, kerror.New("api.assert.empty_argument", "elements")
	}
	if truthy(b["incr"]) && len(elements) > 1 {
		return nil, kerror.New("api.assert.too_many_arguments", "elements")
	}
	for i, e := range elements {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_argument", "elements", "<array of objects>")
		}
		member, ok := scalar(m["member"])
		if !ok || member == "" {
			return nil, kerror.New("api.assert.missing_argument", "elements["+strconv.Itoa(i)+"].member")
		}
		if err := assertFloat("score", m["score"]); err != nil {
			return nil, err
		}
		score, _ := scalar(m["score"])
		argv = append(argv, strings.TrimSpace(score), member)
	}
	return argv, nil
}

func msZstore(r *Request, action string) ([]string, error) {
	key, err := msKey(r)
	if err != nil {
		return nil, err
	}
	keys, err := bodyArray(r, "keys")
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, kerror.New("api.assert.empty_argument", "keys")
	}
	argv := []string{action, key, strconv.Itoa(len(keys))}
	ks, err := flatten("keys")(keys)
	if err != nil {
		return nil, err
	}
	argv = append(argv, ks...)
	b := r.Body
	if v, ok := b["weights"]; ok && v != nil {
		w, ok := v.([]any)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.weights", "array")
		}
		if len(w) > 0 {
			ws, err := flatten("weights")(w)
			if err != nil {
				return nil, err
			}
			argv = append(append(argv, "WEIGHTS"), ws...)
		}
	}
	if v, ok := b["aggregate"]; ok && v != nil && v != "" {
		s, ok := v.(string)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", "body.aggregate", "string")
		}
		s = strings.ToUpper(s)
		if s != "SUM" && s != "MIN" && s != "MAX" {
			return nil, kerror.New("api.assert.invalid_argument", "aggregate", `"SUM", "MIN" or "MAX"`)
		}
		argv = append(argv, "AGGREGATE", s)
	}
	return argv, nil
}
