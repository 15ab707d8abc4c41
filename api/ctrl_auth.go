package api

import "context"

// authController serves the anonymous-user answers the SDKs ask for; users,
// profiles and tokens are not implemented yet. It needs nothing from the
// node.
type authController struct{}

func (authController) actions() map[string]Handler {
	return map[string]Handler{
		"checkToken": func(ctx context.Context, r *Request) (any, error) {
			return map[string]any{"valid": false, "state": "Korum does not issue authentication tokens yet", "expiresAt": nil}, nil
		},
		"getCurrentUser": func(ctx context.Context, r *Request) (any, error) {
			return map[string]any{"_id": "-1", "_source": map[string]any{"profileIds": []string{"anonymous"}}, "strategies": []string{}}, nil
		},
		"getMyRights": func(ctx context.Context, r *Request) (any, error) {
			return map[string]any{"hits": []any{map[string]any{"controller": "*", "action": "*", "index": "*", "collection": "*", "value": "allowed"}}}, nil
		},
		"logout": func(ctx context.Context, r *Request) (any, error) {
			return map[string]any{"acknowledged": true}, nil
		},
	}
}
