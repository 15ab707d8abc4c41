package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/kerror"
)

// keySettings holds a collection's settings, beside its mapping.
var keySettings = []byte("settings")

// settings are the Elasticsearch index settings Korum honours. Others
// (shards, replicas, analyzers) mean nothing to the embedded engine and
// are accepted and ignored, as a create or update carries them.
type settings struct {
	// BlocksWrite is index.blocks.write: documents can be read but not
	// written (the mapping and the settings still can).
	BlocksWrite bool `json:"blocksWrite,omitempty"`
}

// parseSettings reads index.blocks.write from the settings of a
// collection create or update in any of the forms Elasticsearch accepts
// ({"index":{"blocks":{"write":true}}}, {"blocks":{"write":"true"}},
// {"index.blocks.write":true}, {"index":{"blocks.write":true}}). set is
// false when the setting is not there.
func parseSettings(raw json.RawMessage) (value, set bool, err error) {
	if len(raw) == 0 {
		return false, false, nil
	}
	var in map[string]any
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return false, false, kerror.New("services.storage.invalid_argument", "settings", "an object")
	}
	var v any
	var found bool
	lookup := func(m map[string]any, path ...string) {
		var cur any = m
		for _, p := range path {
			mm, ok := cur.(map[string]any)
			if !ok {
				return
			}
			if cur, ok = mm[p]; !ok {
				return
			}
		}
		v, found = cur, true
	}
	for _, p := range [][]string{{"index", "blocks", "write"}, {"blocks", "write"}, {"index.blocks.write"},
		{"index", "blocks.write"}, {"blocks.write"}} {
		if lookup(in, p...); found {
			break
		}
	}
	if !found || v == nil {
		return false, false, nil
	}
	switch b := v.(type) {
	case bool:
		return b, true, nil
	case string:
		switch b {
		case "true":
			return true, true, nil
		case "false":
			return false, true, nil
		}
	}
	return false, false, kerror.New("services.storage.invalid_argument", "settings.index.blocks.write", "true or false")
}

func loadSettings(cb *bolt.Bucket) (settings, error) {
	var s settings
	if b := cb.Get(keySettings); b != nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("corrupt settings: %w", err)
		}
	}
	return s, nil
}

func putSettings(cb *bolt.Bucket, blocksWrite bool) error {
	b, err := json.Marshal(settings{BlocksWrite: blocksWrite})
	if err != nil {
		return err
	}
	return cb.Put(keySettings, b)
}

func writeBlocked(index, collection string) *kerror.Error {
	return kerror.New("services.storage.write_blocked", index, collection)
}

// GetSettings returns the settings Korum honours, in Elasticsearch's shape
// ({"blocks": {"write": "false"}}).
func (e *Engine) GetSettings(ctx context.Context, index, collection string) (map[string]any, error) {
	var st settings
	err := e.view(func(tx *bolt.Tx) error {
		cb, err := collectionBucket(tx, index, collection)
		if err != nil {
			return err
		}
		st, err = loadSettings(cb)
		return err
	})
	if err != nil {
		return nil, readErr(err, "read settings")
	}
	return map[string]any{"blocks": map[string]any{"write": strconv.FormatBool(st.BlocksWrite)}}, nil
}
