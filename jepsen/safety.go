package jepsen

import (
	"fmt"
	"sort"
)

// LeaderClaim is one observation: node Node said, at At, that Leader leads term Term.
// Only self-claims (Node == Leader) count as a node being leader. Cluster
// names the Raft group (standalone nodes are groups of one).
type LeaderClaim struct {
	Cluster string `json:"cluster,omitempty"`
	Node    string `json:"node"`
	Leader  string `json:"leader"`
	Term    int64  `json:"term"`
	At      int64  `json:"at"`
}

// CheckLeaders reports every term in which two different nodes claimed to be leader.
func CheckLeaders(claims []LeaderClaim) []Anomaly {
	type gt struct {
		cluster string
		term    int64
	}
	byTerm := map[gt]map[string]bool{}
	for _, c := range claims {
		if c.Leader == "" || c.Node != c.Leader {
			continue
		}
		k := gt{c.Cluster, c.Term}
		if byTerm[k] == nil {
			byTerm[k] = map[string]bool{}
		}
		byTerm[k][c.Leader] = true
	}
	var an []Anomaly
	for k, ls := range byTerm {
		term := k.term
		if len(ls) > 1 {
			var names []string
			for l := range ls {
				names = append(names, l)
			}
			sort.Strings(names)
			an = append(an, Anomaly{"leaders", fmt.Sprintf("term %d had %d leaders: %v", term, len(ls), names)})
		}
	}
	sort.Slice(an, func(i, j int) bool { return an[i].What < an[j].What })
	return an
}
