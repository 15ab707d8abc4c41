package node

import (
	"regexp"
	"testing"
)

// Generated document ids must be ids the API accepts back: Kuzzle refuses
// every _id that starts with "_" (api.assert.invalid_id), so such an id
// made mCreate fail its item and left a created document that get could
// not name (issue 13: 1 document in 64). An id whose first character
// were random, as it was, would start with "_" among 20,000 with
// probability 1-(63/64)^20000.
func TestNewIDIsAnAcceptedID(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{20}$`)
	n := &Node{}
	seen := map[string]bool{}
	for range 20000 {
		id := n.NewID()
		if !shape.MatchString(id) {
			t.Fatalf("id %q is not 20 URL-safe characters", id)
		}
		if id[0] == '_' {
			t.Fatalf("id %q starts with an underscore, which the API refuses as an _id", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}
}
