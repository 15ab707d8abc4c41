package validation

import (
	"encoding/json"
	"testing"
)

// The lookup every document write makes: a collection without a
// specification, with and without specifications elsewhere.
func BenchmarkSpecLookupMiss(b *testing.B) {
	for _, name := range []string{"empty", "others"} {
		b.Run(name, func(b *testing.B) {
			s := NewState()
			if name == "others" {
				s.Apply(&Command{Index: "i", Collection: "other", Spec: json.RawMessage(`{"strict":true}`)})
			}
			b.ReportAllocs()
			for b.Loop() {
				if s.Spec("i", "c") != nil {
					b.Fatal("found")
				}
			}
		})
	}
}

// Checking a typical document against a specification with validators.
func BenchmarkCheck(b *testing.B) {
	var raw map[string]any
	_ = json.Unmarshal([]byte(`{"strict":true,"fields":{"name":{"type":"string","mandatory":true},
		"age":{"type":"integer","typeOptions":{"range":{"min":0}}},"email":{"type":"email"},
		"addr":{"type":"object"},"addr/city":{"type":"string"}},"validators":[{"range":{"age":{"lt":150}}}]}`), &raw)
	s, errs := Parse("i", "c", raw)
	if errs != nil {
		b.Fatal(errs)
	}
	var doc map[string]any
	_ = json.Unmarshal([]byte(`{"name":"alice","age":30,"email":"a@example.com","addr":{"city":"Paris"}}`), &doc)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Check("id", doc, now); err != nil {
			b.Fatal(err)
		}
	}
}
