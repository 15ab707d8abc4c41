//go:build !korum_failpoints

package node

import (
	"log/slog"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
)

// withFailpoints returns f unchanged: fault injection exists only in the
// korum_failpoints build (failpoint_on.go).
func withFailpoints(f raftnet.FSM, _ *slog.Logger) (raftnet.FSM, error) { return f, nil }

// withStoreFailpoints returns s unchanged (see failpoint_on.go).
func withStoreFailpoints(s fsm.Store, _ *slog.Logger) (fsm.Store, error) { return s, nil }
