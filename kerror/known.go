package kerror

// Known reports whether id is in the catalogue: metrics label errors by id
// and must not take a label value from anywhere else.
func Known(id string) bool {
	_, ok := catalogue[id]
	return ok
}
