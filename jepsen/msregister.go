package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// ms register workload (issue #11): memory storage keys used as registers
// with every atomic operation Kuzzle's ms controller offers on a string:
// ms:get (read), ms:set (write), ms:getset (swap: write and answer the
// previous value), ms:set with nx (set if absent: the compare-and-set
// Redis has without scripts) and ms:del (back to absent, so set-if-absent
// keeps mattering). Checked by the register model and checker
// (register.go), which porcupine extends to these operations.

// casKey names key k of shard s for the ms register workload.
func casKey(s, k int) string { return fmt.Sprintf("c%d-%d", s, k) }

// msRegisterClient runs random ms register operations through random
// nodes until stop ends; requests use ctx, so none is cut short.
func (e *env) msRegisterClient(ctx, stop context.Context, id int, rng *rand.Rand, keys int) {
	cs := e.conns()
	defer cs.closeAll()
	for stop.Err() == nil {
		shard := rng.IntN(e.shards())
		key := casKey(shard, rng.IntN(keys))
		nodes := e.route(shard)
		n := nodes[rng.IntN(len(nodes))]
		switch p := rng.IntN(100); {
		case p < 35:
			e.readRegister(ctx, cs, id, n, key, "read")
		case p < 50:
			e.msOp(ctx, cs, id, n, key, "write")
		case p < 70:
			e.msOp(ctx, cs, id, n, key, opSwap)
		case p < 87:
			e.msOp(ctx, cs, id, n, key, opSetNX)
		default:
			e.msOp(ctx, cs, id, n, key, opDel)
		}
		if !pause(stop, time.Duration(5+rng.IntN(20))*time.Millisecond) {
			return
		}
	}
}

// msOp runs one ms register operation that may change key and records it.
func (e *env) msOp(ctx context.Context, cs conns, id int, n *Node, key, kind string) {
	op := Op{Client: id, Node: n.Name, Kind: kind, Key: key, Call: e.h.Now()}
	if kind != opDel {
		op.Value = e.value.Add(1)
	}
	var req map[string]any
	switch kind {
	case "write":
		req = map[string]any{"controller": "ms", "action": "set", "_id": key, "body": map[string]any{"value": op.Value}}
	case opSwap:
		req = map[string]any{"controller": "ms", "action": "getset", "_id": key, "body": map[string]any{"value": op.Value}}
	case opSetNX:
		req = map[string]any{"controller": "ms", "action": "set", "_id": key, "body": map[string]any{"value": op.Value, "nx": true}}
	case opDel:
		req = map[string]any{"controller": "ms", "action": "del", "body": map[string]any{"keys": []string{key}}}
	}
	c, err := cs.get(ctx, n)
	var resp Response
	if err == nil {
		resp, err = c.Do(ctx, req, e.opTimeout)
	}
	op.Return = e.h.Now()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("cancelled: %v", err)
	}
	op.Outcome = writeOutcome(err)
	if err == nil {
		if perr := parseMSAnswer(&op, resp.Result); perr != nil {
			// Acknowledged, but with an answer the model cannot place:
			// it happened, with an unknown result.
			op.Outcome, op.Err = Info, perr.Error()
		}
	} else {
		op.Err = err.Error()
		var ke *KError
		if !errors.As(err, &ke) {
			cs.drop(n.Name)
		}
	}
	e.h.Add(op)
}

// parseMSAnswer reads the answer of an acknowledged ms register operation
// into op (Prev for a swap, Applied for setnx and del).
func parseMSAnswer(op *Op, result json.RawMessage) error {
	switch op.Kind {
	case opSwap:
		v, err := msValue(result)
		op.Prev = v
		return err
	case opSetNX:
		// "OK" when stored, null when the key existed.
		var s *string
		if err := json.Unmarshal(result, &s); err != nil || (s != nil && *s != "OK") {
			return fmt.Errorf("unexpected ms:set answer %s", result)
		}
		op.Applied = s != nil
	case opDel:
		var n int
		if err := json.Unmarshal(result, &n); err != nil || n < 0 || n > 1 {
			return fmt.Errorf("unexpected ms:del answer %s", result)
		}
		op.Applied = n == 1
	}
	return nil
}

// msValue reads a register value answered by ms:get or ms:getset: a
// decimal string, or null for an absent key (0).
func msValue(result json.RawMessage) (int64, error) {
	var s *string
	if err := json.Unmarshal(result, &s); err != nil {
		return 0, fmt.Errorf("unreadable ms value: %s", result)
	}
	if s == nil {
		return 0, nil
	}
	v, err := strconv.ParseInt(*s, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("unreadable ms value: %s", result)
	}
	return v, nil
}
