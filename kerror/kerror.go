package kerror

import (
	"errors"
	"fmt"
)

// Error is a client-visible error, serialised exactly as Kuzzle does:
// {"message","status","id","code"}.
type Error struct {
	ID      string `json:"id"`
	Code    int    `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
	// Props holds the template arguments, which Kuzzle also exposes.
	Props []string `json:"props,omitempty"`
	// Errors and Count are the per-item failures of Kuzzle's
	// MultipleErrorsError and PartialError (m* actions in strict mode).
	Errors []any `json:"errors,omitempty"`
	Count  int   `json:"count,omitempty"`
	// cause is kept for logs and errors.Is/As; it never reaches a client.
	cause error
}

func (e *Error) Error() string { return e.ID + ": " + e.Message }

// Unwrap exposes the internal cause to errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

type def struct {
	code    int
	status  int
	message string
}

// Statuses of Kuzzle's error classes.
const (
	partial            = 206 // Kuzzle's PartialError
	badRequest         = 400
	unauthorized       = 401
	forbidden          = 403
	notFound           = 404
	precondition       = 412
	sizeLimit          = 413
	tooManyRequests    = 429
	internal           = 500
	serviceUnavailable = 503
	gatewayTimeout     = 504
)

// catalogue lists the ids Korum raises, with Kuzzle's codes (domain<<24 |
// subdomain<<16 | error) so SDKs that switch on codes keep working.
var catalogue = map[string]def{
	"core.fatal.unexpected_error":  {1, internal, "Caught an unexpected error: %s."},
	"core.fatal.assertion_failed":  {5, internal, "Runtime assertion failed: %s"},
	"core.realtime.room_not_found": {65537, notFound, `The room "%s" doesn't exist`},
	"core.realtime.invalid_scope":  {65540, badRequest, `Invalid value for the "scope" parameter (allowed: "all", "in", "out", "none").`},
	"core.realtime.invalid_users":  {65541, badRequest, `Invalid value for the "users" parameter (allowed: "all", "in", "out", "none").`},
	"core.realtime.too_many_rooms": {65543, sizeLimit, "Unable to subscribe: maximum number of unique rooms reached."},
	"core.realtime.not_subscribed": {65544, precondition, `User "%s" has not subscribed to "%s".`},
	// Korum-specific: Kuzzle has no per-connection subscription limit.
	"core.realtime.too_many_subscriptions": {65545, sizeLimit, "Unable to subscribe: this connection holds the maximum number of subscriptions (%s)."},

	// Kuzzle's validation domain (5): collection specifications.
	"validation.assert.missing_nested_spec":    {83951617, precondition, "All levels of an object have to be defined in the specification."},
	"validation.assert.unexpected_children":    {83951618, precondition, `The field type "%s" is not allowed to have children fields.`},
	"validation.assert.missing_parent":         {83951619, precondition, `The parent field of the field "%s" is not defined.`},
	"validation.assert.unexpected_properties":  {83951620, precondition, `The object "%s" contains unexpected properties (allowed: %s).`},
	"validation.assert.missing_type":           {83951621, precondition, `Missing property "type" in field "%s".`},
	"validation.assert.unknown_type":           {83951622, precondition, `In "%s": unknown type "%s".`},
	"validation.assert.missing_value":          {83951623, precondition, `Missing property "value" in field "%s".`},
	"validation.assert.invalid_type":           {83951624, precondition, `Wrong type for parameter "%s" (expected: %s).`},
	"validation.assert.not_multivalued":        {83951625, precondition, `Field "%s": cannot set a property "%s" if the field is not multivalued.`},
	"validation.assert.invalid_range":          {83951626, precondition, `Property "%s": invalid range (%s > %s).`},
	"validation.assert.invalid_specifications": {83951627, badRequest, "Errors occured with the provided specifications:\n%s"},
	"validation.assert.not_found":              {83951628, notFound, "No specifications defined for index %s and collection %s"},
	"validation.assert.invalid_filters":        {83951629, badRequest, "Invalid filters validator: %s"},
	"validation.types.invalid_date_format":     {84017153, precondition, "The following date types are invalid: %s."},
	"validation.types.invalid_date":            {84017154, precondition, `Cannot parse the date value: "%s".`},
	"validation.types.missing_enum_values":     {84017155, precondition, `The "enum" type requires a "values" property holding the list of the enum values.`},
	"validation.types.invalid_geoshape":        {84017156, precondition, "The following shapes are invalid: %s."},
	"validation.check.failed_document":         {84082689, badRequest, "Failed to validate document: %s"},
	"validation.check.failed_field":            {84082690, badRequest, `Validation failed. Field "%s": %s`},

	"services.storage.unknown_index":             {16842753, precondition, `The index "%s" does not exist.`},
	"services.storage.unknown_collection":        {16842754, precondition, `The collection "%s":"%s" does not exist.`},
	"services.storage.get_limit_exceeded":        {16842755, sizeLimit, "The number of documents returned by this request exceeds the configured server limit."},
	"services.storage.write_limit_exceeded":      {16842756, sizeLimit, "The number of documents edited by this request exceeds the configured server limit."},
	"services.storage.import_failed":             {16842757, partial, "Failed to import some or all documents."},
	"services.storage.not_found":                 {16842763, notFound, `Document "%s" not found in "%s":"%s".`},
	"services.storage.unknown_scroll_id":         {16842766, notFound, "Non-existing or expired scroll identifier."},
	"services.storage.search_as_an_id":           {16842767, badRequest, "_search is not a valid document identifier"},
	"services.storage.document_already_exists":   {16842769, badRequest, "Document already exists."},
	"services.storage.missing_argument":          {16842770, badRequest, `Required argument "%s" is missing or is empty`},
	"services.storage.invalid_argument":          {16842771, badRequest, `Argument "%s" is invalid (expected: %s)`},
	"services.storage.invalid_mapping":           {16842773, badRequest, `Invalid mapping property "mappings.%s".%s`},
	"services.storage.cannot_change_mapping":     {16842778, badRequest, `Field "%s" already has a mapping, and it cannot be changed`},
	"services.storage.invalid_mapping_type":      {16842781, badRequest, `Field "%s": the data type "%s" doesn't exist`},
	"services.storage.unexpected_bad_request":    {16842785, badRequest, "%s"},
	"services.storage.unexpected_error":          {16842787, 500, "%s"},
	"services.storage.index_already_exists":      {16842790, precondition, `A %s index named "%s" already exists`},
	"services.storage.invalid_search_query":      {16842792, badRequest, `The argument "%s" is not allowed at this level of a search query.`},
	"services.storage.invalid_index_name":        {16842793, badRequest, `The index name "%s" is invalid`},
	"services.storage.invalid_collection_name":   {16842794, badRequest, `The collection name "%s" is invalid`},
	"services.storage.strict_mapping_rejection":  {16842795, badRequest, `Cannot create document. Field "%s" is not present in collection "%s:%s" strict mapping`},
	"services.storage.scroll_duration_too_great": {16842796, badRequest, `Scroll duration "%s" is too great.`},
	"services.storage.unknown_index_collection":  {16842768, precondition, "The provided index and/or collection doesn't exist."},
	"services.storage.collection_reserved":       {16842774, badRequest, `Invalid collection name. "%s" is reserved for internal usage.`},
	"services.storage.not_connected":             {16842776, internal, "Elasticsearch service is not connected."},
	"services.storage.too_many_changes":          {16842784, internal, `Unable to modify document "%s": cluster sync failed (too many simultaneous changes applied)`},
	"services.storage.unexpected_not_found":      {16842786, notFound, "%s"},
	"services.storage.unknown_query_keyword":     {16842797, badRequest, `The keyword "%s" is not part of Elasticsearch Query DSL. Are you trying to use a Koncorde query?`},
	"services.storage.invalid_query_keyword":     {16842799, badRequest, `The "%s" keyword is not allowed in this query.`},
	// server:healthCheck's answer for a red service.
	"core.fatal.service_unavailable": {2, internal, "Service unavailable: %s."},

	// document:search's targets (multi-index search).
	"services.storage.invalid_multi_index_collection_usage": {16842801, badRequest, `Searches on multiple collections should be achieved with the "targets" argument who contains list of indexes and collections to search within.`},
	"services.storage.invalid_target_format":                {16842802, badRequest, `The %s ("%s") contains invalid characters ",+*" or is equal to "_all" which is forbidden`},

	// Korum-specific: the embedded engine implements a subset of the DSL and
	// says so instead of answering wrongly.
	"services.storage.unsupported_query": {16842810, badRequest, `The embedded storage engine does not support %s.`},
	// Korum-specific: Elasticsearch answers a cluster_block_exception.
	"services.storage.write_blocked": {16842811, forbidden, `The collection "%s":"%s" refuses writes (its settings set index.blocks.write).`},

	// Korum-specific, in Kuzzle's cache subdomain: Kuzzle hands Redis's
	// own errors back as they come; Korum names them. The message is
	// Redis's (WRONGTYPE ..., ERR ...); a broken size limit of the memory
	// storage is a 413.
	"services.cache.database_not_found": {16973825, notFound, `Cache database "%s" not found.`},
	"services.cache.command_failed":     {16973829, badRequest, "%s"},
	"services.cache.limit_exceeded":     {16973830, sizeLimit, "%s"},

	"api.assert.invalid_type":                {33619969, badRequest, `Wrong type for argument "%s" (expected: %s)`},
	"api.assert.invalid_argument":            {33619970, badRequest, `Invalid argument "%s". Expected: %s`},
	"api.assert.missing_argument":            {33619971, badRequest, `Missing argument "%s".`},
	"api.assert.empty_argument":              {33619972, badRequest, `The argument "%s" is empty.`},
	"api.assert.mutually_exclusive":          {33619973, badRequest, `Arguments "%s" and "%s" are mutually exclusive`},
	"api.assert.too_many_arguments":          {33619974, badRequest, `Argument "%s" contains too many values`},
	"api.assert.unexpected_argument":         {33619975, badRequest, `Unexpected argument "%s" (accepted arguments: %s)`},
	"api.assert.body_required":               {33619976, badRequest, "The request must specify a body."},
	"api.assert.forbidden_argument":          {33619979, badRequest, `The argument "%s" is not allowed by this API action.`},
	"api.assert.invalid_id":                  {33619978, badRequest, `Invalid "_id" value: cannot start with an underscore`},
	"api.assert.koncorde_restricted_keyword": {33619981, badRequest, `The %s "%s" of Koncorde DSL is not supported for search queries.`},
	"api.assert.koncorde_dsl_error":          {33619982, badRequest, "%s"},
	// Kuzzle classes this one as an InternalError (500); a client asking
	// HTTP for a WebSocket-only action made a request error, so Korum
	// answers 400 with the same id and code.
	"api.assert.unsupported_protocol":         {33619984, badRequest, `The protocol "%s" is not supported by the API action "%s".`},
	"api.process.action_locked":               {33685505, precondition, `Cannot execute action "%s": already executing.`},
	"api.process.overloaded":                  {33685506, serviceUnavailable, "Request discarded: Kuzzle Server is temporarily overloaded."},
	"api.process.connection_dropped":          {33685507, badRequest, "Client connection dropped"},
	"api.process.controller_not_found":        {33685508, notFound, `API controller "%s" not found.`},
	"api.process.action_not_found":            {33685509, notFound, `API action "%s":"%s" not found`},
	"api.process.shutting_down":               {33685511, serviceUnavailable, "Rejected: this node is shutting down."},
	"api.process.too_many_requests":           {33685512, tooManyRequests, "Rejected: requests rate limit exceeded for this user."},
	"api.process.incomplete_multiple_request": {33685514, badRequest, "At least one of the %s actions failed."},
	"api.process.not_enough_nodes":            {33685515, serviceUnavailable, "Rejected: this cluster is disabled because there aren't enough nodes connected."},
	// Korum-specific: Kuzzle 2 bounds no request as a whole. Its class is
	// Kuzzle's GatewayTimeoutError (504), "takes too long to respond".
	"api.process.request_timeout": {33685516, gatewayTimeout, "Request timed out: it ran longer than limits.requestTimeout and was cancelled."},

	"api.process.admin_exists": {33685513, precondition, "Admin user is already set."},

	// Kuzzle's security domain (7): codes and classes as Kuzzle's.
	"security.token.invalid":                   {117506049, unauthorized, "Invalid token."},
	"security.token.ttl_exceeded":              {117506052, badRequest, "expiresIn value exceeds maximum allowed value"},
	"security.token.generation_failed":         {117506053, internal, "Error while generating token: %s"},
	"security.token.expired":                   {117506054, unauthorized, "Token expired"},
	"security.credentials.unknown_strategy":    {117571585, badRequest, `Unknown authentication strategy "%s"`},
	"security.credentials.rejected":            {117571587, badRequest, "Credentials rejected: %s"},
	"security.rights.unauthorized":             {117637121, unauthorized, "Unauthorized: authentication required."},
	"security.rights.forbidden":                {117637122, forbidden, "Insufficient permissions to execute this action."},
	"security.user.already_exists":             {117702657, precondition, "User %s already exists."},
	"security.user.not_found":                  {117702658, notFound, `User "%s" not found.`},
	"security.user.anonymous_profile_required": {117702659, badRequest, "The anonymous user must be assigned to the anonymous profile"},
	"security.role.not_found":                  {117768193, notFound, `Role "%s" not found.`},
	"security.role.login_required":             {117768194, badRequest, `Cannot remove the "login" action from the anonymous role.`},
	"security.role.cannot_delete":              {117768195, badRequest, "The following roles are protected and cannot be deleted: anonymous, default, admin"},
	"security.role.unknown_controller":         {117768201, badRequest, `Trying to set role %s with a non-existing controller '%s'. %s`},
	"security.role.unknown_action":             {117768202, badRequest, `Trying to set role %s with a non-existing action '%s' in controller '%s'. %s`},
	"security.role.in_use":                     {117768196, precondition, `The role "%s" is still used and cannot be deleted.`},
	"security.profile.not_found":               {117833729, notFound, `Profile "%s" not found.`},
	"security.profile.cannot_delete":           {117833730, badRequest, "The following profiles are protected and cannot be deleted: anonymous, default, admin"},
	"security.profile.in_use":                  {117833731, precondition, `The profile "%s" is still used and cannot be deleted.`},
	"security.profile.missing_anonymous_role":  {117833733, badRequest, "The anonymous profile must include the anonymous role"},
	// Korum-specific: Kuzzle's limits.loginsPerSecond answers with the
	// generic overload error; Korum says which limit was hit.
	"security.credentials.too_many_logins": {117571588, tooManyRequests, "Too many login attempts for this user: at most %s per second."},

	"network.http.request_too_large":       {50397185, sizeLimit, "Maximum HTTP request size exceeded."},
	"network.http.too_many_encodings":      {50397187, badRequest, "Too many encodings."},
	"network.http.unsupported_compression": {50397188, badRequest, `Unsupported compression algorithm "%s".`},
	"network.http.compression_disabled":    {50397189, badRequest, "Compression support is disabled."},
	"network.http.unsupported_charset":     {50397193, badRequest, `Unsupported request charset. Expected "utf-8", got: "%s".`},
	"network.http.file_too_large":          {50397197, sizeLimit, "Maximum HTTP file size exceeded"},
	"network.http.unsupported_verb":        {50397190, badRequest, `Unsupported HTTP verb "%s".`},
	"network.http.url_not_found":           {50397191, notFound, "API URL not found: %s."},
	"network.http.unsupported_content":     {50397192, badRequest, `Invalid request content-type. Expected "application/json", got: "%s".`},
	"network.http.volatile_parse_failed":   {50397195, badRequest, `Unable to convert the "x-kuzzle-volatile" HTTP header to JSON: %s`},
	"network.http.body_parse_failed":       {50397196, badRequest, "Unable to convert the HTTP body to JSON: %s"},
	"network.websocket.unexpected_error":   {50528257, badRequest, "Caught an unexpected WebSocket error: %s"},
	// Korum-specific: Kuzzle closes the socket instead; Korum answers and
	// keeps it open up to a hard cap.
	"network.websocket.request_too_large": {50528259, sizeLimit, "Maximum WebSocket request size exceeded."},

	"cluster.fatal.desync": {134217729, internal, "Caught a desync error: %s."},
	// Korum-specific: Raft cannot tell whether a command proposed just
	// before a leader change committed; the client must check, not assume.
	"cluster.process.unknown_outcome": {134283265, gatewayTimeout, "The cluster could not confirm whether this write was applied (leader change or timeout): read before retrying."},
	// Korum-specific: during a rolling upgrade, what only the new release
	// can apply waits until every node runs it (README, "Upgrading").
	"cluster.process.feature_unavailable": {134283266, precondition, "This action needs cluster feature version %s; the cluster runs version %s until every node is upgraded."},
}

// New builds the error registered under id, filling its template with args.
// An unknown id is a programming error; it still yields a usable 500 rather
// than a panic, so a typo can never crash a node.
func New(id string, args ...string) *Error {
	d, ok := catalogue[id]
	if !ok {
		return &Error{ID: "core.fatal.unexpected_error", Code: 1, Status: internal,
			Message: fmt.Sprintf("unknown error id %q", id)}
	}
	msg := d.message
	if len(args) > 0 {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a
		}
		msg = fmt.Sprintf(d.message, vals...)
	}
	return &Error{ID: id, Code: d.code, Status: d.status, Message: msg, Props: args}
}

// Multiple is Kuzzle's MultipleErrorsError for an m* action run in strict
// mode: the items that failed travel with the error, as Kuzzle sends them.
func Multiple(action string, errs []any) *Error {
	e := New("api.process.incomplete_multiple_request", action)
	e.Errors, e.Count = errs, len(errs)
	return e
}

// Wrap is New with an internal cause attached for logs.
func Wrap(cause error, id string, args ...string) *Error {
	e := New(id, args...)
	e.cause = cause
	return e
}

// From turns any error into a client-visible one: a *Error anywhere in the
// chain is kept, anything else becomes core.fatal.unexpected_error. Its
// message says nothing of the cause, which may hold file paths, addresses
// or other internals: the cause stays attached for the node's logs.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var ke *Error
	if errors.As(err, &ke) {
		return ke
	}
	return Wrap(err, "core.fatal.unexpected_error", "internal error, see the node's logs")
}

// Is reports whether err carries the given Kuzzle id.
func Is(err error, id string) bool {
	var ke *Error
	return errors.As(err, &ke) && ke.ID == id
}
