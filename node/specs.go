package node

import (
	"context"
	"encoding/json"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/validation"
)

// Spec returns a collection's compiled validation specification, or nil:
// one atomic load and a map lookup, on every document write.
func (n *Node) Spec(index, collection string) *validation.Spec {
	return n.fsm.Specs().Spec(index, collection)
}

// StoredSpec returns a collection's specification as submitted.
func (n *Node) StoredSpec(index, collection string) (json.RawMessage, bool) {
	return n.fsm.Specs().Get(index, collection)
}

// AllSpecs lists every specification.
func (n *Node) AllSpecs() []validation.Stored { return n.fsm.Specs().All() }

// ProposeSpecs sets or deletes a specification (the caller checked it:
// a committed entry always applies) and returns whether one was there.
// Like a security change, it holds on every reachable node when it
// returns, so that a write refused by the new specification is refused
// wherever the client sends it next.
func (n *Node) ProposeSpecs(ctx context.Context, c *validation.Command) (bool, error) {
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()
	var resp fsm.Response
	if err := n.propose(ctx, &fsm.Command{Kind: fsm.KindSpecs, Specs: c}, &resp); err != nil {
		return false, err
	}
	if err := n.raft.LinearizableRead(ctx); err == nil {
		n.awaitPeers(ctx, n.fsm.AppliedIndex())
	}
	return resp.Existed, nil
}
