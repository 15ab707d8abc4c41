package fsm

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/validation"
)

var testNow = time.Unix(1700000000, 0)

func specsCmd(index, collection, spec string) *Command {
	c := &validation.Command{Index: index, Collection: collection}
	if spec != "" {
		c.Spec = json.RawMessage(spec)
	}
	return &Command{Kind: KindSpecs, Specs: c}
}

// Specifications apply in log order, are marked as format version 2, and
// survive a snapshot, compiled again on the restoring replica.
func TestSpecsEntries(t *testing.T) {
	set := specsCmd("i", "c", `{"strict":true,"fields":{"n":{"type":"integer","mandatory":true}}}`)
	b, err := set.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != tagVersion {
		t.Fatalf("a specs entry does not start with its format version: % x", b[:4])
	}
	back, err := DecodeCommand(b)
	if err != nil || back.Specs == nil || string(back.Specs.Spec) != string(set.Specs.Spec) {
		t.Fatalf("decoded %+v, %v", back, err)
	}

	f, _, _ := newFSM(t)
	var lb logBuilder
	out := f.ApplyBatch([]*raft.Log{
		lb.entry(t, set),
		lb.batchEntry(t, specsCmd("i", "other", `{"fields":{}}`), specsCmd("i", "other", "")),
		lb.entry(t, specsCmd("i", "c", `{"strict":true,"fields":{"n":{"type":"integer","mandatory":true}}}`)),
	})
	rs := responses(t, []any{out[0], out[2]})
	if rs[0].Existed || !rs[1].Existed {
		t.Fatalf("existed: %v then %v", rs[0].Existed, rs[1].Existed)
	}
	if f.Specs().Len() != 1 {
		t.Fatalf("specs = %+v", f.Specs().All())
	}
	spec := f.Specs().Spec("i", "c")
	if spec == nil {
		t.Fatal("no compiled spec")
	}
	if err := spec.Check("id", map[string]any{}, testNow); err == nil {
		t.Fatal("a document without its mandatory field passed")
	}

	snapshot := persist(t, f)
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshot))); err != nil {
		t.Fatal(err)
	}
	if g.Specs().Spec("i", "c") == nil || g.Specs().Len() != 1 {
		t.Fatalf("restored specs = %+v", g.Specs().All())
	}
	// A state that never held a specification restores to none.
	h, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(persist(t, h)))); err != nil {
		t.Fatal(err)
	}
	if g.Specs().Len() != 0 {
		t.Fatalf("specs after restoring an empty state: %+v", g.Specs().All())
	}
}
