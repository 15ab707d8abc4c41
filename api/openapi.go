package api

import (
	"sort"
	"strconv"
	"strings"
)

// openAPI builds server:openapi's document, an OpenAPI 3.0 description of
// every HTTP route of every action the router serves, from the same table
// the HTTP layer routes with (routes.go): it cannot drift from what is
// served. Bodies and results are described by Kuzzle's envelope only;
// each action's own arguments live in Kuzzle's API reference.
func (rt *Router) openAPI(version string) map[string]any {
	paths := map[string]map[string]any{}
	opIDs := map[string]int{}
	for _, r := range httpRoutes {
		if _, ok := rt.handlers[r.controller][r.action]; !ok {
			continue
		}
		tmpl, params := openAPIPath(r.path)
		item := paths[tmpl]
		if item == nil {
			item = map[string]any{}
			paths[tmpl] = item
		}
		verb := strings.ToLower(r.method)
		if _, dup := item[verb]; dup {
			continue // an earlier route of the same method and template wins, as in routing
		}
		id := r.controller + "_" + r.action
		if n := opIDs[id]; n > 0 {
			opIDs[id] = n + 1
			id += "_" + strconv.Itoa(n+1)
		} else {
			opIDs[id] = 1
		}
		op := map[string]any{
			"operationId": id,
			"summary":     r.controller + ":" + r.action,
			"tags":        []string{r.controller},
			"responses": map[string]any{
				"200":     map[string]any{"description": "Kuzzle response", "content": jsonContent(map[string]any{"$ref": "#/components/schemas/Response"})},
				"default": map[string]any{"description": "Kuzzle error response", "content": jsonContent(map[string]any{"$ref": "#/components/schemas/Response"})},
			},
		}
		if deprecatedRoutes[r.method+" "+r.path] {
			op["deprecated"] = true
		}
		if len(params) > 0 {
			ps := make([]any, len(params))
			for i, p := range params {
				ps[i] = map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
			}
			op["parameters"] = ps
		}
		switch r.method {
		case "POST", "PUT", "PATCH":
			op["requestBody"] = map[string]any{"required": false, "content": jsonContent(map[string]any{"type": "object"})}
		}
		item[verb] = op
	}
	var tags []any
	names := make([]string, 0, len(rt.handlers))
	for c := range rt.handlers {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		tags = append(tags, map[string]any{"name": c})
	}
	return map[string]any{
		"openapi": "3.0.1",
		"info": map[string]any{
			"title":       "Korum API",
			"description": "Kuzzle 2's HTTP API, as served by Korum",
			"license":     map[string]any{"name": "Apache 2", "url": "http://opensource.org/licenses/apache2.0"},
			"version":     version,
		},
		"tags":  tags,
		"paths": paths,
		"components": map[string]any{"schemas": map[string]any{
			"Response": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"status":     map[string]any{"type": "integer"},
					"error":      map[string]any{"$ref": "#/components/schemas/Error"},
					"result":     map[string]any{},
					"controller": map[string]any{"type": "string"},
					"action":     map[string]any{"type": "string"},
					"requestId":  map[string]any{"type": "string"},
					"node":       map[string]any{"type": "string"},
					"index":      map[string]any{"type": "string", "nullable": true},
					"collection": map[string]any{"type": "string", "nullable": true},
					"volatile":   map[string]any{"type": "object", "nullable": true},
				},
			},
			"Error": map[string]any{
				"type":     "object",
				"nullable": true,
				"properties": map[string]any{
					"id":      map[string]any{"type": "string"},
					"code":    map[string]any{"type": "integer"},
					"status":  map[string]any{"type": "integer"},
					"message": map[string]any{"type": "string"},
				},
			},
		}},
	}
}

// openAPIPath turns a Kuzzle route ("/:index/:collection/_search") into
// an OpenAPI path template and its parameter names.
func openAPIPath(path string) (string, []string) {
	segs := strings.Split(path, "/")
	var params []string
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			params = append(params, s[1:])
			segs[i] = "{" + s[1:] + "}"
		}
	}
	t := strings.Join(segs, "/")
	if len(t) > 1 {
		t = strings.TrimSuffix(t, "/")
	}
	return t, params
}

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}
