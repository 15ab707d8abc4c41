package jepsen

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// Outcome classifies a completed operation.
type Outcome string

const (
	OK   Outcome = "ok"   // acknowledged
	Fail Outcome = "fail" // definitely did not take effect
	Info Outcome = "info" // indeterminate: may or may not have taken effect
)

// Op is one client operation, as recorded by a workload.
type Op struct {
	Client  int     `json:"client"`
	Node    string  `json:"node"` // container the request was sent to
	Kind    string  `json:"kind"` // "write", "read", "subscribe", "notify", ...
	Key     string  `json:"key"`
	Value   int64   `json:"value"`             // written value; read result (0: absent)
	Prev    int64   `json:"prev,omitempty"`    // swap: the value it replaced
	Applied bool    `json:"applied,omitempty"` // setnx: it stored; del: a value was there
	Outcome Outcome `json:"outcome"`
	Err     string  `json:"err,omitempty"`
	Call    int64   `json:"call"`   // ns since the run's epoch
	Return  int64   `json:"return"` // ns since the run's epoch
}

// History is a concurrency-safe recorder of operations with one epoch.
type History struct {
	epoch time.Time
	mu    sync.Mutex
	ops   []Op
}

// NewHistory starts a history whose timestamps count from now.
func NewHistory() *History { return &History{epoch: time.Now()} }

// Now is the monotonic time since the epoch, in nanoseconds.
func (h *History) Now() int64 { return int64(time.Since(h.epoch)) }

// Add records op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops is a copy of the recorded operations.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// WriteJSONLines writes ops to path, one JSON object per line.
func WriteJSONLines(path string, ops []Op) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Anomaly is one violation found by a checker.
type Anomaly struct {
	Checker string `json:"checker"`
	What    string `json:"what"`
}
