package realtime

// Sizes counts this node's rooms and subscriptions (connection and room
// pairs). It walks the rooms: meant for metrics scrapes and
// server:metrics, not for a hot path.
func (h *Hub) Sizes() (rooms, subscriptions int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, r := range h.rooms {
		subscriptions += len(r.conns)
	}
	return len(h.rooms), subscriptions
}
