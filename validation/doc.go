// Package validation implements Kuzzle's collection validation
// specifications: parsing and checking a specification
// (collection:updateSpecifications, validateSpecifications), checking a
// document against it (every document write, document:validate), and the
// replicated set of specifications (State, applied by the fsm from
// "specs" log entries).
//
// A specification is {strict, fields, validators}: fields maps a field
// path ("a", "a/b" for a child of the object a) to {type, mandatory,
// defaultValue, description, multivalued: {value, minCount, maxCount},
// typeOptions}; validators is a list of Koncorde filters the whole
// document must match (package realtime/filter tests them). Types:
// anything, boolean, date, email, enum, geo_point, geo_shape, integer,
// ip_address, numeric, object, string, url.
//
// Errors carry Kuzzle's ids: validation.assert.* for a malformed
// specification, validation.types.* for a type's options, and
// validation.check.failed_document / failed_field for a refused document.
// Where Kuzzle reports the first failure in its objects' key order, this
// package walks fields in sorted order, so that the same document always
// gets the same error.
//
// Parsing is pure and deterministic (no clock: a date range "NOW" is
// resolved when a document is checked), so that the fsm can compile a
// committed specification on every replica.
package validation
