package raftnet_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/korumdb/korum/raftnet"
)

// The same start-up code serves a first start, a restart and a scale-up:
// Bootstrap only acts on an empty data dir, and joining an existing member
// with the same id and address is a no-op.
func Example() {
	var fsm raftnet.FSM // the state machine, e.g. fsm.New(...)
	cfg := raftnet.Config{
		NodeID:          "node-1", // persisted by the caller
		DataDir:         "/var/lib/korum",
		BindAddr:        "10.0.0.1:7511",
		Secret:          "shared cluster secret",
		Bootstrap:       false, // membership decides which single node bootstraps
		FSMIsPersistent: true,
	}
	ctx := context.Background()
	n, err := raftnet.Open(ctx, cfg, fsm)
	if err != nil {
		log.Fatal(err)
	}
	defer n.Shutdown()

	joinCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := n.JoinCluster(joinCtx, []string{"10.0.0.2:7511", "10.0.0.3:7511"}, false); err != nil {
		log.Fatal(err)
	}

	res, err := n.Apply(ctx, []byte("an opaque command"))
	switch {
	case errors.Is(err, raftnet.ErrUnknownOutcome):
		// may or may not have committed: retry only if the command is idempotent
	case errors.Is(err, raftnet.ErrNoLeader):
		// not submitted: safe to retry later
	case err != nil:
		var fe *raftnet.FSMError
		if errors.As(err, &fe) {
			log.Printf("committed, and the state machine refused it: %s", fe.Msg)
		}
	}
	_ = res

	// Before serving a read from local state:
	if err := n.LinearizableRead(ctx); err != nil {
		log.Print(err)
	}
}
