//go:build !unix

package api

import "syscall"

// nbWrite never writes where there is no portable non-blocking write:
// every queue then goes to a slow writer.
type nbWrite struct{}

func (w *nbWrite) init(syscall.RawConn) {}

func (w *nbWrite) write([]byte) (int, error) { return 0, nil }
