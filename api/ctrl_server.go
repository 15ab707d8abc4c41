package api

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
)

// ServerInfo is what the server controller needs from the node.
type ServerInfo interface {
	Now() time.Time
	Version() string
	StartedAt() time.Time
	// Ready is nil when the node can serve requests that need the cluster.
	Ready() error
	// Config is the node's configuration as clients may see it: sections
	// of the config file's keys, secrets redacted.
	Config() map[string]any
}

// serverController is Kuzzle's server controller.
type serverController struct {
	node ServerInfo
	// publicAPI describes the actions the router serves.
	publicAPI func() map[string]map[string]map[string]any
	// openAPI describes their HTTP routes in OpenAPI 3.
	openAPI func(version string) map[string]any
	// metrics is server:metrics (metrics.go): its figures are the router's
	// and the transports'.
	metrics Handler
	// Kuzzle's statistics frames (stats.go), the router's too.
	getStats, getLastStats, getAllStats Handler
}

func (c *serverController) actions() map[string]Handler {
	return map[string]Handler{
		"now":          c.now,
		"info":         c.info,
		"publicApi":    func(context.Context, *Request) (any, error) { return c.publicAPI(), nil },
		"healthCheck":  c.healthCheck,
		"getConfig":    c.getConfig,
		"capabilities": c.capabilities,
		"openapi":      c.openapi,
		"metrics":      c.metrics,
		"getStats":     c.getStats,
		"getLastStats": c.getLastStats,
		"getAllStats":  c.getAllStats,
	}
}

// openapi is Kuzzle's server:openapi. format=yaml answers the document as
// text: its JSON form, which is valid YAML (YAML 1.2 includes JSON).
func (c *serverController) openapi(ctx context.Context, r *Request) (any, error) {
	format, err := r.OptString("format")
	if err != nil {
		return nil, err
	}
	doc := c.openAPI(c.node.Version())
	switch format {
	case "", "json":
		return doc, nil
	case "yaml":
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, kerror.Wrap(err, "core.fatal.unexpected_error", "encoding the OpenAPI document")
		}
		return string(b), nil
	}
	return nil, kerror.New("api.assert.invalid_argument", "format", `"json" or "yaml"`)
}

func (c *serverController) now(ctx context.Context, r *Request) (any, error) {
	return map[string]any{"now": c.node.Now().UnixMilli()}, nil
}

func (c *serverController) info(ctx context.Context, r *Request) (any, error) {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return map[string]any{"serverInfo": map[string]any{
		"kuzzle": map[string]any{
			"version":     c.node.Version(),
			"api":         map[string]any{"routes": c.publicAPI()},
			"nodeVersion": runtime.Version(),
			"memoryUsed":  mem.Sys,
			"uptime":      time.Since(c.node.StartedAt()).String(),
			"plugins":     map[string]any{},
			"system":      map[string]any{"cpus": runtime.NumCPU()},
			"product":     "korum",
		},
		"services": map[string]any{"storageEngine": map[string]any{"type": "embedded"}},
	}}, nil
}

// StorageHealth is implemented by a node whose storage engine is a
// service of its own (Elasticsearch): nil while it answers.
type StorageHealth interface {
	StorageHealth(ctx context.Context) error
}

// healthCheckTimeout bounds a health check's look at an external service.
const healthCheckTimeout = 2 * time.Second

// healthCheck is Kuzzle's server:healthCheck, Kuzzle's services mapped to
// Korum's: internalCache (tokens, rights, rooms) and memoryStorage (the
// ms keys) live in the replicated state, green while the node can serve
// it (it knows a leader and has caught up with the log); storageEngine is
// the document store, the same replicated state in embedded mode, and
// Elasticsearch answering in elasticsearch mode. `services` ("a,b")
// limits the check to some. A red service makes the answer Kuzzle's:
// core.fatal.service_unavailable (500) with the statuses still in result.
func (c *serverController) healthCheck(ctx context.Context, r *Request) (any, error) {
	var only map[string]bool
	if list, ok := r.Args["services"].(string); ok {
		only = map[string]bool{}
		for _, s := range strings.Split(list, ",") {
			only[strings.TrimSpace(s)] = true
		}
	}
	services := map[string]any{}
	status := "green"
	var firstErr error
	check := func(name string, probe func() error) {
		if only != nil && !only[name] {
			return
		}
		if err := probe(); err != nil {
			services[name], status = "red", "red"
			if firstErr == nil {
				firstErr = kerror.Wrap(err, "core.fatal.service_unavailable", name+": "+kerror.From(err).Message)
			}
			return
		}
		services[name] = "green"
	}
	check("internalCache", c.node.Ready)
	check("memoryStorage", c.node.Ready)
	check("storageEngine", func() error {
		if err := c.node.Ready(); err != nil {
			return err
		}
		if sh, ok := c.node.(StorageHealth); ok {
			ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			defer cancel()
			return sh.StorageHealth(ctx)
		}
		return nil
	})
	result := map[string]any{"status": status, "services": services}
	if firstErr != nil {
		return nil, &withResult{err: firstErr, result: result}
	}
	return result, nil
}

// withResult is an error whose response still carries a result, as a
// Kuzzle request whose error was set after its result.
type withResult struct {
	err    error
	result any
}

func (w *withResult) Error() string { return w.err.Error() }
func (w *withResult) Unwrap() error { return w.err }

// publicAPI describes every action and its HTTP routes, the shape the
// SDKs' HTTP protocol builds its URLs from (server:publicApi).
func (rt *Router) publicAPI() map[string]map[string]map[string]any {
	out := map[string]map[string]map[string]any{}
	for c, actions := range rt.handlers {
		out[c] = map[string]map[string]any{}
		for a := range actions {
			out[c][a] = map[string]any{"controller": c, "action": a, "http": []any{}}
		}
	}
	for _, deprecated := range []bool{false, true} {
		for _, r := range httpRoutes {
			if deprecatedRoutes[r.method+" "+r.path] != deprecated {
				continue
			}
			if def, ok := out[r.controller][r.action]; ok {
				def["http"] = append(def["http"].([]any), map[string]string{"verb": r.method, "url": r.path})
			}
		}
	}
	return out
}

// getConfig is the node's configuration (secrets redacted) and version.
func (c *serverController) getConfig(ctx context.Context, r *Request) (any, error) {
	cfg := c.node.Config()
	cfg["version"] = c.node.Version()
	return cfg, nil
}

// capabilities tells clients what limits to expect: the limits section of
// the configuration, the largest request, and the version.
func (c *serverController) capabilities(ctx context.Context, r *Request) (any, error) {
	cfg := c.node.Config()
	out := map[string]any{"limits": cfg["limits"], "plugins": map[string]any{}, "version": c.node.Version()}
	if srv, ok := cfg["server"].(map[string]any); ok {
		out["server"] = map[string]any{"maxRequestSize": srv["maxRequestSize"],
			"protocols": map[string]any{"http": map[string]any{"enabled": true}, "websocket": map[string]any{"enabled": true}}}
	}
	return out, nil
}
