package kerror

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCodesMatchKuzzleLayout(t *testing.T) {
	// Kuzzle derives codes from the id's position in its catalogue; a wrong
	// code breaks SDKs that switch on it, so check the known anchors.
	anchors := map[string]int{
		"api.process.not_enough_nodes": 33685515,
		"api.assert.missing_argument":  33619971,
		"services.storage.not_found":   16842763,
		"core.realtime.room_not_found": 65537,
		"network.http.url_not_found":   50397191,
	}
	for id, code := range anchors {
		if got := New(id).Code; got != code {
			t.Errorf("%s: code %d, want %d", id, got, code)
		}
	}
}

func TestNewFillsTemplate(t *testing.T) {
	e := New("services.storage.not_found", "d1", "idx", "col")
	if e.Message != `Document "d1" not found in "idx":"col".` || e.Status != 404 {
		t.Fatalf("got %+v", e)
	}
}

func TestFromKeepsWrappedKuzzleErrors(t *testing.T) {
	inner := New("api.assert.body_required")
	if got := From(fmt.Errorf("ctx: %w", inner)); got != inner {
		t.Fatalf("From lost the wrapped error: %v", got)
	}
	plain := From(errors.New("boom"))
	if plain.ID != "core.fatal.unexpected_error" || plain.Status != 500 || !errors.Is(plain, plain.cause) {
		t.Fatalf("unexpected %+v", plain)
	}
	if strings.Contains(plain.Message, "boom") {
		t.Fatalf("an unexpected error's cause reached the client: %q", plain.Message)
	}
	if New("no.such.id").Status != 500 {
		t.Fatal("unknown ids must degrade to a 500")
	}
}
