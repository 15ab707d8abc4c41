//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
)

// readSubscribers reads every subscriber from one goroutine driven by
// epoll: with thousands of sockets, a goroutine each would cost the load
// generator more in scheduling than in reading, and would queue the
// writer's acknowledgements behind thousands of runnable readers.
func readSubscribers(subs []*subscriber) error {
	if rawTLS != nil {
		readEach(subs)
		return nil
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll: %w", err)
	}
	for i, s := range subs {
		sc, ok := s.conn.(syscall.Conn)
		if !ok {
			return errors.New("a subscriber's connection has no descriptor")
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return err
		}
		// The reactor reads a duplicate of the descriptor, and the
		// connection is closed: Go's own poller then forgets the socket
		// instead of being woken by every notification too.
		var dupErr error
		if err := raw.Control(func(fd uintptr) { s.fd, dupErr = syscall.Dup(int(fd)) }); err != nil {
			return err
		}
		if dupErr != nil {
			return fmt.Errorf("dup: %w", dupErr)
		}
		syscall.CloseOnExec(s.fd)
		s.conn.Close()
		s.detached = true
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(i)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
			return fmt.Errorf("epoll: %w", err)
		}
	}
	go func() {
		events := make([]syscall.EpollEvent, 256)
		buf := make([]byte, 256<<10)
		for {
			n, err := syscall.EpollWait(epfd, events, -1)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "wsload: epoll:", err)
				return
			}
			for _, ev := range events[:n] {
				s := subs[ev.Fd]
				if err := s.readReady(buf); err != nil {
					_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
					s.end(err)
				}
			}
			// Let the writer's goroutines have their turn between batches.
			runtime.Gosched()
		}
	}()
	return nil
}

// readReady reads what the socket holds; the reads return at once: the
// descriptor is non-blocking.
func (s *subscriber) readReady(buf []byte) error {
	for {
		n, err := syscall.Read(s.fd, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		if err := s.dec.feed(buf[:n]); err != nil {
			return err
		}
		if n < len(buf) {
			return nil
		}
	}
}

func (s *subscriber) write(p []byte) {
	if s.detached {
		// Only pongs come here, small enough for any socket buffer; a
		// full one means the node is not reading, and the run is lost
		// anyway.
		_, _ = syscall.Write(s.fd, p)
		return
	}
	_, _ = s.conn.Write(p)
}

func (s *subscriber) close() {
	if s.detached {
		_ = syscall.Close(s.fd)
		return
	}
	_ = s.conn.Close()
}
