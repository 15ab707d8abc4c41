package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/korumdb/korum/backup"
	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/kerror"
	"github.com/korumdb/korum/membership"
	"github.com/korumdb/korum/raftnet"
)

// Snapshot is `korum snapshot save` on the serving side (GET
// /admin/_snapshot): a backup of the replicated state at one applied
// index, taken after a linearizable read barrier, so it holds every write
// acknowledged before the request arrived, whichever node acknowledged it.
// One runs at a time per node.
func (n *Node) Snapshot(ctx context.Context, open func() (io.Writer, error)) error {
	if !n.snapshotting.TryLock() {
		return kerror.New("api.process.action_locked", "snapshot")
	}
	defer n.snapshotting.Unlock()
	// Linearizable whatever storage.readConsistency says: a backup must
	// not miss an acknowledged write.
	bctx, cancel := n.reqCtx(ctx)
	defer cancel()
	if err := clusterErr(n.raft.LinearizableRead(bctx)); err != nil {
		return err
	}
	for {
		err := n.backup(open)
		if !errors.Is(err, fsm.ErrReplaying) {
			return err
		}
		// Just restarted, this node still replays its log: soon over.
		select {
		case <-bctx.Done():
			return kerror.Wrap(err, "api.process.not_enough_nodes")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) backup(open func() (io.Writer, error)) error {
	engine := n.cfg.Storage.Engine
	if engine == "" {
		engine = "embedded"
	}
	return n.fsm.Backup(func(index uint64, write func(io.Writer) error) error {
		h := backup.Header{Index: index, Term: n.raft.TermAt(index), ClusterID: n.members.ClusterID(), NodeID: n.id,
			StorageEngine: engine, KorumVersion: Version, CreatedAt: time.Now().UTC()}
		w, err := open()
		if err != nil {
			return err
		}
		bw, err := backup.NewWriter(w, h)
		if err != nil {
			return err
		}
		if err := write(bw); err != nil {
			return fmt.Errorf("writing the backup: %w", err)
		}
		if err := bw.Close(); err != nil {
			return fmt.Errorf("writing the backup: %w", err)
		}
		n.log.Info("backup sent", "index", index, "term", h.Term)
		return nil
	})
}

// Restore is `korum snapshot restore`: it checks the backup at path and
// prepares dataDir, which must be empty or absent, so that a node started
// on it founds a new cluster (a new cluster id, that node its only voter)
// holding the backup's state. Other nodes then join it as usual.
func Restore(path, dataDir string, log *slog.Logger) (backup.Info, error) {
	f, err := backup.Open(path)
	if err != nil {
		return backup.Info{}, err
	}
	defer f.Close()
	entries, err := os.ReadDir(dataDir)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return f.Info, err
	case len(entries) > 0:
		return f.Info, fmt.Errorf("%s is not empty: restore into an empty or new data dir", dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return f.Info, fmt.Errorf("creating the data dir: %w", err)
	}
	id, err := plant(dataDir, f)
	if err != nil {
		// Leave the data dir empty, so the restore can simply be retried.
		for _, name := range []string{"raft", "cluster-id", "cluster-id.tmp"} {
			os.RemoveAll(filepath.Join(dataDir, name))
		}
		return f.Info, err
	}
	log.Info("data dir prepared: start a node on it to found the restored cluster", "data_dir", dataDir,
		"index", f.Index, "cluster_id", id, "source_cluster_id", f.ClusterID)
	return f.Info, nil
}

func plant(dataDir string, f *backup.File) (string, error) {
	if err := raftnet.PlantSeed(dataDir, f.Index, f.Term, f.Payload()); err != nil {
		return "", err
	}
	return membership.NewCluster(dataDir)
}
