package jepsen

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Register workload: a few documents used as read/write registers. Every
// written value is unique in a run, so a read names the write it observed.
// Value 0 means "document absent".
//
// The ms register workload (msregister.go) adds the memory storage's
// atomic read-modify-writes to the same model: swap (ms:getset: write,
// answering the previous value), set-if-absent (ms:set with nx) and delete
// (ms:del, back to absent).

type regInput struct {
	Key   string
	Write bool
	Value int64
	Op    string // "" (read or write, by Write), or opSwap, opSetNX, opDel
}

// Operations beyond read and write, by Op.Kind and regInput.Op.
const (
	opSwap  = "swap"  // write Value, answering the previous value (Op.Prev)
	opSetNX = "setnx" // write Value only if absent; Op.Applied says whether it did
	opDel   = "del"   // back to absent; Op.Applied says whether a value was there
)

// regOutput is an operation's answer; Unknown for an indeterminate
// read-modify-write, whose answer was never received.
type regOutput struct {
	Value   int64
	Applied bool
	Unknown bool
}

// RegisterModel is a map of registers, partitioned by key for porcupine.
var RegisterModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(regInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() interface{} { return int64(0) },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in, out, st := input.(regInput), output.(regOutput), state.(int64)
		switch in.Op {
		case opSwap:
			return out.Unknown || out.Value == st, in.Value
		case opSetNX:
			if st == 0 {
				return out.Unknown || out.Applied, in.Value
			}
			return out.Unknown || !out.Applied, st
		case opDel:
			return out.Unknown || out.Applied == (st != 0), int64(0)
		}
		if in.Write {
			return true, in.Value
		}
		return out.Value == st, state
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.Op != "" && out.Unknown:
			return fmt.Sprintf("%s(%s, %d) -> ?", in.Op, in.Key, in.Value)
		case in.Op == opSwap:
			return fmt.Sprintf("swap(%s, %d) -> %d", in.Key, in.Value, out.Value)
		case in.Op == opSetNX:
			return fmt.Sprintf("setnx(%s, %d) -> %v", in.Key, in.Value, out.Applied)
		case in.Op == opDel:
			return fmt.Sprintf("del(%s) -> %v", in.Key, out.Applied)
		case in.Write:
			return fmt.Sprintf("write(%s, %d)", in.Key, in.Value)
		}
		return fmt.Sprintf("read(%s) -> %d", in.Key, output.(regOutput).Value)
	},
	DescribeState: func(state interface{}) string { return fmt.Sprint(state) },
}

// registerOperations turns a register history into porcupine operations:
// failed writes are dropped (they did not happen), indeterminate writes
// never return (they may take effect at any later point), and only
// acknowledged reads are kept (a failed read constrains nothing).
func registerOperations(ops []Op) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		if op.Return > end {
			end = op.Return
		}
	}
	var out []porcupine.Operation
	for _, op := range ops {
		switch {
		case op.Kind == "write" && op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{Key: op.Key, Write: true, Value: op.Value}, Call: op.Call, Output: regOutput{}, Return: op.Return})
		case op.Kind == "write" && op.Outcome == Info:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{Key: op.Key, Write: true, Value: op.Value}, Call: op.Call, Output: regOutput{}, Return: end + 1})
		case (op.Kind == "read" || op.Kind == "final-read") && op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{Key: op.Key}, Call: op.Call, Output: regOutput{Value: op.Value}, Return: op.Return})
		case isRMW(op.Kind) && op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{op.Key, true, op.Value, op.Kind}, Call: op.Call,
				Output: regOutput{Value: op.Prev, Applied: op.Applied}, Return: op.Return})
		case isRMW(op.Kind) && op.Outcome == Info:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{op.Key, true, op.Value, op.Kind}, Call: op.Call,
				Output: regOutput{Unknown: true}, Return: end + 1})
		}
	}
	return out
}

// RegisterResult is what the register checkers found.
type RegisterResult struct {
	Linearizable porcupine.CheckResult
	Info         porcupine.LinearizationInfo
	Anomalies    []Anomaly
}

// CheckRegisters checks a register history: linearizability (porcupine,
// bounded by timeout: Unknown is reported, not counted as an anomaly), plus
// direct checks with readable messages: a read never returns a value that
// no write produced, and never returns a value older than an acknowledged
// write that completed before the read began (a stale read; called a lost
// write when the read is a final read after healing). Every key must have a
// successful final read, or durability could not be verified.
func CheckRegisters(ops []Op, timeout time.Duration) RegisterResult {
	var res RegisterResult
	pops := registerOperations(ops)
	res.Linearizable, res.Info = porcupine.CheckOperationsVerbose(RegisterModel, pops, timeout)
	if res.Linearizable == porcupine.Illegal {
		res.Anomalies = append(res.Anomalies, Anomaly{"linearizable", "porcupine found no linearization of the register history"})
	}

	writes := map[string][]Op{} // by key, attempted (ok or info) writes
	byValue := map[int64]Op{}
	keys := map[string]bool{}
	deletes := map[string]bool{}
	finalOK := map[string]bool{}
	for _, op := range ops {
		keys[op.Key] = true
		if mayHaveWritten(op) {
			writes[op.Key] = append(writes[op.Key], op)
			byValue[op.Value] = op
		}
		if op.Kind == opDel && op.Outcome != Fail {
			deletes[op.Key] = true
		}
		if op.Kind == "final-read" && op.Outcome == OK {
			finalOK[op.Key] = true
		}
	}
	for _, r := range ops {
		if (r.Kind != "read" && r.Kind != "final-read") || r.Outcome != OK {
			continue
		}
		what := "stale read"
		if r.Kind == "final-read" {
			what = "lost write"
		}
		var seenEnd int64 = math.MinInt64 // when the observed write returned
		if r.Value != 0 {
			w, ok := byValue[r.Value]
			if !ok || w.Key != r.Key {
				res.Anomalies = append(res.Anomalies, Anomaly{"registers", fmt.Sprintf("read of %s on %s returned %d, which no write of that key produced", r.Key, r.Node, r.Value)})
				continue
			}
			if w.Call > r.Return {
				res.Anomalies = append(res.Anomalies, Anomaly{"registers", fmt.Sprintf("read of %s on %s returned %d before its write began", r.Key, r.Node, r.Value)})
				continue
			}
			seenEnd = w.Return
			if w.Outcome == Info {
				seenEnd = math.MaxInt64 // it took effect at an unknown time before the read returned
			}
		}
		if deletes[r.Key] {
			// "Absent" recurs after a delete, so a read no longer names
			// the write it saw: porcupine alone judges these keys.
			continue
		}
		for _, w := range writes[r.Key] {
			if w.Outcome == OK && w.Return < r.Call && w.Call > seenEnd && w.Value != r.Value {
				seen := fmt.Sprintf("read %d", r.Value)
				if r.Value == 0 {
					seen = "found no document"
				}
				res.Anomalies = append(res.Anomalies, Anomaly{"registers", fmt.Sprintf("%s: %s %s on %s at %s, but write %d was acknowledged at %s, after that state",
					what, r.Key, seen, r.Node, time.Duration(r.Call), w.Value, time.Duration(w.Return))})
				break
			}
		}
	}
	var ks []string
	for k := range keys {
		if k != "" {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	for _, k := range ks {
		if !finalOK[k] {
			res.Anomalies = append(res.Anomalies, Anomaly{"durability", fmt.Sprintf("no final read of %s succeeded after healing: acknowledged writes could not be verified", k)})
		}
	}
	return res
}

// isRMW says whether kind is one of the ms register's read-modify-writes.
func isRMW(kind string) bool { return kind == opSwap || kind == opSetNX || kind == opDel }

// mayHaveWritten says whether op may have stored its value: an attempted
// write or swap, or a set-if-absent that succeeded or whose answer is unknown.
func mayHaveWritten(op Op) bool {
	switch op.Kind {
	case "write", opSwap:
		return op.Outcome != Fail
	case opSetNX:
		return op.Outcome == Info || (op.Outcome == OK && op.Applied)
	}
	return false
}
