package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// concrete fills a route's parameters with values no literal segment has.
func concrete(path string) (string, map[string]string) {
	args := map[string]string{}
	segs := splitPath(path)
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			v := "v" + strconv.Itoa(i)
			args[s[1:]] = v
			segs[i] = v
		}
	}
	return "/" + strings.Join(segs, "/"), args
}

// Every route of Kuzzle's table (and Korum's own) reaches its own action
// with its own arguments: no route shadows another.
func TestEveryRouteReachesItsAction(t *testing.T) {
	table := newRouteTable()
	for _, r := range httpRoutes {
		url, want := concrete(r.path)
		got, args := table.match(r.method, url)
		if got == nil {
			t.Errorf("%s %s: no route", r.method, url)
			continue
		}
		if got.controller != r.controller || got.action != r.action {
			t.Errorf("%s %s: %s:%s, want %s:%s", r.method, url, got.controller, got.action, r.controller, r.action)
		}
		if len(args) != len(want) {
			t.Errorf("%s %s: arguments %v, want %v", r.method, url, args, want)
		}
		for k, v := range want {
			if args[k] != v {
				t.Errorf("%s %s: argument %s=%q, want %q", r.method, url, k, args[k], v)
			}
		}
	}
}

// A literal segment wins over a parameter, segment by segment, as in
// Kuzzle's router; and like Kuzzle's, the walk does not come back: an
// index named like a Kuzzle path prefix cannot be addressed under it.
func TestStaticSegmentsWin(t *testing.T) {
	table := newRouteTable()
	for _, c := range []struct {
		method, url, want string
	}{
		{"POST", "/admin/_resetDatabase", "admin:resetDatabase"},
		{"POST", "/admin/_shutdown", "admin:shutdown"},
		{"POST", "/admin/_shutdown/", "admin:shutdown"},
		{"PUT", "/profiles/x", "security:createOrReplaceProfile"},
		{"PUT", "/roles/x", "security:createOrReplaceRole"},
		{"GET", "/users/_me", "auth:getCurrentUser"},
		{"GET", "/users/bob", "security:getUser"},
		{"GET", "/ms/key", "ms:get"},
		{"DELETE", "/ms", "ms:del"},
		{"DELETE", "/users/bob", "security:deleteUser"},
		{"POST", "/_bulk", ""}, // Kuzzle 2 has only /:index/:collection/_bulk
		{"POST", "/i/c/_bulk", "bulk:import"},
		{"GET", "/i/c/_mGet", "document:mGet"},
		{"GET", "/i/c/_mExists", "document:mExists"},
		{"GET", "/i/c/doc", "document:get"},
		{"GET", "/i/c/_search", "document:search"},
		{"GET", "/_list", "index:list"},
		{"GET", "/%5Flist", "index:list"}, // segments are compared unescaped
		{"GET", "/i/_list", "collection:list"},
		{"PUT", "/i/c", "collection:create"},
		{"POST", "/i/c", "collection:update"},
		{"DELETE", "/i", "index:delete"},
		{"DELETE", "/_mDelete", "index:mDelete"},
		{"GET", "/", "server:info"},
		{"GET", "//_now", "server:now"},
		{"POST", "/admin/c/_create", ""}, // "admin" is Kuzzle's: no index behind it
		{"GET", "/i/c/d/e/f", ""},
		{"TRACE", "/", ""},
	} {
		r, _ := table.match(c.method, c.url)
		got := ""
		if r != nil {
			got = r.controller + ":" + r.action
		}
		if got != c.want {
			t.Errorf("%s %s: %q, want %q", c.method, c.url, got, c.want)
		}
	}
}

// Routes of controllers and actions Korum does not serve yet answer as
// Kuzzle does for an unknown controller or action, through the whole HTTP
// path: they never reach the storage (the backend panics on any call but
// the node's name).
func TestUnservedRoutesAnswerNotFound(t *testing.T) {
	s, _ := newWSServer(t)
	for _, c := range []struct {
		method, url, id, controller string
	}{
		{"POST", "/ms/_bgsave", "api.process.action_not_found", "ms"},
		{"GET", "/_adminExists", "api.process.action_not_found", "server"},
		{"POST", "/admin/c/_create", "network.http.url_not_found", ""},
	} {
		req := httptest.NewRequest(c.method, c.url, strings.NewReader("{}"))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		body, _ := io.ReadAll(w.Result().Body)
		var env struct {
			Status     int     `json:"status"`
			Controller *string `json:"controller"`
			Error      *struct {
				ID string `json:"id"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s %s: %v: %s", c.method, c.url, err, body)
		}
		if w.Code != http.StatusNotFound || env.Error == nil || env.Error.ID != c.id {
			t.Errorf("%s %s: %d %s, want 404 %s", c.method, c.url, w.Code, body, c.id)
			continue
		}
		if c.controller != "" && (env.Controller == nil || *env.Controller != c.controller) {
			t.Errorf("%s %s: controller %v, want %s", c.method, c.url, env.Controller, c.controller)
		}
	}
}

// Any URL resolves to at most one route, with exactly that route's
// parameters, and a GET body built from any query string never panics.
func FuzzRouteMatch(f *testing.F) {
	f.Add("GET", "/i/c/_count", "query=%7B%7D")
	f.Add("POST", "/admin/_shutdown/", "")
	f.Add("GET", "//a%2F/%5F%5Fx//", "ids=a,,b&searchBody=null")
	f.Add("PUT", "/profiles/%zz", "sort=[")
	table := newRouteTable()
	f.Fuzz(func(t *testing.T, method, path, rawQuery string) {
		r, args := table.match(method, path)
		if r == nil {
			return
		}
		if len(args) != len(r.params) {
			t.Fatalf("%s %s: %d arguments for %v", method, path, len(args), r.params)
		}
		req := &Request{Args: map[string]any{}}
		if q, err := url.ParseQuery(rawQuery); err == nil {
			for k, vs := range q {
				req.Args[k] = vs[len(vs)-1]
			}
		}
		_ = bodyFromQuery(req, r)
	})
}

// server:publicApi lists an action's current routes before the ones Kuzzle
// deprecates, every one of them a route of the table.
func TestPublicAPIListsCurrentRoutesFirst(t *testing.T) {
	s, _ := newWSServer(t)
	api := s.Router().publicAPI()
	first := func(controller, action string) map[string]string {
		return api[controller][action]["http"].([]any)[0].(map[string]string)
	}
	if r := first("document", "update"); r["verb"] != "PATCH" {
		t.Errorf("document:update first route %v, want PATCH", r)
	}
	if r := first("document", "mUpdate"); r["verb"] != "PATCH" {
		t.Errorf("document:mUpdate first route %v, want PATCH", r)
	}
	if r := first("document", "upsert"); r["verb"] != "POST" {
		t.Errorf("document:upsert first route %v, want POST", r)
	}
	if r := first("index", "mDelete"); r["url"] != "/_mDelete" {
		t.Errorf("index:mDelete first route %v, want /_mDelete", r)
	}
	known := map[string]bool{}
	for _, r := range httpRoutes {
		known[r.method+" "+r.path] = true
	}
	for k := range deprecatedRoutes {
		if !known[k] {
			t.Errorf("deprecated route %s is not in the table", k)
		}
	}
	if _, ok := api["ms"]["bgsave"]; ok {
		t.Error("publicApi lists ms:bgsave, which Korum does not serve")
	}
}
