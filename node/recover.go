package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/raftnet"
	"github.com/korumdb/korum/storage/embedded"
)

// Recover is `korum recover`: it rewrites the Raft configuration in a
// stopped node's data dir to peers, all voters, so survivors of a cluster
// whose majority is gone for good can form a cluster again (see
// raftnet.Recover for what is kept and what may be lost). nodeID is the
// node's id; empty reads it from the data dir. Run it with the same peers
// on every survivor, then start them.
func Recover(dataDir, nodeID string, peers []raftnet.Server, log *slog.Logger) error {
	if nodeID == "" {
		b, err := os.ReadFile(filepath.Join(dataDir, "node-id"))
		if err != nil {
			return fmt.Errorf("reading the node id (give --node-id): %w", err)
		}
		nodeID = strings.TrimSpace(string(b))
	}
	store, err := openStore(dataDir, embedded.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("%w (is the node still running?)", err)
	}
	defer store.Close()
	return raftnet.Recover(raftnet.Config{NodeID: nodeID, DataDir: dataDir, Logger: log}, fsm.New(store, nil, log), peers)
}

// ParsePeers reads `id=host:port,id=host:port`, the list of `korum recover
// --peers`.
func ParsePeers(s string) ([]raftnet.Server, error) {
	var out []raftnet.Server
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, addr, ok := strings.Cut(item, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok || id == "" {
			return nil, fmt.Errorf("peer %q: want id=host:port", item)
		}
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("peer %q: %q is not a host:port cluster address", item, addr)
		}
		if seen[id] || seen[addr] {
			return nil, fmt.Errorf("peer %q: id or address given twice", item)
		}
		seen[id], seen[addr] = true, true
		out = append(out, raftnet.Server{ID: id, Address: addr, Suffrage: raftnet.Voter})
	}
	if len(out) == 0 {
		return nil, errors.New("no peers: give id=host:port for every surviving node, this one included")
	}
	return out, nil
}
