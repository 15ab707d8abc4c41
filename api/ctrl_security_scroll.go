package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"sort"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/security"
)

// maxSecurityScroll bounds the life of a users or profiles scroll, as
// Kuzzle's services.storage.maxScrollDuration (1m) bounds document scrolls.
const maxSecurityScroll = 60_000 // milliseconds

// secScroll is the state of a searchUsers/searchProfiles scroll, carried
// in the scroll id itself: the security state is in memory on every node,
// so any node can continue a scroll by re-running the search past the
// last id returned. It is not signed: it holds only the caller's own
// search, so a forged one reads nothing the action does not already allow.
type secScroll struct {
	Kind    string         `json:"k"`
	Body    map[string]any `json:"b,omitempty"`
	Size    int            `json:"n"`
	After   string         `json:"a"`
	TTL     int64          `json:"t"` // milliseconds
	Expires int64          `json:"e"` // epoch milliseconds
}

// collector lists the objects of one kind that a search body selects,
// before its query, sorting and paging.
type collector func(body map[string]any) ([]map[string]any, error)

// securitySearch serves searchUsers and searchProfiles: from/size paging,
// or a scroll when the scroll argument is set.
func (c *securityController) securitySearch(kind string, collect collector) Handler {
	return func(_ context.Context, r *Request) (any, error) {
		body, err := r.OptBody()
		if err != nil {
			return nil, err
		}
		hits, err := collect(body)
		if err != nil {
			return nil, err
		}
		ttlArg, hasScroll := r.Args["scroll"]
		if !hasScroll || ttlArg == nil || ttlArg == "" {
			return searchHits(r, body, hits, c.searchTypes(kind))
		}
		ttl, err := securityScrollTTL(ttlArg)
		if err != nil {
			return nil, err
		}
		size, err := r.Int("size", 10)
		if err != nil {
			return nil, err
		}
		if size <= 0 {
			return nil, kerror.New("api.assert.invalid_argument", "size", "a strictly positive integer when scrolling")
		}
		st := &secScroll{Kind: kind, Body: body, Size: size, TTL: ttl}
		return c.scrollPage(st, hits)
	}
}

// securityScroll serves scrollUsers and scrollProfiles.
func (c *securityController) securityScroll(kind string, collect collector) Handler {
	return func(_ context.Context, r *Request) (any, error) {
		id, err := r.String("scrollId")
		if err != nil {
			return nil, err
		}
		st, err := decodeSecScroll(id)
		if err != nil || st.Kind != kind || st.Expires < c.clock.Now().UnixMilli() {
			return nil, kerror.New("services.storage.unknown_scroll_id")
		}
		if v, ok := r.Args["scroll"]; ok && v != nil && v != "" {
			ttl, err := securityScrollTTL(v)
			if err != nil {
				return nil, err
			}
			st.TTL = ttl
		}
		hits, err := collect(st.Body)
		if err != nil {
			return nil, err
		}
		return c.scrollPage(st, hits)
	}
}

// scrollPage returns the page of hits after st.After and the scroll id
// of the next one.
func (c *securityController) scrollPage(st *secScroll, hits []map[string]any) (any, error) {
	matched, err := matchHits(st.Body, hits, c.searchTypes(st.Kind))
	if err != nil {
		return nil, err
	}
	total := len(matched)
	start := sort.Search(len(matched), func(i int) bool { return matched[i]["_id"].(string) > st.After })
	if st.After == "" {
		start = 0
	}
	page := matched[start:min(start+st.Size, len(matched))]
	if len(page) > 0 {
		st.After = page[len(page)-1]["_id"].(string)
	}
	st.Expires = c.clock.Now().UnixMilli() + st.TTL
	b, err := json.Marshal(st)
	if err != nil {
		return nil, kerror.Wrap(err, "core.fatal.unexpected_error", "encoding a scroll id")
	}
	if page == nil {
		page = []map[string]any{}
	}
	return map[string]any{"hits": page, "total": total, "scrollId": base64.RawURLEncoding.EncodeToString(b)}, nil
}

func decodeSecScroll(id string) (*secScroll, error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil, err
	}
	var st secScroll
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.Size <= 0 {
		return nil, kerror.New("services.storage.unknown_scroll_id")
	}
	return &st, nil
}

// securityScrollTTL reads a scroll argument: a duration, at most
// maxSecurityScroll, in milliseconds.
func securityScrollTTL(v any) (int64, error) {
	ttl, ok := security.ParseDuration(v)
	if !ok || ttl <= 0 {
		return 0, kerror.New("api.assert.invalid_argument", "scroll", `a duration such as "30s" or "1m"`)
	}
	if ttl > maxSecurityScroll {
		return 0, kerror.New("services.storage.scroll_duration_too_great", ttlString(v))
	}
	return ttl, nil
}

func ttlString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
