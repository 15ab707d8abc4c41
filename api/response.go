package api

import (
	"encoding/json"
	"errors"

	"github.com/korumdb/korum/kerror"
)

// Response is Kuzzle's response envelope. Index, collection and volatile
// are null when absent, as in Kuzzle.
type Response struct {
	RequestID  string         `json:"requestId"`
	Status     int            `json:"status"`
	Error      *kerror.Error  `json:"error"`
	Controller *string        `json:"controller"`
	Action     *string        `json:"action"`
	Index      *string        `json:"index"`
	Collection *string        `json:"collection"`
	Volatile   map[string]any `json:"volatile"`
	Result     any            `json:"result"`
	Node       string         `json:"node"`
	// Room is set over WebSocket: the SDKs route responses by it.
	Room string `json:"room,omitempty"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newResponse(r *Request, node string) *Response {
	resp := &Response{RequestID: r.RequestID, Status: 200, Controller: strPtr(r.Controller),
		Action: strPtr(r.Action), Volatile: r.Volatile, Node: node}
	if s, ok := r.Args["index"].(string); ok {
		resp.Index = strPtr(s)
	}
	if s, ok := r.Args["collection"].(string); ok {
		resp.Collection = strPtr(s)
	}
	return resp
}

func (resp *Response) setError(err error) {
	ke := kerror.From(err)
	resp.Error = ke
	resp.Status = ke.Status
	resp.Result = nil
}

// setOutcome puts a handler's answer in resp: its result, or its error
// (with the result a withResult error carries).
func (resp *Response) setOutcome(result any, err error) {
	if err == nil {
		resp.Result = result
		return
	}
	resp.setError(err)
	var wr *withResult
	if errors.As(err, &wr) {
		resp.Result = wr.result
	}
}

func errorResponse(requestID, node string, err error) *Response {
	resp := &Response{RequestID: requestID, Node: node}
	resp.setError(err)
	return resp
}

func (resp *Response) encode() []byte {
	b, err := json.Marshal(resp)
	if err != nil {
		resp.setError(err)
		b, _ = json.Marshal(resp)
	}
	return b
}
