package jepsen

import (
	"fmt"
	"sort"
	"time"
)

// Subscription workload: subscribers subscribe through random nodes to the
// documents of one topic (shard); writers create documents of that topic
// through random nodes. Document ids are unique in a run.

// SubSession is one subscription lifetime of a subscriber: from the moment
// subscribe returned to the moment the connection ended (or the run ended
// after draining). A subscriber whose node exits starts a new session.
type SubSession struct {
	Sub     int    `json:"sub"`
	Session int    `json:"session"`
	Node    string `json:"node"`
	Shard   int    `json:"shard"`
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Ended   string `json:"ended"` // "drained" or the error that ended it
}

// Notification is one document notification a session received.
type Notification struct {
	Sub     int    `json:"sub"`
	Session int    `json:"session"`
	DocID   string `json:"docId"`
	Shard   int    `json:"shard"`
	At      int64  `json:"at"`
}

// SubWrite is one document creation by a writer.
type SubWrite struct {
	DocID   string  `json:"docId"`
	Node    string  `json:"node"`
	Shard   int     `json:"shard"`
	Outcome Outcome `json:"outcome"`
	Err     string  `json:"err,omitempty"`
	Call    int64   `json:"call"`
	Return  int64   `json:"return"`
}

// Window is a time interval in ns since the run's epoch.
type Window struct{ From, To int64 }

// SubHistory is everything the subscription checker needs. Impaired lists,
// per node, the windows during which the node was not in the majority
// (isolated, in the minority, paused, killed, or recovering from it): a
// session on that node is not required to receive writes overlapping them.
type SubHistory struct {
	Sessions      []SubSession
	Notifications []Notification
	Writes        []SubWrite
	Impaired      map[string][]Window
}

// SubStats is the honest account of what the subscription checker saw.
type SubStats struct {
	Required   int // (session, write) pairs that had to be delivered
	Delivered  int // of those, delivered
	Excused    int // pairs not required: the session's node was impaired
	Gap        int // acknowledged writes that fell between two sessions of a subscriber
	Redeliver  int // writes a subscriber received in two sessions (allowed)
	Sessions   int
	Reconnects int
}

// NotifyGrace is how long after a write's acknowledgement a notification
// may still be in flight (the subscriber's node applies the entry after
// the leader acknowledged it).
const NotifyGrace = 2 * time.Second

func overlaps(ws []Window, from, to int64) bool {
	for _, w := range ws {
		if w.From <= to && from <= w.To {
			return true
		}
	}
	return false
}

// CheckSubscriptions checks delivery: each session receives every matching
// write acknowledged while it was live (invoked after subscribe returned,
// acknowledged NotifyGrace before the session ended) exactly once, unless
// its node was impaired meanwhile; no session receives a notification for
// a write that never happened, failed, or does not match its filter.
func CheckSubscriptions(h SubHistory) (SubStats, []Anomaly) {
	var st SubStats
	var an []Anomaly
	writes := map[string]SubWrite{}
	for _, w := range h.Writes {
		writes[w.DocID] = w
	}
	type sk struct{ sub, session int }
	got := map[sk]map[string]int{}
	perSub := map[int]map[string]int{}
	for _, n := range h.Notifications {
		k := sk{n.Sub, n.Session}
		if got[k] == nil {
			got[k] = map[string]int{}
		}
		got[k][n.DocID]++
		if perSub[n.Sub] == nil {
			perSub[n.Sub] = map[string]int{}
		}
		perSub[n.Sub][n.DocID]++
	}
	sessions := append([]SubSession(nil), h.Sessions...)
	sort.Slice(sessions, func(i, j int) bool {
		if sessions[i].Sub != sessions[j].Sub {
			return sessions[i].Sub < sessions[j].Sub
		}
		return sessions[i].Session < sessions[j].Session
	})
	bySession := map[sk]SubSession{}
	for _, s := range sessions {
		bySession[sk{s.Sub, s.Session}] = s
	}
	st.Sessions = len(sessions)
	for k, docs := range got {
		s, ok := bySession[k]
		for id, c := range docs {
			w, known := writes[id]
			switch {
			case !known:
				an = append(an, Anomaly{"subscriptions", fmt.Sprintf("subscriber %d session %d received %s, which no writer wrote", k.sub, k.session, id)})
			case w.Outcome == Fail:
				an = append(an, Anomaly{"subscriptions", fmt.Sprintf("subscriber %d session %d received %s, whose write failed", k.sub, k.session, id)})
			case ok && w.Shard != s.Shard:
				an = append(an, Anomaly{"subscriptions", fmt.Sprintf("subscriber %d session %d received %s of topic %d, not its topic %d", k.sub, k.session, id, w.Shard, s.Shard)})
			}
			if c > 1 {
				an = append(an, Anomaly{"subscriptions", fmt.Sprintf("subscriber %d session %d received %s %d times", k.sub, k.session, id, c)})
			}
		}
	}
	for _, docs := range perSub {
		for _, c := range docs {
			if c > 1 {
				st.Redeliver++
			}
		}
	}
	for i, s := range sessions {
		if i > 0 && sessions[i-1].Sub == s.Sub {
			st.Reconnects++
			prev := sessions[i-1]
			for _, w := range h.Writes {
				if w.Outcome == OK && w.Shard == s.Shard && w.Return > prev.To && w.Call < s.From {
					st.Gap++
				}
			}
		}
		for _, w := range h.Writes {
			if w.Outcome != OK || w.Shard != s.Shard || w.Call < s.From || w.Return+int64(NotifyGrace) > s.To {
				continue
			}
			if overlaps(h.Impaired[s.Node], w.Call, w.Return+int64(NotifyGrace)) {
				st.Excused++
				continue
			}
			st.Required++
			if got[sk{s.Sub, s.Session}][w.DocID] > 0 {
				st.Delivered++
			} else {
				an = append(an, Anomaly{"subscriptions", fmt.Sprintf("subscriber %d session %d on %s missed %s (written on %s, acknowledged at %s; session live %s–%s)",
					s.Sub, s.Session, s.Node, w.DocID, w.Node, time.Duration(w.Return), time.Duration(s.From), time.Duration(s.To))})
			}
		}
	}
	sort.Slice(an, func(i, j int) bool { return an[i].What < an[j].What })
	return st, an
}
