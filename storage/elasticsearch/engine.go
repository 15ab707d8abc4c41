package elasticsearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// Kuzzle 2's layout (lib/service/storage/elasticsearch.ts).
const (
	aliasPrefix      = "@"
	publicPrefix     = "&"
	hiddenCollection = "_kuzzle_keep"
	nameSeparator    = "."
	forbiddenChars   = "\\/*?\"<>| \t\r\n,+#:.&%"
)

// Options configures an Engine.
type Options struct {
	URLs     []string
	Username string
	Password string
	APIKey   string
	// CACertFile is a PEM file of the CAs that sign Elasticsearch's
	// certificate (default: the system pool).
	CACertFile string
	// InsecureSkipVerify turns TLS verification off (tests only).
	InsecureSkipVerify bool
	// RequestTimeout bounds each request to Elasticsearch. Default 30s.
	RequestTimeout time.Duration
	// MaxRetries is how many times a request is retried on a connection
	// error or a 502/503/504, across the URLs. Default (0) 3; negative:
	// never. Reads and idempotent requests are retried by the client;
	// document writes by the engine, which checks whether an attempt whose
	// answer was lost applied before it trusts a later attempt's refusal
	// (see DESIGN.md, "Lost answers").
	MaxRetries int
	// DocumentsFetchCount caps a search's from+size and a scroll page
	// (limits.documentsFetchCount). Default 10000.
	DocumentsFetchCount int
	// DefaultDynamic is the dynamic policy of collections created without
	// one. Default "true", like the embedded engine.
	DefaultDynamic string
	// MaxScrollDuration rejects longer scroll ttls. Default 1m, like Kuzzle.
	MaxScrollDuration time.Duration
	// DefaultScrollTTL is used when a scroll continues without a ttl.
	// Default 15s, like Kuzzle.
	DefaultScrollTTL time.Duration
	// ScrollKey authenticates the scroll ids the engine hands out, which
	// name the index and collection they read. Every node must share it.
	ScrollKey []byte
	// ConflictRetries bounds the read-modify-write retries of one document
	// on version conflicts. Default 10.
	ConflictRetries int
	// RefreshBeforeSearch refreshes a collection before each search, count
	// and by-query write, so that they see every write acknowledged before
	// them (Korum's linearizable reads). Off, they see what Elasticsearch
	// has refreshed (about a second old), as in Kuzzle.
	RefreshBeforeSearch bool
	// GetConcurrency is how many single-document reads go to
	// Elasticsearch at once before further reads are coalesced into _mget
	// requests. Default 2: with 64 clients on one Elasticsearch node, 1
	// and 2 gave 0.84 of a direct client's throughput, 4 gave 0.78, 8
	// 0.74, 16 0.67 (docs/benchmarks.md).
	GetConcurrency int
	Logger         *slog.Logger
}

// getBatchSize caps the ids of one coalesced _mget.
const getBatchSize = 256

func (o *Options) withDefaults() {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	if o.DocumentsFetchCount <= 0 {
		o.DocumentsFetchCount = 10000
	}
	if o.DefaultDynamic == "" {
		o.DefaultDynamic = "true"
	}
	if o.MaxScrollDuration <= 0 {
		o.MaxScrollDuration = time.Minute
	}
	if o.DefaultScrollTTL <= 0 {
		o.DefaultScrollTTL = 15 * time.Second
	}
	if len(o.ScrollKey) == 0 {
		o.ScrollKey = []byte("korum-elasticsearch-default-scroll-key")
	}
	if o.ConflictRetries <= 0 {
		o.ConflictRetries = 10
	}
	if o.GetConcurrency <= 0 {
		o.GetConcurrency = 2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Engine is the Elasticsearch storage engine. It is safe for concurrent use.
type Engine struct {
	opts Options
	es   *es.Client // retries on its own: reads and idempotent requests
	// wr never retries on its own: writes that a replay could apply twice
	// or refuse after they applied go through callWrite.
	wr  *es.Client
	log *slog.Logger
	// gets coalesces concurrent document reads into _mget requests.
	gets *getBatcher
	// window is the page size of the by-query writes' search_after loop:
	// Elasticsearch's default index.max_result_window (tests lower it).
	window int
}

var (
	_ storage.Reader          = (*Engine)(nil)
	_ storage.ScrollInspector = (*Engine)(nil)
)

// New builds an engine. It does not contact Elasticsearch: call Ping.
func New(opts Options) (*Engine, error) {
	opts.withDefaults()
	if len(opts.URLs) == 0 {
		return nil, errors.New("elasticsearch: no URL configured")
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // an explicit option
	if opts.CACertFile != "" {
		pem, err := os.ReadFile(opts.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: reading the CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("elasticsearch: no certificate found in %s", opts.CACertFile)
		}
		tlsCfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.ResponseHeaderTimeout = opts.RequestTimeout
	tr.MaxIdleConnsPerHost = 64
	// net/http asks for gzip by default and Elasticsearch honours it: both
	// sides then spend CPU (de)compressing small JSON answers, most of a
	// document:get's cost in the node. Elasticsearch sits on the local
	// network; bandwidth is not what a node runs short of.
	tr.DisableCompression = true
	cfg := es.Config{
		Addresses: opts.URLs, Username: opts.Username, Password: opts.Password, APIKey: opts.APIKey,
		Transport: tr, MaxRetries: max(opts.MaxRetries, 0), RetryOnStatus: []int{502, 503, 504},
		DisableRetry: opts.MaxRetries < 0,
	}
	client, err := es.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	cfg.DisableRetry = true
	writer, err := es.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	e := &Engine{opts: opts, es: client, wr: writer, log: opts.Logger.With("component", "storage.elasticsearch"),
		window: maxResultWindow}
	e.gets = newGetBatcher(e, opts.GetConcurrency, getBatchSize)
	return e, nil
}

// Ping checks that the server answers and is one Korum speaks to:
// Elasticsearch 7.x or later, or OpenSearch (1.x and 2.x keep
// Elasticsearch 7.10's REST API; 2.19 is tested, README "Storage engines").
func (e *Engine) Ping(ctx context.Context) error {
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := e.call(ctx, esapi.InfoRequest{}, &info); err != nil {
		return err
	}
	if !supportedServer(info.Version.Distribution, info.Version.Number) {
		name := "Elasticsearch"
		if info.Version.Distribution != "" {
			name = info.Version.Distribution
		}
		return kerror.New("services.storage.unexpected_error", "unsupported "+name+" version "+info.Version.Number)
	}
	return nil
}

// supportedServer tells whether a server's info (version.distribution,
// version.number) is Elasticsearch 7 or later or OpenSearch 1 or later.
// The major version is compared as a number: "10" is after "7".
func supportedServer(distribution, number string) bool {
	major, _, _ := strings.Cut(number, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return false
	}
	if distribution == "opensearch" {
		return n >= 1
	}
	return n >= 7
}

// Close releases idle connections.
func (e *Engine) Close() error { return nil }

// esError is an error answer of Elasticsearch.
type esError struct {
	Status int
	Type   string
	Reason string
	Root   string // root cause type
}

func (e *esError) Error() string {
	return fmt.Sprintf("elasticsearch %d %s: %s", e.Status, e.Type, e.Reason)
}

// call runs one request within the request timeout and decodes a
// successful answer into out (unless nil). A transport failure is
// services.storage.not_connected; an error answer is an *esError.
func (e *Engine) call(ctx context.Context, req esapi.Request, out any) error {
	return e.do(ctx, e.es, req, out)
}

func (e *Engine) do(ctx context.Context, client *es.Client, req esapi.Request, out any) error {
	ctx, cancel := context.WithTimeout(ctx, e.opts.RequestTimeout)
	defer cancel()
	res, err := req.Do(ctx, client)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		e.log.Warn("Elasticsearch request failed", "err", err)
		return kerror.Wrap(err, "services.storage.not_connected")
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<30))
	if err != nil {
		return kerror.Wrap(err, "services.storage.not_connected")
	}
	if res.StatusCode >= 400 {
		return parseError(res.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return kerror.Wrap(fmt.Errorf("decoding an Elasticsearch answer: %w", err), "services.storage.unexpected_error", "unreadable Elasticsearch answer")
	}
	return nil
}

// callWrite runs a write that a blind replay could apply twice, or refuse
// after it applied (a create's 409, a guarded write's version conflict).
// The client never retries it (e.wr); callWrite retries it here on a
// connection error or a 502/503/504, at most MaxRetries times, and says
// whether an attempt may have reached Elasticsearch without its answer
// coming back (lost). The caller then checks a later attempt's refusal
// against the stored document before trusting it. req builds a fresh
// request for each attempt (a body is read once).
func (e *Engine) callWrite(ctx context.Context, req func() (esapi.Request, error), out any) (lost bool, err error) {
	retries := max(e.opts.MaxRetries, 0)
	for attempt := 0; ; attempt++ {
		r, err := req()
		if err != nil {
			return lost, err
		}
		err = e.do(ctx, e.wr, r, out)
		if err == nil || ctx.Err() != nil {
			return lost || (err != nil && maybeSent(err)), err
		}
		retryable := false
		var ee *esError
		if errors.As(err, &ee) {
			retryable = ee.Status == 502 || ee.Status == 503 || ee.Status == 504
		} else {
			retryable = kerror.Is(err, "services.storage.not_connected")
		}
		if retryable && maybeSent(err) {
			lost = true
		}
		if !retryable || attempt >= retries {
			return lost, err
		}
		select {
		case <-ctx.Done():
			return lost, err
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
}

// maybeSent tells whether a failed request may have reached Elasticsearch:
// anything but a failure to connect, and every 5xx (a proxy's 502 or 504
// may come after Elasticsearch applied the write).
func maybeSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var ee *esError
	if errors.As(err, &ee) {
		return ee.Status >= 500
	}
	return !strings.Contains(err.Error(), "cannot get connection")
}

func parseError(status int, body []byte) *esError {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	out := &esError{Status: status}
	if json.Unmarshal(body, &r) != nil || len(r.Error) == 0 {
		out.Reason = strings.TrimSpace(string(body))
		return out
	}
	var d struct {
		Type      string `json:"type"`
		Reason    string `json:"reason"`
		RootCause []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"root_cause"`
		CausedBy *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"caused_by"`
	}
	if json.Unmarshal(r.Error, &d) != nil {
		out.Reason = string(r.Error) // a plain string error
		return out
	}
	out.Type, out.Reason = d.Type, d.Reason
	if len(d.RootCause) > 0 {
		out.Root = d.RootCause[0].Type
		if d.Type == "search_phase_execution_exception" && d.RootCause[0].Reason != "" {
			out.Reason = d.RootCause[0].Reason
		}
	}
	if d.CausedBy != nil && d.CausedBy.Reason != "" && out.Reason == "" {
		out.Reason = d.CausedBy.Reason
	}
	return out
}

// kuzzleError maps an Elasticsearch error to Kuzzle's (esWrapper): index
// and collection named for the not-found cases.
func kuzzleError(err error, index, collection, id string) error {
	var ee *esError
	if !errors.As(err, &ee) {
		return err
	}
	t := ee.Type
	if t == "search_phase_execution_exception" && ee.Root != "" {
		t = ee.Root
	}
	switch t {
	case "index_not_found_exception":
		return kerror.New("services.storage.unknown_collection", index, collection)
	case "document_missing_exception":
		return kerror.New("services.storage.not_found", id, index, collection)
	case "version_conflict_engine_exception":
		return kerror.New("services.storage.too_many_changes", id)
	case "strict_dynamic_mapping_exception":
		field := ee.Reason
		if i := strings.Index(field, "introduction of ["); i >= 0 {
			field = field[i+len("introduction of ["):]
			if j := strings.Index(field, "]"); j >= 0 {
				field = field[:j]
			}
		}
		return kerror.New("services.storage.strict_mapping_rejection", field, index, collection)
	case "parsing_exception":
		// esWrapper: "unknown query [nope]" names a keyword outside the DSL.
		if i := strings.Index(ee.Reason, "unknown query ["); i >= 0 {
			kw := ee.Reason[i+len("unknown query ["):]
			if j := strings.Index(kw, "]"); j >= 0 {
				return kerror.Wrap(ee, "services.storage.unknown_query_keyword", kw[:j])
			}
		}
		return kerror.Wrap(ee, "services.storage.unexpected_bad_request", ee.Reason)
	case "query_shard_exception", "x_content_parse_exception", "illegal_argument_exception",
		"mapper_parsing_exception", "number_format_exception", "search_parse_exception":
		return kerror.Wrap(ee, "services.storage.unexpected_bad_request", ee.Reason)
	case "cluster_block_exception":
		if blockedWrite(ee) {
			return kerror.Wrap(ee, "services.storage.write_blocked", index, collection)
		}
	case "es_rejected_execution_exception":
		return kerror.Wrap(ee, "services.storage.unexpected_error", "too many operations received at once")
	}
	switch {
	case ee.Status == 404:
		return kerror.Wrap(ee, "services.storage.unexpected_not_found", ee.Reason)
	case ee.Status >= 400 && ee.Status < 500:
		return kerror.Wrap(ee, "services.storage.unexpected_bad_request", ee.Reason)
	}
	return kerror.Wrap(ee, "services.storage.unexpected_error", ee.Reason)
}

func isType(err error, types ...string) bool {
	var ee *esError
	if !errors.As(err, &ee) {
		return false
	}
	for _, t := range types {
		if ee.Type == t {
			return true
		}
	}
	return false
}

func isStatus(err error, status int) bool {
	var ee *esError
	return errors.As(err, &ee) && ee.Status == status
}

func alias(index, collection string) string {
	return aliasPrefix + publicPrefix + index + nameSeparator + collection
}

// validName is Kuzzle's _isObjectNameValid.
func validName(name string) bool {
	return name != "" && len(name) <= 126 && strings.ToLower(name) == name &&
		!strings.ContainsAny(name, forbiddenChars) && name != "_all"
}

// schema reads the public indexes and their collections (hidden included)
// from the aliases, and the ES index behind each alias.
func (e *Engine) schema(ctx context.Context) (map[string]map[string]string, error) {
	var rows []struct {
		Alias string `json:"alias"`
		Index string `json:"index"`
	}
	if err := e.call(ctx, esapi.CatAliasesRequest{Format: "json"}, &rows); err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		if !strings.HasPrefix(r.Alias, aliasPrefix+publicPrefix) {
			continue
		}
		rest := r.Alias[len(aliasPrefix+publicPrefix):]
		i := strings.Index(rest, nameSeparator)
		if i <= 0 {
			continue
		}
		idx, coll := rest[:i], rest[i+1:]
		if out[idx] == nil {
			out[idx] = map[string]string{}
		}
		out[idx][coll] = r.Index
	}
	return out, nil
}

// ListIndexes lists the public indexes, sorted.
func (e *Engine) ListIndexes(ctx context.Context) ([]string, error) {
	s, err := e.schema(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(s))
	for i := range s {
		out = append(out, i)
	}
	sort.Strings(out)
	return out, nil
}

func (e *Engine) IndexExists(ctx context.Context, index string) (bool, error) {
	s, err := e.schema(ctx)
	if err != nil {
		return false, err
	}
	_, ok := s[index]
	return ok, nil
}

// ListCollections lists an index's collections (not the hidden one), sorted.
func (e *Engine) ListCollections(ctx context.Context, index string) ([]string, error) {
	s, err := e.schema(ctx)
	if err != nil {
		return nil, err
	}
	colls, ok := s[index]
	if !ok {
		return nil, kerror.New("services.storage.unknown_index", index)
	}
	out := []string{}
	for c := range colls {
		if c != hiddenCollection {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (e *Engine) CollectionExists(ctx context.Context, index, collection string) (bool, error) {
	if collection == hiddenCollection {
		return false, nil
	}
	s, err := e.schema(ctx)
	if err != nil {
		return false, err
	}
	_, ok := s[index][collection]
	return ok, nil
}

// requireCollection returns the ES index behind a collection, or Kuzzle's
// error saying which part is missing.
func (e *Engine) requireCollection(ctx context.Context, index, collection string) (string, error) {
	s, err := e.schema(ctx)
	if err != nil {
		return "", err
	}
	colls, ok := s[index]
	if !ok {
		return "", kerror.New("services.storage.unknown_index", index)
	}
	real, ok := colls[collection]
	if !ok || collection == hiddenCollection {
		return "", kerror.New("services.storage.unknown_collection", index, collection)
	}
	return real, nil
}

// whichMissing turns err, when it says the collection's alias is missing
// (services.storage.unknown_collection), into Kuzzle's error naming what is
// missing: the index or the collection. Reads and document writes go to the
// alias first and look at the schema only then, which saves them a request.
func (e *Engine) whichMissing(ctx context.Context, index, collection string, err error) error {
	if !kerror.Is(err, "services.storage.unknown_collection") {
		return err
	}
	if _, serr := e.requireCollection(ctx, index, collection); serr != nil {
		return serr
	}
	return err
}

// GetMapping returns {dynamic, _meta, properties}, without _kuzzle_info.
func (e *Engine) GetMapping(ctx context.Context, index, collection string) (map[string]any, error) {
	real, err := e.requireCollection(ctx, index, collection)
	if err != nil {
		return nil, err
	}
	var r map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	if err := e.call(ctx, esapi.IndicesGetMappingRequest{Index: []string{real}}, &r); err != nil {
		return nil, kuzzleError(err, index, collection, "")
	}
	m := r[real].Mappings
	props, _ := m["properties"].(map[string]any)
	clean := map[string]any{}
	for k, v := range props {
		if k != "_kuzzle_info" {
			clean[k] = v
		}
	}
	out := map[string]any{"properties": clean}
	if d, ok := m["dynamic"]; ok {
		out["dynamic"] = fmt.Sprint(d)
	} else {
		out["dynamic"] = "true"
	}
	if meta, ok := m["_meta"]; ok {
		out["_meta"] = meta
	} else {
		out["_meta"] = map[string]any{}
	}
	return out, nil
}

// refreshFor makes the collection's acknowledged writes searchable, when
// the engine is configured to (RefreshBeforeSearch). Elasticsearch makes a
// refresh with nothing new to expose cheap.
func (e *Engine) refreshFor(ctx context.Context, index, collection string) error {
	if !e.opts.RefreshBeforeSearch {
		return nil
	}
	err := e.call(ctx, esapi.IndicesRefreshRequest{Index: []string{alias(index, collection)}}, nil)
	return kuzzleError(err, index, collection, "")
}

// jsonBody encodes v for a request body.
func jsonBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, kerror.Wrap(err, "services.storage.invalid_argument", "body", "a JSON-serialisable object")
	}
	return bytes.NewReader(b), nil
}
