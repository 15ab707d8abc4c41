//go:build korum_failpoints

package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
	"github.com/korumdb/korum/storage"
)

// withFailpoints is fault injection for system tests, compiled only with
// -tags korum_failpoints (as etcd's gofail): a node made slow on purpose
// lets tests see the lag rule fire on a real process. Never ship it.
//
// KORUM_FAILPOINT_APPLY_DELAY (a Go duration) delays applying each log
// entry, as a node with a slow disk or a starved CPU would: it keeps
// receiving and acknowledging the log, but its applied index falls behind.
func withFailpoints(f raftnet.FSM, log *slog.Logger) (raftnet.FSM, error) {
	v := os.Getenv("KORUM_FAILPOINT_APPLY_DELAY")
	if v == "" {
		return f, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return nil, fmt.Errorf("KORUM_FAILPOINT_APPLY_DELAY: %w", err)
	}
	log.Warn("failpoint: delaying every applied log entry", "delay", d)
	return slowFSM{FSM: f, delay: d}, nil
}

type slowFSM struct {
	raftnet.FSM
	delay time.Duration
}

func (s slowFSM) Apply(l *raft.Log) any {
	time.Sleep(s.delay)
	return s.FSM.Apply(l)
}

func (s slowFSM) ApplyBatch(logs []*raft.Log) []any {
	time.Sleep(s.delay * time.Duration(len(logs)))
	return s.FSM.ApplyBatch(logs)
}

// withStoreFailpoints wraps the document store the state machine drives.
//
// KORUM_FAILPOINT_STORE_FAIL_AFTER=N makes every store commit after the
// first N of this process fail without writing anything, as a disk that
// filled up or broke would: the node must stop rather than skip the
// committed entries, and catch up once restarted without the failpoint.
func withStoreFailpoints(s fsm.Store, log *slog.Logger) (fsm.Store, error) {
	v := os.Getenv("KORUM_FAILPOINT_STORE_FAIL_AFTER")
	if v == "" {
		return s, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("KORUM_FAILPOINT_STORE_FAIL_AFTER: want a count, got %q", v)
	}
	log.Warn("failpoint: the store fails every commit after the first ones", "commits", n)
	fs := &failingStore{Store: s}
	fs.left.Store(n)
	return fs, nil
}

type failingStore struct {
	fsm.Store
	left atomic.Int64
}

var errFailpoint = errors.New("failpoint: injected store commit failure")

func (s *failingStore) Apply(index uint64, ws []storage.Write) ([]storage.WriteResult, error) {
	if index > s.AppliedIndex() && s.left.Add(-1) < 0 {
		return nil, errFailpoint
	}
	return s.Store.Apply(index, ws)
}
