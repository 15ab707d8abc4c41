package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

// What the cluster's feature version does not allow yet is refused with
// a Kuzzle-style error that says what to do; version 1 kinds always pass,
// and so does the feature entry itself (its proposer checked every node).
func TestFeatureGate(t *testing.T) {
	err := featureGate(2, 1)
	if !kerror.Is(err, "cluster.process.feature_unavailable") || !strings.Contains(err.Error(), "every node is upgraded") {
		t.Fatalf("featureGate(2, 1) = %v", err)
	}
	var ke *kerror.Error
	if !errors.As(err, &ke) || ke.Status != 412 {
		t.Fatalf("%v, want status 412", err)
	}
	if err := featureGate(2, 2); err != nil {
		t.Fatal(err)
	}
	n := &Node{fsm: fsm.New(fsm.NullStore{}, nil, quietLog())}
	for _, k := range []fsm.Kind{fsm.KindWrite, fsm.KindBatch, fsm.KindChanged, fsm.KindFeature} {
		if err := n.gate(&fsm.Command{Kind: k}); err != nil {
			t.Fatalf("%s refused at version %d: %v", k, n.fsm.FeatureVersion(), err)
		}
	}
	if err := n.gate(&fsm.Command{Kind: fsm.KindSpecs}); !kerror.Is(err, "cluster.process.feature_unavailable") {
		t.Fatalf("a version 2 kind at version 1: %v", err)
	}
}

// An operation added to an old kind is gated like a new kind: a security
// mapping update is refused while the cluster runs version 1 (a v0.2.0
// node would answer it "unknown security command" and keep the old
// mapping), the security kind's older operations are not, and once the
// cluster agreed on version 2 the new one passes.
func TestFeatureGatePerOperation(t *testing.T) {
	f := fsm.New(fsm.NullStore{}, nil, quietLog())
	n := &Node{fsm: f}
	mapping := &fsm.Command{Kind: fsm.KindSecurity, Security: &security.Command{Op: security.OpUpdateMapping, ID: "users",
		Mapping: map[string]any{"properties": map[string]any{}}}}
	err := n.gate(mapping)
	if !kerror.Is(err, "cluster.process.feature_unavailable") || !strings.Contains(err.Error(), "needs cluster feature version 2") {
		t.Fatalf("a mapping update at version 1: %v", err)
	}
	for _, op := range []security.Op{security.OpPutUser, security.OpRevoke, security.OpReset, security.OpLoad} {
		if err := n.gate(&fsm.Command{Kind: fsm.KindSecurity, Security: &security.Command{Op: op}}); err != nil {
			t.Fatalf("%s refused at version 1: %v", op, err)
		}
	}
	b, err := (&fsm.Command{Kind: fsm.KindFeature, Feature: 2}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Apply(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: b}); r != nil {
		if err, ok := r.(error); ok {
			t.Fatal(err)
		}
	}
	if f.FeatureVersion() != 2 {
		t.Fatalf("feature version %d", f.FeatureVersion())
	}
	if err := n.gate(mapping); err != nil {
		t.Fatalf("a mapping update at version 2: %v", err)
	}
}
