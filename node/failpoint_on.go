//go:build korum_failpoints

package node

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/raftnet"
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
