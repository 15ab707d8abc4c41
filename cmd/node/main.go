// Command korum runs one Korum node. See README.md, or `korum --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/korumdb/korum/fsm"
	"github.com/korumdb/korum/membership"
	"github.com/korumdb/korum/node"
)

// Exit codes: operators and supervisors tell failures apart by them.
const (
	exitOK     = 0
	exitFatal  = 1 // the node failed while running
	exitConfig = 2 // bad configuration or command line
	exitStart  = 3 // the node could not start
	// exitHalted: the node could not apply a committed log entry (disk
	// full, I/O error). It stops rather than skip the entry; restarted, it
	// replays the entry from its snapshot and the log.
	exitHalted = 15
)

// abortWait bounds the cleanup of a node that must terminate.
const abortWait = 500 * time.Millisecond

func main() { os.Exit(run()) }

func run() int {
	if len(os.Args) > 1 && os.Args[1] == "recover" {
		return recoverCmd(os.Args[2:])
	}
	if len(os.Args) > 1 && os.Args[1] == "snapshot" {
		return snapshotCmd(os.Args[2:])
	}
	if len(os.Args) > 1 && os.Args[1] == "tls" {
		return tlsCmd(os.Args[2:], os.Stdout, os.Stderr)
	}
	cfg, err := node.ParseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, node.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "korum:", err)
		return exitConfig
	}
	log := newLogger(cfg.Log)
	tuneGC(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the TLS certificates, connections staying open. It is
	// caught from the start so that an early one does not kill the node; a
	// reload asked while starting is done once started.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	n, err := node.Start(ctx, cfg, log)
	if err != nil && ctx.Err() != nil {
		// Stopped while starting, e.g. while waiting for
		// cluster.minimumNodes nodes: a requested stop, not a failure.
		log.Info("stopped before the node started", "err", err)
		return exitOK
	}
	if err != nil {
		log.Error("could not start", "err", err)
		return exitStart
	}
	go func() {
		for range hup {
			_ = n.ReloadTLS() // logged; a pair that fails to load is not swapped in
		}
	}()
	select {
	case <-ctx.Done():
	case <-n.ShutdownRequested():
		log.Info("shutdown asked through the API (admin:shutdown)")
	case err := <-n.Fatal():
		var ex *membership.Exit
		var halt *fsm.HaltError
		if errors.As(err, &halt) {
			ex = &membership.Exit{Code: exitHalted, Reason: halt.Error()}
			log.Error("terminating", "reason", ex.Reason, "code", ex.Code)
		}
		if ex != nil || errors.As(err, &ex) {
			// The cluster's rules say this node must stop (it lost the
			// quorum, lags, or was removed): no graceful leave, its
			// supervisor restarts it and it rejoins. Exit promptly: a
			// Raft shutdown can wait on dials to unreachable peers, and
			// everything on disk is crash-safe.
			done := make(chan struct{})
			go func() { n.Abort(); close(done) }()
			select {
			case <-done:
			case <-time.After(abortWait):
				log.Warn("exiting before the shutdown finished", "waited", abortWait)
			}
			return ex.Code
		}
		log.Error("node failed", "err", err)
		shutdown(n, log)
		return exitFatal
	}
	log.Info("shutting down")
	if err := shutdown(n, log); err != nil {
		return exitFatal
	}
	return exitOK
}

// recoverCmd is `korum recover --data-dir DIR --peers id=host:port,...`:
// the survivors of a cluster whose majority is gone for good rewrite their
// Raft configuration, while stopped, then start as that cluster.
func recoverCmd(args []string) int {
	fs := flag.NewFlagSet("korum recover", flag.ContinueOnError)
	// The node's own variables give the defaults, so the command runs in
	// the node's environment (a container's) as it is.
	dataDir := fs.String("data-dir", envOr("KORUM_DATA_DIR", "./data"), "data directory of the stopped node (KORUM_DATA_DIR)")
	nodeID := fs.String("node-id", os.Getenv("KORUM_NODE_ID"), "the node's id (KORUM_NODE_ID; default: the one kept in the data dir)")
	peers := fs.String("peers", "", "the new voters, this node included: id=host:port,id=host:port (cluster addresses)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: korum recover --data-dir DIR --peers id=host:port[,id=host:port...]")
		fmt.Fprintln(fs.Output(), "Run with the node stopped, with the same --peers on every survivor, then start them.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	servers, err := node.ParsePeers(*peers)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "korum recover:", err)
		return exitConfig
	}
	log := newLogger(node.LogConfig{Level: "info", Format: "text"})
	if err := node.Recover(*dataDir, *nodeID, servers, log); err != nil {
		fmt.Fprintln(os.Stderr, "korum recover:", err)
		return exitFatal
	}
	log.Info("Raft configuration rewritten; start the node (and the other peers) now", "data_dir", *dataDir, "peers", *peers)
	return exitOK
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func shutdown(n *node.Node, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := n.Stop(ctx)
	if err != nil {
		log.Error("unclean shutdown", "err", err)
	}
	return err
}

func newLogger(c node.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
