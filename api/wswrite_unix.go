//go:build unix

package api

import (
	"io"
	"syscall"
)

// nbWrite writes to a socket without blocking. Its callback is bound once
// per connection, so a write allocates nothing.
type nbWrite struct {
	raw syscall.RawConn
	fn  func(uintptr) bool
	b   []byte
	n   int
	err error
}

func (w *nbWrite) init(raw syscall.RawConn) {
	w.raw = raw
	w.fn = w.attempt
}

// write writes what the socket takes of b now; n < len(b) with a nil
// error means the rest would block.
func (w *nbWrite) write(b []byte) (int, error) {
	if w.raw == nil {
		return 0, nil
	}
	w.b, w.n, w.err = b, 0, nil
	err := w.raw.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.b, w.err = nil, nil
	return n, err
}

// attempt runs with the descriptor's write lock held and returns true
// whatever happened: RawConn must not wait for the socket to drain.
func (w *nbWrite) attempt(fd uintptr) bool {
	for w.n < len(w.b) {
		m, err := syscall.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.err = err
			return true
		case m == 0:
			w.err = io.ErrShortWrite
			return true
		}
	}
	return true
}
