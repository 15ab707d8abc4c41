package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
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
		if err := n.gateKind(k); err != nil {
			t.Fatalf("%s refused at version %d: %v", k, n.fsm.FeatureVersion(), err)
		}
	}
}
