package raftnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

func TestRPCHandleCall(t *testing.T) {
	a := startNode(t, testConfig(t, "a", true), newTestFSM(false))
	b := startNode(t, testConfig(t, "b", false), newTestFSM(false))

	b.Handle("echo", func(ctx context.Context, req []byte) ([]byte, error) {
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("caller's deadline did not travel")
		}
		return append([]byte("echo:"), req...), nil
	})
	b.Handle("notleader", func(context.Context, []byte) ([]byte, error) {
		return nil, fmt.Errorf("wrapped: %w", ErrNotLeader)
	})
	b.Handle("boom", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("kaput") })
	b.Handle("panic", func(context.Context, []byte) ([]byte, error) { panic("handler bug") })
	b.Handle("slow", func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})

	ctx := ctxFor(t, 10*time.Second)
	got, err := a.Call(ctx, b.Addr(), "echo", []byte("hi"))
	if err != nil || string(got) != "echo:hi" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if _, err := a.Call(ctx, b.Addr(), "notleader", nil); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("sentinel across the wire: got %v", err)
	}
	_, err = a.Call(ctx, b.Addr(), "boom", nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "kaput" || re.Addr != b.Addr() {
		t.Fatalf("remote error: got %#v", err)
	}
	if _, err := a.Call(ctx, b.Addr(), "panic", nil); err == nil || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("panicking handler: got %v, want a plain remote error", err)
	}
	if _, err := a.Call(ctx, b.Addr(), "nope", nil); !errors.Is(err, ErrUnknownMethod) {
		t.Fatalf("unknown method: got %v", err)
	}

	// A caller giving up leaves the outcome unknown but the connection usable.
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Call(short, b.Addr(), "slow", nil); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("timed-out call: got %v, want ErrUnknownOutcome", err)
	}

	// Many concurrent calls share the connection and each gets its own answer.
	big := make([]byte, 1<<20)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := []byte(fmt.Sprint(i))
			if i%10 == 0 {
				req = append(req, big...)
			}
			got, err := a.Call(ctx, b.Addr(), "echo", req)
			if err != nil || string(got) != "echo:"+string(req) {
				t.Errorf("call %d: %d bytes, %v", i, len(got), err)
			}
		}()
	}
	wg.Wait()

	// A peer restart is noticed by the connection; the next call redials.
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Call(ctxFor(t, 2*time.Second), b.cfg.BindAddr, "echo", nil); err == nil {
		t.Fatal("call to a stopped node succeeded")
	}
	b2 := startNode(t, b.cfg, newTestFSM(false))
	b2.Handle("echo", func(_ context.Context, req []byte) ([]byte, error) { return req, nil })
	waitFor(t, 5*time.Second, "call to restarted peer", func() bool {
		got, err := a.Call(ctxFor(t, 2*time.Second), b2.Addr(), "echo", []byte("again"))
		return err == nil && string(got) == "again"
	})
}

// A peer that accepts but never answers (like one behind a partition that
// drops packets after SYN) must not hold callers beyond their own deadlines,
// nor Shutdown.
func TestCallToSilentPeerRespectsDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	a := startNode(t, testConfig(t, "a", false), newTestFSM(false))

	slow := make(chan error, 1)
	go func() {
		_, err := a.Call(ctxFor(t, 3*time.Second), ln.Addr().String(), "x", nil)
		slow <- err
	}()
	start := time.Now()
	_, err = a.Call(ctxFor(t, 200*time.Millisecond), ln.Addr().String(), "x", nil)
	if err == nil {
		t.Fatal("call to a silent peer succeeded")
	}
	if errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("nothing was sent, yet: %v", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("caller with a 200ms deadline was held %s", waited)
	}
	start = time.Now()
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := <-slow; err == nil {
		t.Fatal("slow call succeeded")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("shutdown (and the pending dial) took %s", waited)
	}
}
