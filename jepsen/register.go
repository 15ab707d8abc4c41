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

type regInput struct {
	Key   string
	Write bool
	Value int64
}

type regOutput struct{ Value int64 }

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
		in := input.(regInput)
		if in.Write {
			return true, in.Value
		}
		return output.(regOutput).Value == state.(int64), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		if in.Write {
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
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{op.Key, true, op.Value}, Call: op.Call, Output: regOutput{}, Return: op.Return})
		case op.Kind == "write" && op.Outcome == Info:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{op.Key, true, op.Value}, Call: op.Call, Output: regOutput{}, Return: end + 1})
		case (op.Kind == "read" || op.Kind == "final-read") && op.Outcome == OK:
			out = append(out, porcupine.Operation{ClientId: op.Client, Input: regInput{op.Key, false, 0}, Call: op.Call, Output: regOutput{op.Value}, Return: op.Return})
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
	finalOK := map[string]bool{}
	for _, op := range ops {
		keys[op.Key] = true
		if op.Kind == "write" && op.Outcome != Fail {
			writes[op.Key] = append(writes[op.Key], op)
			byValue[op.Value] = op
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
