package embedded

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/storage"
)

// Stats returns every index and collection with its document count and
// the bytes its documents take in the store's pages, in name order. It
// reads page headers, not documents.
func (e *Engine) Stats(ctx context.Context) ([]storage.IndexStats, error) {
	var out []storage.IndexStats
	err := e.view(func(tx *bolt.Tx) error {
		return indexesBucket(tx).ForEachBucket(func(name []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			is := storage.IndexStats{Name: string(name), Collections: []storage.CollectionStats{}}
			ib := indexesBucket(tx).Bucket(name)
			err := ib.ForEachBucket(func(coll []byte) error {
				cs := storage.CollectionStats{Name: string(coll)}
				if docs := ib.Bucket(coll).Bucket(bucketDocs); docs != nil {
					st := docs.Stats()
					cs.Documents = st.KeyN
					cs.Size = int64(st.LeafInuse + st.BranchInuse + st.InlineBucketInuse)
				}
				is.Size += cs.Size
				is.Collections = append(is.Collections, cs)
				return nil
			})
			out = append(out, is)
			return err
		})
	})
	if err != nil {
		return nil, readErr(err, "storage statistics")
	}
	return out, nil
}
