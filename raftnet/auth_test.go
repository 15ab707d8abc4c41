package raftnet

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestHandshake(t *testing.T) {
	cases := []struct {
		name                   string
		dialSecret, listSecret string
		wantOK                 bool
	}{
		{"same secret", "s", "s", true},
		{"empty secrets on both sides", "", "", true},
		{"different secrets", "s", "t", false},
		{"dialer without secret", "", "t", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, l := net.Pipe()
			defer d.Close()
			defer l.Close()
			type res struct {
				svc byte
				err error
			}
			lc := make(chan res, 1)
			go func() {
				svc, err := listenHandshake(l, []byte(tc.listSecret))
				l.Close() // as the mux does on failure; harmless on success here
				lc <- res{svc, err}
			}()
			derr := dialHandshake(d, []byte(tc.dialSecret), serviceRPC)
			d.Close()
			lr := <-lc
			if tc.wantOK {
				if derr != nil || lr.err != nil || lr.svc != serviceRPC {
					t.Fatalf("dial err %v, listen err %v, service %d", derr, lr.err, lr.svc)
				}
				return
			}
			if !errors.Is(derr, ErrAuth) {
				t.Fatalf("dialer: got %v, want ErrAuth", derr)
			}
			if !errors.Is(lr.err, ErrAuth) {
				t.Fatalf("listener: got %v, want ErrAuth", lr.err)
			}
		})
	}
}

// An impostor who knows the listener's proof format but not the secret
// cannot produce the dialer's answer, even by replaying the listener's MAC.
func TestHandshakeRejectsReflectedProof(t *testing.T) {
	d, l := net.Pipe()
	defer d.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := listenHandshake(l, []byte("secret"))
		l.Close()
		errc <- err
	}()
	hello := append(append([]byte{}, authMagic[:]...), authVersion)
	hello = append(hello, make([]byte, nonceLen)...)
	d.Write(hello)
	reply := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(d, reply); err != nil {
		t.Fatal(err)
	}
	d.Write(append(reply[nonceLen:], serviceRaft)) // echo its own proof
	if err := <-errc; !errors.Is(err, ErrAuth) {
		t.Fatalf("reflected proof: got %v, want ErrAuth", err)
	}
}

func TestWrongSecretCannotJoinNorSpeakRaft(t *testing.T) {
	nodes := cluster3(t)
	leader := waitLeaderAmong(t, nodes...)
	mustApply(t, leader, "before")
	termBefore := leader.Stats().Term

	// A node with the wrong secret cannot join, through any member.
	badCfg := testConfig(t, "intruder", false)
	badCfg.Secret = "wrong"
	bad := startNode(t, badCfg, newTestFSM(false))
	seeds := []string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}
	err := bad.JoinCluster(ctxFor(t, 10*time.Second), seeds, true)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("join with wrong secret: got %v, want ErrAuth", err)
	}
	if err := JoinCluster(ctxFor(t, 10*time.Second), bad.cfg, seeds, false); !errors.Is(err, ErrAuth) {
		t.Fatalf("package-level join with wrong secret: got %v, want ErrAuth", err)
	}
	// Nor call any RPC.
	if _, err := bad.Call(ctxFor(t, 5*time.Second), leader.Addr(), methodApply, []byte("smuggled")); !errors.Is(err, ErrAuth) {
		t.Fatalf("rpc with wrong secret: got %v, want ErrAuth", err)
	}

	// Nor speak Raft: a transport with the wrong secret trying to win an
	// election with a huge term must not even get a connection.
	stream := &streamLayer{m: bad.mux, closed: make(chan struct{})}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: stream, MaxPool: 1, Timeout: 2 * time.Second, Logger: newHclog(testLogger(t), "intruder")})
	defer trans.Close()
	var resp raft.RequestVoteResponse
	err = trans.RequestVote(raft.ServerID(leader.ID()), raft.ServerAddress(leader.Addr()), &raft.RequestVoteRequest{
		RPCHeader:    raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(bad.Addr())},
		Term:         termBefore + 1000,
		LastLogIndex: 1 << 40,
		LastLogTerm:  termBefore + 1000,
	}, &resp)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("raft RPC with wrong secret: got %v, want ErrAuth", err)
	}

	// The cluster is unaffected.
	checkUndisturbed(t, nodes, leader, termBefore)
}

func TestSilentPeerDoesNotBlockAccept(t *testing.T) {
	cfg := testConfig(t, "solo", true)
	cfg.HandshakeTimeout = 300 * time.Millisecond
	n := startNode(t, cfg, newTestFSM(false))
	waitLeaderAmong(t, n)

	// Several connections that never speak…
	var silent []net.Conn
	for range 5 {
		silent = append(silent, rawDial(t, n.Addr()))
	}
	// …do not stop a real peer from calling in meanwhile.
	n.Handle("ping", func(context.Context, []byte) ([]byte, error) { return []byte("pong"), nil })
	if got, err := n.Call(ctxFor(t, 5*time.Second), n.Addr(), "ping", nil); err != nil || string(got) != "pong" {
		t.Fatalf("call while silent peers hang: %q, %v", got, err)
	}
	// And the silent ones are cut after the handshake deadline.
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, 1)); err == nil || errors.Is(err, net.ErrClosed) {
			t.Fatalf("silent connection: read %v, want EOF from the server closing it", err)
		}
	}
	waitFor(t, 5*time.Second, "silent peers counted as rejected", func() bool { return n.Stats().AuthFailures >= 5 })

	// Garbage instead of a hello is rejected at once.
	g := rawDial(t, n.Addr())
	g.Write([]byte("GET / HTTP/1.1\r\n\r\n" + string(make([]byte, 64))))
	g.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(g, make([]byte, 1)); err == nil {
		t.Fatal("server answered garbage")
	}
}
