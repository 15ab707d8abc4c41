package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/korumdb/korum/storage"
	"github.com/korumdb/korum/validation"
)

// specStore is what docChecker reads: specifications, and stored documents
// for updates. It counts reads, so a test sees when none is made.
type specStore struct {
	specs *validation.State
	docs  map[string]map[string]any
	reads int
}

func (s *specStore) Spec(i, c string) *validation.Spec { return s.specs.Spec(i, c) }
func (s *specStore) ReadBarrier(context.Context) error { return nil }
func (s *specStore) MGet(_ context.Context, _, _ string, ids []string) ([]*storage.Document, []string, error) {
	s.reads++
	var found []*storage.Document
	var missing []string
	for _, id := range ids {
		if d, ok := s.docs[id]; ok {
			found = append(found, &storage.Document{ID: id, Source: d})
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing, nil
}

type fixedClock struct{}

func (fixedClock) NodeID() string { return "n1" }
func (fixedClock) Now() time.Time { return time.Unix(1700000000, 0) }

func newChecker(t *testing.T, spec string) (*docChecker, *specStore) {
	t.Helper()
	st := &specStore{specs: validation.NewState(), docs: map[string]map[string]any{
		"alice": {"name": "alice", "age": float64(30), "_kuzzle_info": map[string]any{"author": "x"}},
	}}
	if spec != "" {
		st.specs.Apply(&validation.Command{Index: "i", Collection: "c", Spec: json.RawMessage(spec)})
	}
	return &docChecker{specs: st, store: st, clock: fixedClock{}}, st
}

const peopleSpec = `{"strict":true,"fields":{"name":{"type":"string","mandatory":true},
	"age":{"type":"integer","typeOptions":{"range":{"min":0}}},"role":{"type":"string","defaultValue":"user"}}}`

// A collection without a specification costs no read and changes nothing.
func TestDocCheckerWithoutSpec(t *testing.T) {
	d, st := newChecker(t, "")
	docs := []storage.DocWrite{{ID: "alice", Body: map[string]any{"anything": 1}}}
	errs, err := d.check(context.Background(), storage.OpDocUpdate, "i", "c", docs)
	if err != nil || errs != nil || st.reads != 0 {
		t.Fatalf("errs %v, err %v, reads %d", errs, err, st.reads)
	}
	if err := d.checkOne(context.Background(), storage.OpDocCreate, "i", "c", &docs[0]); err != nil || len(docs[0].Body) != 1 {
		t.Fatalf("%v %v", err, docs[0].Body)
	}
}

// Creations are checked as sent and get their defaults; updates are
// checked merged into the stored document, whose _kuzzle_info a strict
// specification does not see; each item of an m* write gets its verdict.
func TestDocCheckerWrites(t *testing.T) {
	d, _ := newChecker(t, peopleSpec)
	ctx := context.Background()
	docs := []storage.DocWrite{
		{ID: "a", Body: map[string]any{"name": "a"}},
		{ID: "b", Body: map[string]any{"age": float64(1)}},
		{ID: "c", Body: map[string]any{"name": "c", "other": true}},
	}
	errs, err := d.check(ctx, storage.OpDocCreate, "i", "c", docs)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errIDOf(errs[1]) != "validation.check.failed_field" || errIDOf(errs[2]) != "validation.check.failed_document" {
		t.Fatalf("verdicts %v", errs)
	}
	if docs[0].Body["role"] != "user" {
		t.Errorf("default not applied: %v", docs[0].Body)
	}

	upd := storage.DocWrite{ID: "alice", Body: map[string]any{"age": float64(31)}}
	if err := d.checkOne(ctx, storage.OpDocUpdate, "i", "c", &upd); err != nil {
		t.Fatalf("valid update refused: %v", err)
	}
	if _, has := upd.Body["role"]; has {
		t.Errorf("an update got a default for an absent field: %v", upd.Body)
	}
	bad := storage.DocWrite{ID: "alice", Body: map[string]any{"age": float64(-1)}}
	if err := d.checkOne(ctx, storage.OpDocUpdate, "i", "c", &bad); errIDOf(err) != "validation.check.failed_field" {
		t.Fatalf("invalid update: %v", err)
	}
	missing := storage.DocWrite{ID: "nobody", Body: map[string]any{"age": float64(-1)}}
	if err := d.checkOne(ctx, storage.OpDocUpdate, "i", "c", &missing); err != nil {
		t.Fatalf("an update of a missing document is left to the write's not_found: %v", err)
	}
}

// An upsert that creates is checked as default + changes, and the
// defaults go with the part used only on creation.
func TestDocCheckerUpsert(t *testing.T) {
	d, _ := newChecker(t, peopleSpec)
	ctx := context.Background()
	create := storage.DocWrite{ID: "new", Body: map[string]any{"age": float64(2)}}
	if err := d.checkOne(ctx, storage.OpDocUpsert, "i", "c", &create); errIDOf(err) != "validation.check.failed_field" {
		t.Fatalf("an upsert creating a document without its mandatory field: %v", err)
	}
	create.Default = map[string]any{"name": "new"}
	if err := d.checkOne(ctx, storage.OpDocUpsert, "i", "c", &create); err != nil {
		t.Fatal(err)
	}
	if create.Default["role"] != "user" || create.Body["role"] != nil {
		t.Errorf("defaults: changes %v, default %v", create.Body, create.Default)
	}
	existing := storage.DocWrite{ID: "alice", Body: map[string]any{"age": float64(-3)}}
	if err := d.checkOne(ctx, storage.OpDocUpsert, "i", "c", &existing); errIDOf(err) != "validation.check.failed_field" {
		t.Fatalf("an upsert of an existing document is checked merged: %v", err)
	}
}

// updateSpecifications stores the specification as the client wrote it
// (compacted), so that its fields keep their order through the log; other
// actions keep no raw body.
func TestSpecJSONKeepsTheClientsOrder(t *testing.T) {
	r, err := DecodeRequest([]byte(`{"controller":"collection","action":"updateSpecifications","index":"i","collection":"c",
		"body":{"fields":{ "zeta":{"type":"integer"}, "alpha":{"type":"integer"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := specJSON(r, r.Body)
	if err != nil || string(raw) != `{"fields":{"zeta":{"type":"integer"},"alpha":{"type":"integer"}}}` {
		t.Fatalf("stored %s %v", raw, err)
	}
	other, _ := DecodeRequest([]byte(`{"controller":"document","action":"create","body":{"b":1,"a":2}}`))
	if other.RawBody != nil {
		t.Fatalf("document:create kept its raw body: %s", other.RawBody)
	}
	// Without the raw body (a request built otherwise): the keys sorted.
	r.RawBody = nil
	if raw, _ := specJSON(r, r.Body); string(raw) != `{"fields":{"alpha":{"type":"integer"},"zeta":{"type":"integer"}}}` {
		t.Fatalf("re-encoded %s", raw)
	}
}
