package raftnet

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"
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
	if !hasLogState(dir) {
		return fmt.Errorf("raftnet: recover: no Raft state in %s", cfg.DataDir)
	}
	store, _, err := openLogStore(dir, cfg.Logger)
	if err != nil {
		return fmt.Errorf("raftnet: recover (is the node still running?): %w", err)
	}
	defer store.Close()
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
	if err := raft.RecoverCluster(rc, newFSMAdapter(fsm), store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("raftnet: recover: %w", err)
	}
	return nil
}
