package elasticsearch

import "testing"

// Partial answers (some shards failed, which Elasticsearch answers with a
// 200) are errors, not counts.
func TestShardsHeaderComplete(t *testing.T) {
	if err := (shardsHeader{Total: 2}).complete("x"); err != nil {
		t.Fatal(err)
	}
	if err := (shardsHeader{Total: 2, Failed: 1}).complete("counting"); errID(err) != "services.storage.unexpected_error" {
		t.Fatalf("a partial answer gave %v", err)
	}
}
