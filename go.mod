module github.com/korumdb/korum

go 1.26.8
