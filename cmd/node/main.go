// Command korum runs one Korum node. See README.md, or `korum --help`.
package main

import (
	"context"
	"errors"
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
	n, err := node.Start(ctx, cfg, log)
	if err != nil {
		log.Error("could not start", "err", err)
		return exitStart
	}
	select {
	case <-ctx.Done():
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
