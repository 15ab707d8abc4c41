package api

// Backend is everything a node provides to the API: the union of the small
// interfaces that the controllers (ctrl_*.go) and the transports define for
// what they need. Only NewServer and NewRouter see it whole; each
// controller holds just its own interfaces, so a test or another node
// implementation can serve one controller without faking the rest.
type Backend interface {
	NodeInfo
	ServerInfo
	Indexes
	Collections
	Documents
	Realtime
	ClusterView
	Dashboard
	MemoryStorage
	Admin
	Bulk
	Security
	Snapshots
	Specifications
}

// NodeInfo is what the router and the transports need from the node: its
// name for the response envelope and whether it can serve requests.
type NodeInfo interface {
	NodeID() string
	// Ready is nil when the node can serve requests that need the cluster.
	Ready() error
}
