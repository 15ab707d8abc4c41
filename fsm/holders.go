package fsm

import "sort"

// collKey names a collection in the holders index.
type collKey struct{ index, collection string }

// hold records that node holds one more room of r's collection. Called
// under f.mu, when node enters r.Nodes.
func (f *FSM) hold(r *Room, node string) {
	k := collKey{r.Index, r.Collection}
	byNode := f.holders[k]
	if byNode == nil {
		byNode = map[string]int{}
		f.holders[k] = byNode
	}
	byNode[node]++
}

// release undoes hold, when node leaves r.Nodes.
func (f *FSM) release(r *Room, node string) {
	k := collKey{r.Index, r.Collection}
	byNode := f.holders[k]
	if byNode[node] <= 1 {
		delete(byNode, node)
		if len(byNode) == 0 {
			delete(f.holders, k)
		}
		return
	}
	byNode[node]--
}

// reindexHolders rebuilds the holders index from st.Rooms (after a restore).
func (f *FSM) reindexHolders() {
	f.holders = map[collKey]map[string]int{}
	for _, r := range f.st.Rooms {
		for node := range r.Nodes {
			f.hold(r, node)
		}
	}
}

// PublishTargets returns the cluster addresses of the nodes other than self
// that hold at least one room on a collection, as this replica knows them
// (what it has applied), sorted. realtime:publish sends its message there;
// each matches it against its own rooms.
func (f *FSM) PublishTargets(index, collection, self string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	byNode := f.holders[collKey{index, collection}]
	if len(byNode) == 0 {
		return nil
	}
	var out []string
	for node := range byNode {
		if node == self {
			continue
		}
		if m := f.st.Members[node]; m != nil && m.ClusterAddr != "" {
			out = append(out, m.ClusterAddr)
		}
	}
	sort.Strings(out)
	return out
}
