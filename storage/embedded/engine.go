package embedded

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/storage"

	"github.com/korumdb/korum/internal/durable"
)

// Options tunes an Engine. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// DocumentsFetchCount caps from+size of a search, the size of a scroll
	// page and the number of ids of an mGet (Kuzzle's
	// limits.documentsFetchCount). Default 10000.
	DocumentsFetchCount int
	// Now is the clock used by reads to expire scroll cursors (never by
	// Apply). Default time.Now.
	Now func() time.Time
	// DefaultScrollTTL is used when a scroll continues without a ttl and the
	// cursor carries none. Default 15s, like Kuzzle.
	DefaultScrollTTL time.Duration
	// MaxScrollDuration rejects longer scroll ttls. Default 1m, like Kuzzle.
	MaxScrollDuration time.Duration
	// ScrollKey authenticates scroll ids. Scroll ids are stateless, so every
	// node of a cluster must share the same key for any node to continue a
	// scroll; a client cannot forge one to read another collection. When
	// empty a fixed, publicly known key is used, which only suits tests and
	// single-user deployments.
	ScrollKey []byte
	// OpenTimeout bounds the wait for the file lock held by another process.
	// Default 5s.
	OpenTimeout time.Duration
	// NoSync commits Apply's transactions without fsync: the file is then
	// only a cache of the Raft log, and the caller must never trust it
	// after a crash (a power loss can leave a bbolt file written without
	// syncs torn, not merely behind). Korum's node rebuilds it at every
	// start: Raft restores the latest snapshot into it (Restore replaces the
	// whole file with a synced copy) or, with no snapshot yet, the node
	// empties it and the log replays from its first entry. See doc.go.
	NoSync bool
	// SyncInterval is how often a NoSync engine syncs its file anyway, so
	// that a failed write-back (EIO, ENOSPC at allocation) is seen: the
	// next Apply then fails, which stops the node before it serves a state
	// its disk did not keep. Default 1s.
	SyncInterval time.Duration
}

func (o *Options) withDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DocumentsFetchCount <= 0 {
		o.DocumentsFetchCount = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DefaultScrollTTL <= 0 {
		o.DefaultScrollTTL = 15 * time.Second
	}
	if o.MaxScrollDuration <= 0 {
		o.MaxScrollDuration = time.Minute
	}
	if len(o.ScrollKey) == 0 {
		o.ScrollKey = []byte("korum-embedded-default-scroll-key")
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 5 * time.Second
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
}

// defaultDynamic is the dynamic policy of collections created without one:
// Kuzzle's "true". A constant, not an option: Apply must not depend on
// configuration that could differ between nodes.
const defaultDynamic = "true"

var (
	bucketMeta    = []byte("meta")
	bucketIndexes = []byte("indexes")
	keyApplied    = []byte("applied")
	keyFormat     = []byte("format")
	keyMapping    = []byte("mapping")
	bucketDocs    = []byte("docs")
	formatV1      = []byte("1")
)

// maxFormat is the highest value of the meta bucket's format key this
// engine opens. The layout has not changed since "1"; the key also
// records the cluster feature version its state machine applied
// (MarkFormat), so that a binary of an older release, which opens only
// the versions it knows, refuses a file that may hold newer state. It
// follows fsm.FormatVersion (a test in fsm checks).
const maxFormat = 2

// MaxFormat is maxFormat, for that test.
const MaxFormat = maxFormat

// checkFormat accepts the format values "1" to maxFormat.
func checkFormat(f []byte) error {
	v, err := strconv.Atoi(string(f))
	if err != nil || v < 1 || v > maxFormat || strconv.Itoa(v) != string(f) {
		return fmt.Errorf("unsupported storage format %q (this binary opens up to %d): it was written by a newer Korum", f, maxFormat)
	}
	return nil
}

// Engine is the embedded storage engine. All methods are safe for concurrent
// use; Apply calls are serialised.
type Engine struct {
	path string
	opts Options
	log  *slog.Logger

	// mu guards db itself: everything holds it shared except Restore and
	// Close, which swap or drop the file.
	mu sync.RWMutex
	db *bolt.DB
	// applyMu serialises Apply so the applied-index check and the commit
	// are atomic with respect to each other.
	applyMu sync.Mutex
	applied atomic.Uint64

	// NoSync only: the periodic sync's first failure, which every later
	// Apply returns; stop ends the syncing goroutine.
	syncErr  atomic.Pointer[error]
	stop     chan struct{}
	stopOnce sync.Once
}

var (
	_ storage.Reader          = (*Engine)(nil)
	_ storage.ScrollInspector = (*Engine)(nil)
)

// Open opens (creating if needed) the engine file at path.
func Open(path string, opts Options) (*Engine, error) {
	opts.withDefaults()
	e := &Engine{path: path, opts: opts, log: opts.Logger.With("component", "storage.embedded")}
	db, applied, err := openFile(path, opts.OpenTimeout, opts.NoSync)
	if err != nil {
		return nil, err
	}
	e.db = db
	e.applied.Store(applied)
	if opts.NoSync {
		e.stop = make(chan struct{})
		go e.syncLoop(opts.SyncInterval)
	}
	return e, nil
}

// syncLoop syncs a NoSync engine's file every interval. Durability does not
// depend on it (the file is rebuilt at start); it only surfaces write-back
// errors, which the kernel reports to the next fsync and nowhere else.
func (e *Engine) syncLoop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if err := e.sync(); err != nil {
			e.log.Error("syncing the store failed: the next apply stops the node", "err", err)
			return
		}
	}
}

func (e *Engine) sync() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.db == nil || e.syncErr.Load() != nil {
		return nil
	}
	if err := e.db.Sync(); err != nil {
		err = fmt.Errorf("sync storage file %s: %w", e.path, err)
		e.syncErr.Store(&err)
		return err
	}
	return nil
}

func openFile(path string, timeout time.Duration, noSync bool) (*bolt.DB, uint64, error) {
	// NoGrowSync with NoSync: a file never trusted after a crash gains
	// nothing from syncing its growth either.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: noSync, NoGrowSync: noSync})
	if err != nil {
		return nil, 0, fmt.Errorf("open storage file %s: %w", path, err)
	}
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if f := meta.Get(keyFormat); f == nil {
			if err := meta.Put(keyFormat, formatV1); err != nil {
				return err
			}
		} else if err := checkFormat(f); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketIndexes); err != nil {
			return err
		}
		if v := meta.Get(keyApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, 0, fmt.Errorf("initialise storage file %s: %w", path, err)
	}
	return db, applied, nil
}

// MarkFormat records that this file's cluster agreed on feature version v
// (fsm.FormatMarker): the format key only grows, up to what this binary
// opens.
func (e *Engine) MarkFormat(v uint32) error {
	if v < 1 || v > maxFormat {
		return fmt.Errorf("storage format %d is not one this binary writes (1 to %d)", v, maxFormat)
	}
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.db == nil {
		return errClosed
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cur, err := strconv.Atoi(string(meta.Get(keyFormat)))
		if err == nil && cur >= int(v) {
			return nil
		}
		return meta.Put(keyFormat, []byte(strconv.Itoa(int(v))))
	})
}

// Close closes the file. The engine is unusable afterwards.
func (e *Engine) Close() error {
	if e.stop != nil {
		e.stopOnce.Do(func() { close(e.stop) })
	}
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		return nil
	}
	if e.opts.NoSync {
		// Not needed for correctness (the next start rebuilds the file),
		// but a stopped node's file is then complete for whoever copies it.
		_ = e.db.Sync()
	}
	err := e.db.Close()
	e.db = nil
	if err != nil {
		return fmt.Errorf("close storage file %s: %w", e.path, err)
	}
	return nil
}

var errClosed = errors.New("storage engine is closed")

// AppliedIndex is the Raft index of the last batch committed by Apply (or
// loaded by Restore).
func (e *Engine) AppliedIndex() uint64 { return e.applied.Load() }

// Apply applies one committed Raft entry's writes in a single bbolt
// transaction (synced unless Options.NoSync), recording raftIndex as the
// applied index in that same transaction, and returns one result per write.
//
// An entry with raftIndex <= AppliedIndex() was already applied before a
// restart or a snapshot restore: it is skipped and every result is empty
// (Err nil, no Items). Raft indexes start at 1, so index 0 is always skipped.
//
// Client errors (unknown collection, document not found...) are per write or
// per item and do not abort the batch. A failure of the file itself (disk
// full, I/O error, a record that does not decode) rolls the whole batch back,
// leaves AppliedIndex unchanged and is returned as the error: the entries are
// committed, so the caller must not go on applying later ones (that replica
// would diverge from its peers); it must stop and replay them.
func (e *Engine) Apply(raftIndex uint64, writes []storage.Write) ([]storage.WriteResult, error) {
	results := make([]storage.WriteResult, len(writes))
	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	if raftIndex <= e.applied.Load() {
		return results, nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.db == nil {
		return nil, errClosed
	}
	if p := e.syncErr.Load(); p != nil {
		e.log.Error("storage batch refused: the file failed to sync", "raftIndex", raftIndex, "err", *p)
		return nil, fmt.Errorf("storage: committing raft entry %d: %w", raftIndex, *p)
	}
	err := e.db.Update(func(tx *bolt.Tx) error {
		for i := range writes {
			r, err := applyWrite(tx, &writes[i], defaultDynamic)
			if err != nil {
				return fmt.Errorf("apply write %d (%s) of raft entry %d: %w", i, writes[i].Op, raftIndex, err)
			}
			results[i] = r
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], raftIndex)
		return tx.Bucket(bucketMeta).Put(keyApplied, buf[:])
	})
	if err != nil {
		e.log.Error("storage batch rolled back", "raftIndex", raftIndex, "err", err)
		return nil, fmt.Errorf("storage: committing raft entry %d: %w", raftIndex, err)
	}
	e.applied.Store(raftIndex)
	return results, nil
}

// view runs fn in a read transaction.
func (e *Engine) view(fn func(tx *bolt.Tx) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.db == nil {
		return kerror.Wrap(errClosed, "services.storage.unexpected_error", errClosed.Error())
	}
	return e.db.View(fn)
}

// Snapshot writes a consistent copy of the whole state, applied index
// included. It may run concurrently with Apply: it sees the state as of the
// last committed batch.
func (e *Engine) Snapshot(w io.Writer) error {
	err := e.view(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot storage: %w", err)
	}
	return nil
}

// SnapshotView runs fn with a read-only view of the state as of the last
// committed batch: its applied index, and a function writing what Snapshot
// would write of it. The view stays the same while fn runs, whatever Apply
// commits meanwhile; it holds a read transaction, which delays a Restore
// and, when the file must grow, a commit, until fn returns: fn must be
// bounded.
func (e *Engine) SnapshotView(fn func(applied uint64, snapshot func(io.Writer) error) error) error {
	return e.view(func(tx *bolt.Tx) error {
		var applied uint64
		if v := tx.Bucket(bucketMeta).Get(keyApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return fn(applied, func(w io.Writer) error {
			if _, err := tx.WriteTo(w); err != nil {
				return fmt.Errorf("snapshot storage: %w", err)
			}
			return nil
		})
	})
}

// Restore replaces the whole state with a snapshot produced by Snapshot. The
// snapshot is written and checked beside the live file first, so a truncated
// or corrupt snapshot leaves the current state untouched.
func (e *Engine) Restore(r io.Reader) error {
	tmp := e.path + ".restore"
	if err := durable.WriteFile(tmp, r, 0o600); err != nil {
		return fmt.Errorf("restore storage: write snapshot: %w", err)
	}
	check, applied, err := openFile(tmp, e.opts.OpenTimeout, false)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore storage: invalid snapshot: %w", err)
	}
	if err := check.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore storage: %w", err)
	}

	e.applyMu.Lock()
	defer e.applyMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.db == nil {
		os.Remove(tmp)
		return errClosed
	}
	if err := e.db.Close(); err != nil {
		return fmt.Errorf("restore storage: close live file: %w", err)
	}
	e.db = nil
	if err := os.Rename(tmp, e.path); err != nil {
		return fmt.Errorf("restore storage: replace live file: %w", err)
	}
	// A failed directory sync only weakens the rename's durability on
	// exotic filesystems: not fatal.
	_ = durable.SyncDir(filepath.Dir(e.path))
	db, reopened, err := openFile(e.path, e.opts.OpenTimeout, e.opts.NoSync)
	if err != nil {
		return fmt.Errorf("restore storage: reopen: %w", err)
	}
	if reopened != applied {
		e.log.Warn("applied index changed while restoring", "snapshot", applied, "reopened", reopened)
	}
	e.db = db
	e.applied.Store(reopened)
	return nil
}

// ---- record encoding ----

func encodeRecord(version int64, src map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(256)
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(version))
	buf.Write(v[:])
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(src); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil // drop Encode's trailing newline
}

func decodeRecord(id string, rec []byte) (*storage.Document, error) {
	if len(rec) < 8 {
		return nil, fmt.Errorf("corrupt record for document %q", id)
	}
	src, err := decodeSource(rec[8:])
	if err != nil {
		return nil, fmt.Errorf("corrupt record for document %q: %w", id, err)
	}
	return &storage.Document{ID: id, Version: int64(binary.BigEndian.Uint64(rec[:8])), Source: src}, nil
}

// decodeSource keeps numbers as json.Number so integers beyond 2^53 survive
// a write/read cycle unchanged.
func decodeSource(b []byte) (map[string]any, error) { return decodeObject(b) }

// Remove deletes the engine file at path, refusing while another process
// holds it open (a running node): a file that no longer opens (torn by a
// crash while written without syncs) is removed all the same.
func Remove(path string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("storage file %s is held by another process", path)
	case err == nil:
		db.Close()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove storage file %s: %w", path, err)
	}
	return nil
}
