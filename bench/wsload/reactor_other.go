//go:build !linux

package main

// readSubscribers reads each subscriber from a goroutine of its own where
// there is no epoll.
func readSubscribers(subs []*subscriber) error {
	for _, s := range subs {
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := s.conn.Read(buf)
				if err == nil {
					err = s.dec.feed(buf[:n])
				}
				if err != nil {
					s.end(err)
					return
				}
			}
		}()
	}
	return nil
}

func (s *subscriber) write(p []byte) { _, _ = s.conn.Write(p) }

func (s *subscriber) close() { _ = s.conn.Close() }
