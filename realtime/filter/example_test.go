package filter_test

import (
	"encoding/json"
	"fmt"

	"github.com/korumdb/korum/realtime/filter"
)

func Example() {
	e := filter.New(filter.Options{})

	var f any
	_ = json.Unmarshal([]byte(`{"and":[{"in":{"city":["Paris","Lyon"]}},{"range":{"age":{"gte":18}}}]}`), &f)
	n, err := e.Register("shop", "users", f)
	if err != nil {
		panic(err)
	}

	// The same subscription written differently gets the same room.
	_ = json.Unmarshal([]byte(`{"bool":{"must":[{"range":{"age":{"gte":18}}}],"should":[{"equals":{"city":"Lyon"}},{"equals":{"city":"Paris"}}]}}`), &f)
	same, _ := e.Normalize("shop", "users", f)
	fmt.Println(same.ID == n.ID)

	var doc map[string]any
	_ = json.Unmarshal([]byte(`{"city":"Lyon","age":42}`), &doc)
	fmt.Println(e.Test("shop", "users", "user-1", doc)[0] == n.ID)

	_ = json.Unmarshal([]byte(`{"range":{"age":{"gte":"18"}}}`), &f)
	_, err = e.Normalize("shop", "users", f)
	fmt.Println(err)
	// Output:
	// true
	// true
	// "range.age.gte": must be a number
}
