package raftnet

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// Sentinel errors. Errors that crossed the cluster port are re-created on the
// calling side, so errors.Is works the same whether the leader was local or
// remote.
var (
	// ErrNoLeader: no leader became known before the deadline. The command
	// was not submitted; retrying later is safe.
	ErrNoLeader = errors.New("raftnet: no leader")
	// ErrNotLeader: the node asked to act as leader is not (or no longer)
	// the leader. The command was not submitted.
	ErrNotLeader = errors.New("raftnet: not the leader")
	// ErrNotFresh: this node cannot vouch that its state is current (see
	// Node.Fresh).
	ErrNotFresh = errors.New("raftnet: no recent contact with a leader")
	// ErrUnknownOutcome: the command was submitted but we cannot tell whether
	// it committed (leadership lost after append, connection to the leader
	// lost after sending, caller's context ended while waiting). Commands
	// must therefore be idempotent or deduplicated by the FSM.
	ErrUnknownOutcome = errors.New("raftnet: outcome unknown")
	// ErrLeadershipLost: the leader lost leadership after appending the
	// command. Always returned together with ErrUnknownOutcome (errors.Is
	// matches both): the command may still commit under the next leader.
	ErrLeadershipLost = errors.New("raftnet: leadership lost")
	// ErrEnqueueTimeout: the leader could not even enqueue the command
	// before the deadline; it was not submitted.
	ErrEnqueueTimeout = errors.New("raftnet: enqueue timeout")
	// ErrShutdown: this node (or the remote one) is shutting down.
	ErrShutdown = errors.New("raftnet: shut down")
	// ErrAuth: the peer did not prove knowledge of the cluster secret (or
	// refused our proof).
	ErrAuth = errors.New("raftnet: cluster authentication failed")
	// ErrUnknownMethod: no handler is registered for an RPC method.
	ErrUnknownMethod = errors.New("raftnet: unknown rpc method")
)

// FSMError carries an error value returned by the FSM's Apply. The command
// was committed and applied; the state machine merely answered with an error.
// It is distinct from the raftnet errors above, which are about whether the
// command reached the log at all.
type FSMError struct {
	Msg string
	err error // original value when the FSM ran on this node
}

func (e *FSMError) Error() string { return e.Msg }
func (e *FSMError) Unwrap() error { return e.err }

// unknownOutcome marks err (typically a transport failure after the request
// left) as ErrUnknownOutcome while keeping the cause inspectable.
func unknownOutcome(err error) error {
	if errors.Is(err, ErrUnknownOutcome) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
}

// mapRaftErr translates hashicorp errors to ours so callers never import raft
// just to classify a failure.
func mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, ErrLeadershipLost)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrEnqueueTimeout
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

// Wire error codes: the follower rebuilds the same sentinel the leader hit.
const (
	codeOK byte = iota
	codeGeneric
	codeNoLeader
	codeNotLeader
	codeUnknownOutcome
	codeLeadershipLost
	codeEnqueueTimeout
	codeShutdown
	codeFSM
	codeUnknownMethod
	codeDeadline
	codeCanceled
	codeDisk
)

func errCode(err error) byte {
	var fe *FSMError
	switch {
	case errors.As(err, &fe):
		return codeFSM
	case errors.Is(err, ErrLeadershipLost):
		return codeLeadershipLost
	case errors.Is(err, ErrUnknownOutcome):
		return codeUnknownOutcome
	case errors.Is(err, ErrNotLeader):
		return codeNotLeader
	case errors.Is(err, ErrNoLeader):
		return codeNoLeader
	case errors.Is(err, ErrEnqueueTimeout):
		return codeEnqueueTimeout
	case errors.Is(err, ErrShutdown):
		return codeShutdown
	case errors.Is(err, ErrUnknownMethod):
		return codeUnknownMethod
	case errors.Is(err, ErrDisk):
		return codeDisk
	// A handler that ran out of time does not know what it left done: the
	// caller gets ErrUnknownOutcome and the context error.
	case errors.Is(err, context.DeadlineExceeded):
		return codeDeadline
	case errors.Is(err, context.Canceled):
		return codeCanceled
	}
	return codeGeneric
}

// RemoteError is an error returned by a handler on another node.
type RemoteError struct {
	Addr, Method, Msg string
	sentinel          []error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("raftnet: %s on %s: %s", e.Method, e.Addr, e.Msg)
}

func (e *RemoteError) Unwrap() []error { return e.sentinel }

func remoteErr(addr, method string, code byte, msg string) error {
	if code == codeFSM {
		return &FSMError{Msg: msg}
	}
	var s []error
	switch code {
	case codeNoLeader:
		s = []error{ErrNoLeader}
	case codeNotLeader:
		s = []error{ErrNotLeader}
	case codeUnknownOutcome:
		s = []error{ErrUnknownOutcome}
	case codeLeadershipLost:
		s = []error{ErrUnknownOutcome, ErrLeadershipLost}
	case codeEnqueueTimeout:
		s = []error{ErrEnqueueTimeout}
	case codeShutdown:
		s = []error{ErrShutdown}
	case codeUnknownMethod:
		s = []error{ErrUnknownMethod}
	case codeDeadline:
		s = []error{ErrUnknownOutcome, context.DeadlineExceeded}
	case codeCanceled:
		s = []error{ErrUnknownOutcome, context.Canceled}
	case codeDisk:
		s = []error{ErrDisk}
	}
	return &RemoteError{Addr: addr, Method: method, Msg: msg, sentinel: s}
}
