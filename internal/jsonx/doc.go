// Package jsonx decodes JSON exactly as encoding/json does, with the same
// values and the same errors, in about half the CPU for the inputs Korum
// decodes most: API requests and the log entries of document writes.
//
// It owns only that equivalence, which its fuzz targets check against
// encoding/json. It must not encode, and must never make a value differ
// from encoding/json's: the state machine decodes log entries with it, and
// replicas running the previous release decode the same entries with
// encoding/json.
package jsonx
