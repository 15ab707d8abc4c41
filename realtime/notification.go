package realtime

import (
	"encoding/json"
	"strings"
)

// Meta is the request context a notification carries. It travels in the
// replicated log entry, so every node builds the same notification.
type Meta struct {
	RequestID  string         `json:"requestId,omitempty"`
	Volatile   map[string]any `json:"volatile,omitempty"`
	Timestamp  int64          `json:"timestamp"`
	Controller string         `json:"controller,omitempty"`
	Action     string         `json:"action,omitempty"` // the API action, e.g. "mCreate"
	Protocol   string         `json:"protocol,omitempty"`
	Node       string         `json:"node,omitempty"` // node that handled the request
}

// Change is one document affected by an applied write. Before/After are the
// document sources (with _kuzzle_info) around the write; nil means absent.
type Change struct {
	ID            string
	Before, After map[string]any
	Version       int64
	// Action is the notification action: create, replace, update, delete or
	// publish (Kuzzle's "notify action", not always the API action).
	Action        string
	UpdatedFields []string
}

// DocumentEvent is an applied write (or a publish) on one collection.
type DocumentEvent struct {
	Index, Collection string
	Meta              Meta
	Changes           []Change
}

type docResult struct {
	ID            string         `json:"_id"`
	Source        map[string]any `json:"_source"`
	Version       int64          `json:"_version,omitempty"`
	UpdatedFields []string       `json:"_updatedFields,omitempty"`
}

// docNotification is Kuzzle's document notification; "room" (the channel)
// is appended per channel by appendRoom so the body is encoded once.
type docNotification struct {
	Status     int            `json:"status"`
	RequestID  string         `json:"requestId"`
	Timestamp  int64          `json:"timestamp"`
	Volatile   map[string]any `json:"volatile"`
	Index      string         `json:"index"`
	Collection string         `json:"collection"`
	Controller string         `json:"controller"`
	Action     string         `json:"action"`
	Protocol   string         `json:"protocol"`
	Scope      string         `json:"scope"`
	Result     docResult      `json:"result"`
	Type       string         `json:"type"`
	Event      string         `json:"event"`
	Node       string         `json:"node"`
}

type userNotification struct {
	Status     int            `json:"status"`
	Timestamp  int64          `json:"timestamp"`
	Volatile   map[string]any `json:"volatile"`
	Index      string         `json:"index"`
	Collection string         `json:"collection"`
	Controller string         `json:"controller"`
	Action     string         `json:"action"`
	Protocol   string         `json:"protocol"`
	Type       string         `json:"type"`
	User       string         `json:"user"`
	Result     struct {
		Count int `json:"count"`
	} `json:"result"`
	Node string `json:"node"`
}

func eventOf(action string) string {
	switch action {
	case "delete":
		return "delete"
	case "publish":
		return "publish"
	}
	return "write"
}

// encodeBody returns the notification JSON without its closing brace, ready
// for appendRoom.
func encodeBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Sources come from JSON, so they always re-encode; keep a valid
		// message anyway rather than dropping the notification silently.
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b[:len(b)-1]
}

// appendRoom completes an encoded body with Kuzzle's "room" field, which the
// SDKs use to route a notification to its subscription.
func appendRoom(body []byte, channel string) []byte {
	out := make([]byte, 0, len(body)+len(channel)+12)
	out = append(out, body...)
	out = append(out, `,"room":"`...)
	out = append(out, channel...)
	return append(out, `"}`...)
}

func protocolOr(p string) string {
	if p == "" {
		return "websocket"
	}
	return strings.ToLower(p)
}
