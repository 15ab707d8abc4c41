package filter

// ParseError reports an invalid filter. Its message mirrors Koncorde's
// KoncordeParseError so that clients written against Kuzzle see the same text.
type ParseError struct {
	// Path is the dotted location of the faulty part of the filter, e.g.
	// "and.range.age". It is empty for errors about the filter as a whole.
	Path string
	// Keyword is the Koncorde keyword being checked when the error was found.
	Keyword string
	// Message is the human readable reason, without the path prefix.
	Message string
}

func (e *ParseError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return `"` + e.Path + `": ` + e.Message
}

func perr(msg, keyword, path string) *ParseError {
	return &ParseError{Path: path, Keyword: keyword, Message: msg}
}

func pathAdd(cur, leaf string) string {
	if cur == "" {
		return leaf
	}
	return cur + "." + leaf
}
