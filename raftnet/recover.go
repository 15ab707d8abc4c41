package raftnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Recover rewrites the Raft configuration stored in cfg.DataDir to servers
// (all voters), for a cluster whose quorum is gone for good: run it, with
// the node stopped, on each survivor with the same list, then start them.
// It is hashicorp/raft's RecoverCluster (what Consul's peers.json does): the
// FSM is rebuilt from the latest snapshot and every entry of the local log,
// committed or not, then a snapshot carrying the new configuration replaces
// the log. Entries this node had but the lost majority never committed are
// therefore kept, and writes the lost nodes committed but this node never
// received are lost: that is the price of recovering without a quorum.
//
// cfg.NodeID must be one of servers. The bbolt lock makes Recover fail on a
// data dir that a running node holds.
func Recover(cfg Config, fsm FSM, servers []Server) error {
	cfg = cfg.withDefaults()
	if cfg.NodeID == "" || cfg.DataDir == "" {
		return errors.New("raftnet: recover needs Config.NodeID and Config.DataDir")
	}
	if fsm == nil {
		return errors.New("raftnet: recover: nil FSM")
	}
	var conf raft.Configuration
	self := false
	for _, s := range servers {
		self = self || s.ID == cfg.NodeID
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if !self {
		return fmt.Errorf("raftnet: recover: the new configuration %v must contain this node (%s)", servers, cfg.NodeID)
	}
	dir := filepath.Join(cfg.DataDir, "raft")
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		return fmt.Errorf("raftnet: recover: no Raft state in %s: %w", cfg.DataDir, err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: boltOptions()})
	if err != nil {
		return fmt.Errorf("raftnet: recover: open raft log %s (is the node still running?): %w", dir, err)
	}
	defer bolt.Close()
	raftLog := newHclog(cfg.Logger.With("node", cfg.NodeID), "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, raftLog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("raftnet: recover: snapshot store: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = raftLog
	// The transport is only consulted to encode peers in the snapshot's
	// metadata; nothing is dialled.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	defer trans.Close()
	if err := raft.RecoverCluster(rc, newFSMAdapter(fsm), bolt, bolt, snaps, trans, conf); err != nil {
		return fmt.Errorf("raftnet: recover: %w", err)
	}
	return nil
}
