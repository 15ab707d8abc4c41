package validation

import (
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"
)

// checker walks a document. In verbose mode it collects every message in
// Kuzzle's document:validate shape; otherwise it stops at the first one.
type checker struct {
	verbose    bool
	now        time.Time
	first      *kerror.Error
	docScope   []any
	fieldScope map[string]any
}

func (c *checker) failed() bool { return !c.verbose && c.first != nil }

func (c *checker) document(msg string) {
	if c.failed() {
		return
	}
	if !c.verbose {
		c.first = kerror.New("validation.check.failed_document", msg)
		return
	}
	c.docScope = append(c.docScope, msg)
}

func (c *checker) field(path []string, msg string) {
	if c.failed() {
		return
	}
	if !c.verbose {
		c.first = kerror.New("validation.check.failed_field", strings.Join(path, "."), msg)
		return
	}
	if c.fieldScope == nil {
		c.fieldScope = map[string]any{}
	}
	node := c.fieldScope
	for _, seg := range path {
		children, _ := node["children"].(map[string]any)
		if children == nil {
			children = map[string]any{}
			node["children"] = children
		}
		next, _ := children[seg].(map[string]any)
		if next == nil {
			next = map[string]any{}
			children[seg] = next
		}
		node = next
	}
	msgs, _ := node["messages"].([]any)
	node["messages"] = append(msgs, msg)
}

// Check validates a whole document (for an update, the stored document
// with the changes merged in) and returns nil or the first failure, a
// validation.check.* error.
func (s *Spec) Check(id string, doc map[string]any, now time.Time) error {
	c := &checker{now: now}
	s.run(c, id, doc)
	if c.first != nil {
		return c.first
	}
	return nil
}

// Report validates a document and returns every failure, as
// document:validate answers: {documentScope: [...], fieldScope: {children:
// {field: {messages: [...], children: ...}}}}.
func (s *Spec) Report(id string, doc map[string]any, now time.Time) (bool, map[string]any) {
	c := &checker{verbose: true, now: now}
	valid := s.run(c, id, doc)
	out := map[string]any{}
	if c.docScope != nil {
		out["documentScope"] = c.docScope
	}
	if c.fieldScope != nil {
		out["fieldScope"] = c.fieldScope
	}
	return valid, out
}

func (s *Spec) run(c *checker, id string, doc map[string]any) bool {
	valid := true
	if len(s.root.names) > 0 {
		if extra, ok := s.unexpected(doc, s.root, s.strict); ok {
			c.document(`The document validation is strict. Cannot add unspecified sub-field "` + extra + `"`)
			valid = false
		} else {
			valid = s.fields(c, doc, s.root, s.strict)
		}
	}
	if c.failed() {
		return false
	}
	if s.validators != nil {
		if ids := s.validators.Test(s.index, s.collection, id, doc); len(ids) == 0 || ids[0] != s.validatorID {
			c.document("The document does not match validation filters.")
			valid = false
		}
	}
	return valid
}

// unexpected returns the first field of doc, in sorted order, that a
// strict level does not declare.
func (s *Spec) unexpected(doc map[string]any, level *field, strict bool) (string, bool) {
	if !strict {
		return "", false
	}
	var first string
	found := false
	for k := range doc {
		if _, ok := level.children[k]; !ok && (!found || k < first) {
			first, found = k, true
		}
	}
	return first, found
}

// fields validates the declared fields of one level.
func (s *Spec) fields(c *checker, doc map[string]any, level *field, strict bool) bool {
	valid := true
	for _, name := range level.names {
		if !s.one(c, doc, level.children[name], strict) {
			valid = false
			if c.failed() {
				return false
			}
		}
	}
	return valid
}

func (s *Spec) one(c *checker, doc map[string]any, f *field, strict bool) bool {
	v, present := doc[f.path[len(f.path)-1]]
	nil_ := !present || v == nil
	if f.mandatory && !f.hasDefault && nil_ {
		c.field(f.path, "The field is mandatory.")
		return false
	}
	if nil_ {
		return true
	}
	values := []any{v}
	arr, isArr := v.([]any)
	switch {
	case !f.multi && isArr:
		c.field(f.path, "The field is not a multivalued field; Multiple values provided.")
		return false
	case f.multi && !isArr:
		c.field(f.path, "The field must be multivalued, unary value provided.")
		return false
	case f.multi:
		if f.minCount != nil && float64(len(arr)) < *f.minCount {
			c.field(f.path, "Not enough elements. Minimum count is set to "+fmtNumber(*f.minCount)+".")
			return false
		}
		if f.maxCount != nil && float64(len(arr)) > *f.maxCount {
			c.field(f.path, "Too many elements. Maximum count is set to "+fmtNumber(*f.maxCount)+".")
			return false
		}
		values = arr
	}
	t := types[f.typ]
	nested := false
	if t.children {
		nested = strict
		if f.opts.strict != nil {
			nested = *f.opts.strict
		}
	}
	valid := true
	for _, val := range values {
		if msg := t.check(&f.opts, val, c.now); msg != "" {
			c.field(f.path, msg)
			return false
		}
		if t.children && len(f.names) > 0 {
			obj := val.(map[string]any) // checked by the object type
			if extra, ok := s.unexpected(obj, f, nested); ok {
				c.field(f.path, `The field is set to "strict"; cannot add unspecified sub-field "`+extra+`".`)
				valid = false
			} else if !s.fields(c, obj, f, nested) {
				valid = false
			}
			if c.failed() {
				return false
			}
		}
	}
	return valid
}

// ApplyDefaults fills the defaultValue of the fields a write leaves out
// (a creation) or sets to null (a creation or an update), in place, as
// Kuzzle does once a write validated. Like Kuzzle, a default that is not
// truthy (false, 0, "") is never applied.
func (s *Spec) ApplyDefaults(body map[string]any, isUpdate bool) {
	if body != nil {
		applyDefaults(body, s.root, isUpdate)
	}
}

// HasDefaults reports whether ApplyDefaults may change a body.
func (s *Spec) HasDefaults() bool { return hasDefaults(s.root) }

func hasDefaults(f *field) bool {
	for _, c := range f.children {
		if c.hasDefault && truthy(c.def) || hasDefaults(c) {
			return true
		}
	}
	return false
}

func applyDefaults(doc map[string]any, level *field, isUpdate bool) {
	for _, name := range level.names {
		f := level.children[name]
		v, present := doc[name]
		if present && f.opts.allowsChildren && len(f.children) > 0 {
			switch x := v.(type) {
			case map[string]any:
				applyDefaults(x, f, isUpdate)
			case []any:
				for _, e := range x {
					if m, ok := e.(map[string]any); ok {
						applyDefaults(m, f, isUpdate)
					}
				}
			}
			continue
		}
		if f.hasDefault && truthy(f.def) && (present && v == nil || !isUpdate && !present) {
			doc[name] = storage.DeepCopy(f.def) // documents never share it
		}
	}
}
