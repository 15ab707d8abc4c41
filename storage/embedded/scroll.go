package embedded

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// scrollState is everything needed to continue a scroll, carried by the
// scroll id itself so that any node can serve the next page and nothing has
// to be stored, replicated or garbage-collected. The position is the sort
// key of the last hit returned (search_after style), so documents created or
// deleted between pages do not shift the others; unlike an ES scroll there
// is no frozen snapshot, so a document whose sort key changes meanwhile may
// be returned again or skipped.
type scrollState struct {
	V          int             `json:"v"`
	Index      string          `json:"i"`
	Collection string          `json:"c"`
	Query      json.RawMessage `json:"q,omitempty"`
	Sort       json.RawMessage `json:"s,omitempty"`
	Size       int             `json:"n"`
	TTL        int64           `json:"t"` // milliseconds
	Expires    int64           `json:"e"` // epoch milliseconds
	After      *cursor         `json:"a,omitempty"`
	Done       bool            `json:"d,omitempty"`
	// Targets are a multi-target search's collections (Index and
	// Collection are then empty).
	Targets []storage.Target `json:"ts,omitempty"`
}

// targets are the collections the scroll reads.
func (st *scrollState) targets() []storage.Target {
	if st.Targets != nil {
		return st.Targets
	}
	return []storage.Target{{Index: st.Index, Collections: []string{st.Collection}}}
}

const scrollVersion = 1

// maxScrollIDLen bounds what decodeScroll accepts before doing any work.
const maxScrollIDLen = 1 << 20

// encodeScroll signs the state with ScrollKey: base64url(json) "."
// base64url(hmac-sha256). Expiry is set from the read clock.
func (e *Engine) encodeScroll(st *scrollState) (string, error) {
	st.V = scrollVersion
	st.Expires = e.opts.Now().UnixMilli() + st.TTL
	b, err := json.Marshal(st)
	if err != nil {
		return "", kerror.Wrap(err, "services.storage.unexpected_error", "cannot encode scroll id")
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(e.sign(payload)), nil
}

func (e *Engine) sign(payload string) []byte {
	m := hmac.New(sha256.New, e.opts.ScrollKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// decodeScroll verifies and decodes a scroll id. Garbage, forged and expired
// ids all get services.storage.unknown_scroll_id, like an ES scroll id that
// no longer exists.
func (e *Engine) decodeScroll(id string) (*scrollState, error) {
	unknown := kerror.New("services.storage.unknown_scroll_id")
	if id == "" || len(id) > maxScrollIDLen {
		return nil, unknown
	}
	payload, sig, ok := strings.Cut(id, ".")
	if !ok {
		return nil, unknown
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, e.sign(payload)) {
		return nil, unknown
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, unknown
	}
	st := &scrollState{}
	if err := json.Unmarshal(b, st); err != nil || st.V != scrollVersion || st.Size <= 0 {
		return nil, unknown
	}
	if e.opts.Now().UnixMilli() > st.Expires {
		return nil, unknown
	}
	return st, nil
}

// ScrollTargets tells which indexes and collections a scroll id reads, so
// the API layer can check the caller's rights before serving a page.
func (e *Engine) ScrollTargets(ctx context.Context, scrollID string) ([]storage.Target, error) {
	st, err := e.decodeScroll(scrollID)
	if err != nil {
		return nil, err
	}
	return st.targets(), nil
}

// scrollTTL parses an ES/Kuzzle duration ("500ms", "30s", "1m", "2h", "1d",
// or a bare number of milliseconds) and enforces MaxScrollDuration.
func (e *Engine) scrollTTL(s string) (time.Duration, error) {
	d, ok := parseDuration(s)
	if !ok || d <= 0 {
		return 0, kerror.New("services.storage.invalid_argument", "scroll", `a duration such as "30s" or "1m"`)
	}
	if d > e.opts.MaxScrollDuration {
		return 0, kerror.New("services.storage.scroll_duration_too_great", s)
	}
	return d, nil
}

func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(strings.ToLower(s))
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || n > 1e12 {
		return 0, false
	}
	units := map[string]time.Duration{
		"": time.Millisecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute,
		"h": time.Hour, "d": 24 * time.Hour,
	}
	u, ok := units[strings.TrimSpace(s[i:])]
	if !ok {
		return 0, false
	}
	return time.Duration(n * float64(u)), true
}
