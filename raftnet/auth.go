package raftnet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
)

// Connection authentication on the cluster port.
//
// Both sides prove knowledge of the shared secret without sending it, and
// each proof is bound to nonces the *other* side chose, so a recorded
// exchange cannot be replayed:
//
//	dialer   → listener: "KRM" version nonceD[32]
//	listener → dialer:   nonceL[32] HMAC(secret, "korum-raftnet-listener" nonceD nonceL)
//	dialer   → listener: HMAC(secret, "korum-raftnet-dialer" nonceD nonceL service) service
//
// The dialer checks the listener's proof before sending its own, so a dialer
// never talks to an impostor. The role labels differ so one side's proof can
// never be reflected back as the other's. The service byte is inside the
// dialer's MAC so an attacker cannot redirect an authenticated connection to
// another service. MACs are compared in constant time (hmac.Equal).
//
// This authenticates the peers at connect time; it does not encrypt or
// integrity-protect the bytes that follow. An attacker able to rewrite
// traffic on the cluster network can still hijack an established connection:
// run the cluster port on a private network (or add TLS under the mux).

const (
	authVersion   byte = 1
	nonceLen           = 32
	macLen             = sha256.Size
	labelListener      = "korum-raftnet-listener"
	labelDialer        = "korum-raftnet-dialer"
)

var authMagic = [3]byte{'K', 'R', 'M'}

// Services multiplexed on the cluster port.
const (
	serviceRaft byte = 1
	serviceRPC  byte = 2
)

func authMAC(secret []byte, label string, nonceD, nonceL []byte, extra ...byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(nonceD)
	m.Write(nonceL)
	m.Write(extra)
	return m.Sum(nil)
}

// dialHandshake runs the dialer's side; conn's deadline is the caller's job.
func dialHandshake(conn net.Conn, secret []byte, service byte) error {
	hello := make([]byte, 4+nonceLen)
	copy(hello, authMagic[:])
	hello[3] = authVersion
	nonceD := hello[4:]
	if _, err := rand.Read(nonceD); err != nil {
		return fmt.Errorf("raftnet: nonce: %w", err)
	}
	if _, err := conn.Write(hello); err != nil {
		return fmt.Errorf("raftnet: handshake with %s: %w", conn.RemoteAddr(), err)
	}
	reply := make([]byte, nonceLen+macLen)
	if _, err := io.ReadFull(conn, reply); err != nil {
		// A listener that rejects us closes without a word: most likely a
		// different secret-less version or not a Korum port at all.
		return fmt.Errorf("raftnet: handshake with %s: %w", conn.RemoteAddr(), err)
	}
	nonceL, proof := reply[:nonceLen], reply[nonceLen:]
	if !hmac.Equal(proof, authMAC(secret, labelListener, nonceD, nonceL)) {
		return fmt.Errorf("%w: %s did not prove the cluster secret", ErrAuth, conn.RemoteAddr())
	}
	answer := append(authMAC(secret, labelDialer, nonceD, nonceL, service), service)
	if _, err := conn.Write(answer); err != nil {
		return fmt.Errorf("raftnet: handshake with %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}

// listenHandshake runs the listener's side and returns the service the
// authenticated dialer asked for.
func listenHandshake(conn net.Conn, secret []byte) (byte, error) {
	hello := make([]byte, 4+nonceLen)
	if _, err := io.ReadFull(conn, hello); err != nil {
		return 0, fmt.Errorf("reading hello: %w", err)
	}
	if [3]byte(hello[:3]) != authMagic || hello[3] != authVersion {
		return 0, fmt.Errorf("%w: bad magic or version %x", ErrAuth, hello[:4])
	}
	nonceD := hello[4:]
	reply := make([]byte, nonceLen+macLen)
	nonceL := reply[:nonceLen]
	if _, err := rand.Read(nonceL); err != nil {
		return 0, fmt.Errorf("nonce: %w", err)
	}
	copy(reply[nonceLen:], authMAC(secret, labelListener, nonceD, nonceL))
	if _, err := conn.Write(reply); err != nil {
		return 0, fmt.Errorf("writing challenge: %w", err)
	}
	answer := make([]byte, macLen+1)
	if _, err := io.ReadFull(conn, answer); err != nil {
		// The usual symptom of a dialer with another secret: it rejected our
		// proof and hung up.
		return 0, fmt.Errorf("%w: dialer hung up before proving the secret: %w", ErrAuth, err)
	}
	service := answer[macLen]
	if !hmac.Equal(answer[:macLen], authMAC(secret, labelDialer, nonceD, nonceL, service)) {
		return 0, fmt.Errorf("%w: dialer's proof does not match the cluster secret", ErrAuth)
	}
	if service != serviceRaft && service != serviceRPC {
		return 0, fmt.Errorf("unknown service %d", service)
	}
	return service, nil
}
