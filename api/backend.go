package api

import (
	"context"
	"time"

	"github.com/korumdb/korum/realtime"
	"github.com/korumdb/korum/storage"
)

// Backend is everything the API needs from the node. Writes and publishes
// are proposed to the cluster; reads are served locally after ReadBarrier.
type Backend interface {
	storage.Reader
	NodeID() string
	Now() time.Time
	// NewID returns a fresh document id.
	NewID() string
	// Write proposes a storage write and returns its result once applied.
	Write(ctx context.Context, w storage.Write, meta realtime.Meta, silent bool) (*storage.WriteResult, error)
	// Publish proposes a realtime:publish.
	Publish(ctx context.Context, index, collection, id string, body map[string]any, meta realtime.Meta) error
	// ReadBarrier returns once local reads reflect every write acknowledged
	// before the call (or fast-read mode is on).
	ReadBarrier(ctx context.Context) error
	// Ready is nil when the node can serve requests that need the cluster.
	Ready() error
	Hub() *realtime.Hub
	// RoomCount sums a room's subscribers over the cluster; ok is false
	// when the room does not exist anywhere.
	RoomCount(ctx context.Context, roomID string) (count int, ok bool, err error)
	// RoomList is realtime:list: index → collection → room → count.
	RoomList(ctx context.Context) (map[string]map[string]map[string]int, error)
	ClusterStatus(ctx context.Context) (any, error)
	Version() string
	StartedAt() time.Time
}
