// Package filter is Korum's realtime filter engine: a Go reimplementation of
// Koncorde 4.7, the filter language of Kuzzle subscriptions.
//
// # What it owns
//
// The package validates filters written in the Koncorde language, normalizes
// them into a canonical OR-of-ANDs form, derives the room id from that form,
// stores normalized filters per (index, collection) and tells which stored
// filters match a document. That is all: it must not know about
// connections, users, notifications, channels, storage or the cluster.
// Callers replicate Normalized.Canonical and rebuild filters on other nodes
// with FromCanonical. It keeps no global mutable state; every Engine is
// independent and safe for concurrent use (see Concurrency).
//
// # Language
//
// Keywords: equals, in, ids, exists and missing (including the
// `field["json value"]` array form and the deprecated {field: ...} form),
// range, regexp (flags i, m, s; Go's RE2 engine), geoBoundingBox,
// geoDistance, geoDistanceRange, geoPolygon (every Koncorde geopoint format,
// node-units distances), match, select, nothing, and {} (everything).
// Operands: and, or, not, bool (must, must_not, should, should_not). Field
// paths are dotted paths into nested objects, never into arrays. The
// document id is visible to filters as the field "_id" (Kuzzle injects it
// the same way).
//
// Errors are *ParseError values whose text is Koncorde's, `"<path>": <msg>`.
// Normalize also enforces the condition limit (Options.MaxConditions,
// default 100, counted like Koncorde: every leaf condition after in/ids
// expansion) with Koncorde's message; Validate, like Koncorde's validate,
// does not. Normalize also refuses, as "Filter too complex", a filter whose
// normal form would take more than a fixed amount of work to build
// (normalizeBudget, about 10 ms): it stops when the budget is spent, so a
// small filter with an exploding normal form costs no more than that.
//
// # Normalization
//
// The filter is standardized (in/ids become OR of equals, missing becomes
// NOT exists, bool is rewritten as Koncorde does), expanded into a
// disjunctive normal form with absorption, closed under consensus into the
// set of all prime implicants (the Blake canonical form, which only depends
// on the boolean function of the conditions, not on how it was written),
// and finally simplified with facts about conditions on the same field
// (equals a=1 AND equals a=2 is impossible, equals a=1 implies exists a and
// NOT equals a=2, a value inside or outside a range, ...). Conditions and
// conjunctions are then sorted by their JSON. Contradictions become
// [[{"nothing":true,"not":false}]] and tautologies
// [[{"everything":true,"not":false}]].
//
// As a result, equivalent filters get the same canonical form: reordered
// clauses, in vs an or of equals, De Morgan forms, double negations,
// absorbed or redundant clauses. Every pair of filters that Koncorde 4.7
// gives the same id gets the same id here too (this is checked against
// Koncorde by the differential test), except where Koncorde merged filters
// that are not equivalent (see the differences below). Koncorde merges
// less: reordering the clauses of an and changes its ids.
//
// # Room id derivation (replicated state: never change it)
//
//	ID = lowercase hex( SHA-256( "korum/filter/v1"
//	       || uvarint(len(index)) || index
//	       || uvarint(len(collection)) || collection
//	       || uvarint(len(canonical)) || canonical ) )
//
// where uvarint is encoding/binary's unsigned varint and canonical is the
// canonical JSON: compact, literals rendered as {"<keyword>":<body>,"not":
// <bool>} with the bodies documented by atomKey in parse.go, strings
// escaped only for '"', '\\' and control characters, numbers as integers
// when integral and below 1e21 and otherwise Go's shortest round-trip 'g'
// format, regexp flags reduced to the sorted subset of "ims". The id is thus
// identical on every node, across restarts and versions; any change to the
// canonical form must bump the "v1" prefix and be treated as a migration.
// Ids are not Koncorde's (Koncorde hashes with a random per-process seed).
//
// # Matching
//
// A stored filter is a set of conjunctions ("subfilters"), shared between
// filters, over conditions ("atoms") shared between conjunctions. Matching
// evaluates atoms through per-field indexes only: hash tables for equals and
// the array form of exists, a presence flag for exists, an interval treap
// (ordered by lower bound, augmented with the subtree's highest upper bound)
// for range, a multi-level grid per field for geo shapes, a list for regexp.
// A conjunction matches when all its positive atoms hit and none of its
// negated atoms did (Koncorde's subfilter counting with negation folded in);
// filters made of one positive condition are emitted straight from the
// atom. match and select conditions are evaluated one by one, as in
// Koncorde. The document is either walked once along a trie of the
// registered field paths or, when fewer fields are registered than the
// document has keys, probed field by field. As listing a Go map's keys
// costs more than the rest of a miss, the walk first tries the top-level
// keys of a document seen before in the collection (checked with the key
// count and one lookup per key). In front of each hash table, a bitset of
// cheap fingerprints (length, first and last eight bytes) rejects most
// absent values before the keyed hash is computed. A miss allocates
// nothing, except when the walk learns the keys of a document of a new
// shape (the first document, then one in 16 of those of another shape).
//
// # Concurrency
//
// Register, Store and Remove serialize on a lock. Test takes no lock to
// find the true atoms: everything it reads there (collection table, field
// trie, equality tables, interval treap, geo grid, flags) is published
// with atomics by the writer so that a reader sees each structure in some
// consistent state, old or new, without waiting. Hash tables use
// tombstones and republish a fresh slot array to grow; lists are appended
// past the length readers were given and copied to shrink; the treap is
// persistent (path copying). Only when an atom held, or the collection has
// conditions that every document is tested against (match, select,
// conjunctions of negations only), does Test take the read lock to count
// atoms into conjunctions and filters, dropping atoms removed meanwhile.
// A Test thus sees every filter stored before it started and none removed
// before it started; filters stored or removed during the Test may or may
// not be reported. Hash tables are keyed by a per-Engine random seed so
// that clients cannot choose colliding filter values.
//
// # Deliberate differences from Koncorde 4.7
//
//   - Geo conditions on different fields work (Koncorde throws "subfilters
//     is not iterable" as its R-tree is shared across fields), and a
//     document point that cannot be parsed on one field does not skip the
//     other geo fields.
//   - Koncorde rejects some valid filters with `"…geospatial": unknown
//     keyword` (it re-standardizes already standardized geo conditions
//     nested in and/or/not); they are accepted here.
//   - A distance without unit ("1000") means meters, as Koncorde documents;
//     Koncorde 4.7 throws. Words as numbers ("one km") are not supported.
//   - Regexp matching is stateless: the g and y flags are ignored (Koncorde
//     keeps lastIndex, so repeated tests of one document alternate). Only
//     i, m and s matter; other flag letters are accepted and ignored, as
//     RE2 does in Koncorde. Syntax is Go's RE2 dialect: error messages
//     after "cannot parse regexp expression" differ, and a few JavaScript
//     escapes (\u0041, \cX) are not available.
//   - NOT regexp is the exact complement of regexp: a present non-string
//     value never matches regexp, so it matches NOT regexp. Koncorde tests
//     String(value) for NOT regexp only.
//   - NOT geo conditions on a present value that is not a geopoint match
//     (Koncorde matches nothing and stops the geo matching).
//   - NOT select and NOT nothing work (Koncorde throws when storing them).
//   - range bounds are exact; Koncorde emulates exclusive bounds with a
//     1e-10 epsilon (gt: 1 rejects 1 + 1e-11 there).
//   - Distances use a spherical Earth (mean radius 6,371,008.8 m) and
//     polygon edges are straight lines in (lon, lat), where Koncorde's
//     boost backend uses the WGS84 ellipsoid and geodesic edges: results
//     can differ within about 0.5 % of a circle's border or close to long
//     polygon edges. Bounding boxes with left > right cross the antimeridian.
//   - Normalization is semantic where Koncorde's is syntactic: more
//     equivalent filters share an id (see above). Koncorde's removal of
//     impossible conjunctions has bugs that change a filter's meaning (it
//     compares values as strings, so equals 1 AND NOT equals "1" is dropped,
//     and it treats field["value"] exists conditions as plain exists); the
//     rules here are sound, so such filters match what they say.
//   - A filter whose normal form would exceed 16,384 conjunctions is
//     rejected as too complex; Koncorde builds a 2^n truth table instead and
//     never returns on such filters.
//   - When a document has both {"a.b": x} and {"a": {"b": y}}, which value
//     a filter on "a.b" sees is unspecified (Koncorde: the last key).
//   - An empty document id is not injected as "_id".
//   - Error messages that quote a JSON object (unrecognized geoBoundingBox
//     or polygon point) list its keys sorted, as Go maps have no order;
//     Koncorde keeps the input order.
//   - Koncorde's regExpEngine "js" option (PCRE-like JavaScript regexps) has
//     no equivalent: the syntax is always RE2.
//   - The condition limit applies to a select query when the filter is
//     normalized (Koncorde only checks it when storing the filter).
//
// # Test vectors
//
// testdata/koncorde_vectors.json.gz holds filters, documents and Koncorde
// 4.7.0's answers (validation errors, id equivalence classes, canonical
// forms, match sets). Regenerate with `make -C realtime/filter vectors`
// (needs node and npm; the oracle lives in testdata/oracle). bench/compare.sh
// compares matching throughput with Koncorde on the same machine.
package filter
