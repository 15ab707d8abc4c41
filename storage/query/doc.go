// Package query compiles the subset of the Elasticsearch query DSL that Kuzzle
// users write (match_all, match, match_phrase, multi_match, term, terms, range,
// exists, ids, prefix, wildcard, bool, constant_score) and the sort clause,
// and evaluates them against decoded JSON documents.
//
// It owns the DSL semantics only: how a clause matches one document, how it
// scores it and how hits are ordered. It must not read storage, know about
// indexes, collections, paging limits or requests. Anything it does not
// implement is rejected with a client-visible *kerror.Error instead of being
// approximated, so a query never silently returns a wrong answer.
//
// Given the collection's field types (CompileWith), fields are compared as ES
// would: term-level queries on text fields see lowercase tokens, match
// queries on keyword, numeric, boolean and date fields compare whole values.
// Unmapped fields are treated leniently (term compares whole values, match
// analyses), where ES would not find them at all, except where the mapping
// says unmapped fields are not indexed (dynamic "false" or "strict": the
// field types are Unindexed): there no clause finds them, as in ES. The
// _id metadata field is never analysed.
//
// Scores are deterministic but are not BM25: term-level clauses score 1 (times
// boost), match scores by the number of query tokens found, normalised by the
// field length. Evaluation is a pure function of the document, so callers can
// scan a collection in key order and get identical results on every node.
package query
