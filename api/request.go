package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/korumdb/korum/internal/jsonx"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/security"
)

// Request is a decoded Kuzzle request. Every envelope key other than the
// special ones lands in Args, as Kuzzle does.
type Request struct {
	RequestID  string
	Controller string
	Action     string
	JWT        string
	Volatile   map[string]any
	// Body is the decoded body; nil when absent.
	Body map[string]any
	// bodyPresent distinguishes a missing body from a non-object one.
	bodyInvalid bool
	Args        map[string]any
	Protocol    string // "websocket" or "http"
	// Conn is the client connection for realtime actions; nil over HTTP.
	Conn realtime.Connection
	// User is who sent the request, set by the router before the handler
	// runs (the anonymous user without a token).
	User *security.Identity
	// RawBody is the body's JSON as the client sent it, kept only for the
	// actions in keepRawBody (copied: the message buffer is reused).
	RawBody json.RawMessage
	// rights checks User's rights on another target than the request's
	// (actions acting on several indexes or on a room); set by the router.
	rights func(controller, action, index, collection string) bool
}

// Can reports whether the request's user may run controller:action on
// index and collection: what actions acting on several targets, or on
// targets their arguments do not name, check for each one.
func (r *Request) Can(controller, action, index, collection string) bool {
	if r.rights == nil {
		return true // not routed: a test calling a handler directly
	}
	return r.rights(controller, action, index, collection)
}

// UserID is the kuid of the request's sender ("-1": anonymous).
func (r *Request) UserID() string {
	if r.User == nil {
		return security.AnonymousID
	}
	return r.User.UserID
}

// DecodeRequest parses a JSON envelope (WebSocket message or POST /_query).
func DecodeRequest(data []byte) (*Request, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, kerror.New("network.http.body_parse_failed", "the request must be a JSON object")
	}
	// Not a Decoder: Unmarshal refuses data after the object just the
	// same, without a Decoder's buffer copy (a request's decoding is a
	// sixth of a node's CPU under document:get load).
	var raw map[string]any
	if err := jsonx.Unmarshal(data, &raw); err != nil {
		return nil, kerror.New("network.http.body_parse_failed", err.Error())
	}
	r := requestFromMap(raw)
	if keepRawBody[r.Controller+":"+r.Action] {
		var env struct {
			Body json.RawMessage `json:"body"`
		}
		if json.Unmarshal(data, &env) == nil && len(env.Body) > 0 {
			r.RawBody = env.Body // a copy of data's bytes
		}
	}
	return r, nil
}

// keepRawBody are the actions whose body's key order matters, which a
// decoded map loses: a validation specification's fields are checked in
// the order the client wrote them, as Kuzzle does.
var keepRawBody = map[string]bool{"collection:updateSpecifications": true}

func requestFromMap(raw map[string]any) *Request {
	r := &Request{Args: make(map[string]any, len(raw))}
	for k, v := range raw {
		switch k {
		case "controller":
			r.Controller, _ = v.(string)
		case "action":
			r.Action, _ = v.(string)
		case "jwt":
			r.JWT, _ = v.(string)
		case "volatile":
			r.Volatile, _ = v.(map[string]any)
		case "body":
			r.setBody(v)
		default:
			r.Args[k] = v
		}
	}
	if id, ok := r.Args["requestId"]; ok {
		r.RequestID = scalarString(id)
	}
	return r
}

func (r *Request) setBody(v any) {
	switch b := v.(type) {
	case nil:
	case map[string]any:
		r.Body = b
	default:
		r.bodyInvalid = true
	}
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// String returns a required non-empty string argument.
func (r *Request) String(name string) (string, error) {
	v, ok := r.Args[name]
	if !ok || v == nil {
		return "", kerror.New("api.assert.missing_argument", name)
	}
	s, ok := v.(string)
	if !ok {
		return "", kerror.New("api.assert.invalid_type", name, "string")
	}
	if s == "" {
		return "", kerror.New("api.assert.empty_argument", name)
	}
	return s, nil
}

// resource returns the index, collection or _id argument as Kuzzle's
// getIndex, getCollection and getId read them: any falsy value (absent,
// null, "", 0, false) is missing_argument, not empty_argument.
func (r *Request) resource(name string) (string, error) {
	switch x := r.Args[name].(type) {
	case nil:
	case string:
		if x != "" {
			return x, nil
		}
	case bool:
		if x {
			return "", kerror.New("api.assert.invalid_type", name, "string")
		}
	case float64:
		if x != 0 {
			return "", kerror.New("api.assert.invalid_type", name, "string")
		}
	default:
		return "", kerror.New("api.assert.invalid_type", name, "string")
	}
	return "", kerror.New("api.assert.missing_argument", name)
}

// optID is getId({ifMissing: "ignore"}): "" when falsy, invalid_type when
// set to anything else than a string.
func (r *Request) optID() (string, error) {
	id, err := r.resource("_id")
	if kerror.Is(err, "api.assert.missing_argument") {
		return "", nil
	}
	return id, err
}

// OptString returns an optional string argument ("" when absent).
func (r *Request) OptString(name string) (string, error) {
	v, ok := r.Args[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", kerror.New("api.assert.invalid_type", name, "string")
	}
	return s, nil
}

// Int returns an optional integer argument; HTTP query strings give strings.
func (r *Request) Int(name string, def int) (int, error) {
	v, ok := r.Args[name]
	if !ok || v == nil {
		return def, nil
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		p, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, kerror.New("api.assert.invalid_type", name, "integer")
		}
		f = p
	default:
		return 0, kerror.New("api.assert.invalid_type", name, "integer")
	}
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0, kerror.New("api.assert.invalid_type", name, "integer")
	}
	return int(f), nil
}

// Bool returns an optional boolean; Kuzzle accepts a bare query-string flag.
func (r *Request) Bool(name string) (bool, error) {
	v, ok := r.Args[name]
	if !ok || v == nil {
		return false, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "", "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
	case float64:
		return x != 0, nil
	}
	return false, kerror.New("api.assert.invalid_type", name, "boolean")
}

// RequireBody returns the body, which must be a JSON object.
func (r *Request) RequireBody() (map[string]any, error) {
	if r.bodyInvalid {
		return nil, kerror.New("api.assert.invalid_type", "body", "object")
	}
	if r.Body == nil {
		return nil, kerror.New("api.assert.body_required")
	}
	return r.Body, nil
}

// OptBody returns the body or an empty object.
func (r *Request) OptBody() (map[string]any, error) {
	if r.bodyInvalid {
		return nil, kerror.New("api.assert.invalid_type", "body", "object")
	}
	if r.Body == nil {
		return map[string]any{}, nil
	}
	return r.Body, nil
}

// BodyObject returns a required object field of the body.
func BodyObject(body map[string]any, name string) (map[string]any, error) {
	v, ok := body[name]
	if !ok || v == nil {
		return nil, kerror.New("api.assert.missing_argument", "body."+name)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", "body."+name, "object")
	}
	return m, nil
}

// BodyArray returns a required array field of the body.
func BodyArray(body map[string]any, name string) ([]any, error) {
	return arrayField(body, name, "body."+name)
}

// arrayField is a required array field of m, errName naming it in errors.
func arrayField(m map[string]any, name, errName string) ([]any, error) {
	v, ok := m[name]
	if !ok || v == nil {
		return nil, kerror.New("api.assert.missing_argument", errName)
	}
	a, ok := v.([]any)
	if !ok {
		return nil, kerror.New("api.assert.invalid_type", errName, "array")
	}
	return a, nil
}

// BodyStrings returns a required array of strings of the body.
func BodyStrings(body map[string]any, name string) ([]string, error) {
	return stringsField(body, name, "body."+name)
}

// stringsField is a required array of strings of m, errName naming it in
// errors.
func stringsField(m map[string]any, name, errName string) ([]string, error) {
	a, err := arrayField(m, name, errName)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			return nil, kerror.New("api.assert.invalid_type", fmt.Sprintf("%s[%d]", errName, i), "string")
		}
		out[i] = s
	}
	return out, nil
}
