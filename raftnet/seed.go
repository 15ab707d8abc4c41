package raftnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/korumdb/korum/internal/durable"
)

// A seed is restored state (`korum snapshot restore`) waiting in a data dir
// for the node's first start, which founds a new one-voter cluster holding
// it. The Raft snapshot that carries it cannot be written ahead of that
// start: its configuration must name the node at the address it will
// advertise, which only the started node knows.
const (
	seedDir       = "seed"
	seedStateFile = "state"
	seedMetaFile  = "meta.json" // written last: its presence marks a complete seed
)

type seedMeta struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// PlantSeed stores a state machine snapshot (the bytes FSM.Restore reads)
// in dataDir, which must hold no Raft state, so that the node started on
// dataDir founds a new cluster, itself its only voter, whose log starts
// after index with that state applied. index and term are those of the
// last entry the state includes: every entry of the new cluster comes
// after them, so a state machine that skips entries it already holds skips
// none of the new ones.
func PlantSeed(dataDir string, index, term uint64, state io.Reader) error {
	if index == 0 {
		return errors.New("raftnet: a seed needs the index of its last entry")
	}
	has, err := HasState(dataDir)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("raftnet: %s already holds Raft state", dataDir)
	}
	dir := filepath.Join(dataDir, "raft", seedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("raftnet: seed: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dir, seedStateFile), state, 0o600); err != nil {
		return fmt.Errorf("raftnet: seed: %w", err)
	}
	meta, _ := json.Marshal(seedMeta{Index: index, Term: max(term, 1)})
	if err := durable.WriteFile(filepath.Join(dir, seedMetaFile), bytes.NewReader(meta), 0o600); err != nil {
		return fmt.Errorf("raftnet: seed: %w", err)
	}
	return durable.SyncDir(dir)
}

// readSeed returns the planted seed's metadata, or nil.
func readSeed(raftDir string) (*seedMeta, error) {
	b, err := os.ReadFile(filepath.Join(raftDir, seedDir, seedMetaFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("raftnet: reading the seed: %w", err)
	}
	var m seedMeta
	if err := json.Unmarshal(b, &m); err != nil || m.Index == 0 {
		return nil, fmt.Errorf("raftnet: the seed in %s is damaged (%s); restore again into an empty data dir", raftDir, b)
	}
	return &m, nil
}

// installSeed turns a planted seed into this node's first Raft state: a
// snapshot at the seed's index and term whose configuration is this node
// alone, at its advertised address, and a current term at the seed's, so
// that the terms of the new cluster's entries follow the snapshot's. Raft
// restores the snapshot into the state machine as it starts. A seed found
// beside existing Raft state was installed by a start that stopped before
// removing it: it is removed.
func (n *Node) installSeed(dir string, snaps raft.SnapshotStore, hasState bool) error {
	meta, err := readSeed(dir)
	if err != nil || meta == nil {
		return err
	}
	if !hasState {
		f, err := os.Open(filepath.Join(dir, seedDir, seedStateFile))
		if err != nil {
			return fmt.Errorf("raftnet: the seed's state: %w", err)
		}
		defer f.Close()
		conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: raft.ServerAddress(n.addr)}}}
		sink, err := snaps.Create(raft.SnapshotVersionMax, meta.Index, meta.Term, conf, meta.Index, n.trans)
		if err != nil {
			return fmt.Errorf("raftnet: seed snapshot: %w", err)
		}
		if _, err := io.Copy(sink, f); err != nil {
			sink.Cancel()
			return fmt.Errorf("raftnet: seed snapshot: %w", err)
		}
		if err := sink.Close(); err != nil {
			return fmt.Errorf("raftnet: seed snapshot: %w", err)
		}
		// hashicorp/raft's key for the current term (raft.go keyCurrentTerm).
		if err := n.store.SetUint64([]byte("CurrentTerm"), meta.Term); err != nil {
			return fmt.Errorf("raftnet: seed term: %w", err)
		}
		n.log.Info("founding a new cluster from restored state", "index", meta.Index, "term", meta.Term, "addr", n.addr)
	} else {
		n.log.Warn("removing a restored state already installed", "index", meta.Index)
	}
	if err := os.RemoveAll(filepath.Join(dir, seedDir)); err != nil {
		return fmt.Errorf("raftnet: removing the installed seed: %w", err)
	}
	return nil
}

// TermAt returns the term of the entry at index, from the log or the last
// snapshot; when neither holds it any more, the current term, which is at
// least that entry's.
func (n *Node) TermAt(index uint64) uint64 {
	var l raft.Log
	if err := n.logs.GetLog(index, &l); err == nil {
		return l.Term
	}
	st := n.raft.Stats()
	if st["last_snapshot_index"] == strconv.FormatUint(index, 10) {
		if t, err := strconv.ParseUint(st["last_snapshot_term"], 10, 64); err == nil {
			return t
		}
	}
	return n.raft.CurrentTerm()
}
