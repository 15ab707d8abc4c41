package raftnet

import (
	"context"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDiskGuardTripsAndRecovers(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)

	if err := newDiskGuard(dir, 1<<62, quiet).err(); err == nil || !strings.Contains(err.Error(), "bytes free") {
		t.Fatalf("free space below the threshold must trip the guard: %v", err)
	}

	g := newDiskGuard(dir, 0, quiet)
	if err := g.err(); err != nil {
		t.Fatalf("a healthy disk: %v", err)
	}
	trips := make(chan struct{}, 4)
	g.onTrip = func() { trips <- struct{}{} }
	g.fail(&fs.PathError{Op: "write", Path: dir + "/raft/raft.db", Err: syscall.ENOSPC})
	err := g.err()
	if err == nil || !strings.Contains(err.Error(), "no space left") || strings.Contains(err.Error(), dir) {
		t.Fatalf("after a failed write: %v (must say why, without the path)", err)
	}
	select {
	case <-trips:
	case <-time.After(5 * time.Second):
		t.Fatal("onTrip did not run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if g.wait(ctx) == nil {
		t.Fatal("wait returned while the guard was tripped")
	}
	// The disk has room again: the next check's probe write clears it.
	g.check()
	if err := g.err(); err != nil {
		t.Fatalf("after a successful probe: %v", err)
	}
	if err := g.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
