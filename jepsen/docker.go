package jepsen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClusterConfig describes the containers of one test cluster.
type ClusterConfig struct {
	Image      string   // Korum node image (make image)
	RedisImage string   // redis:7 (deploy/local-images.sh builds it offline)
	Nodes      int      // number of Korum nodes (5)
	Network    string   // Docker network name
	Prefix     string   // first three octets of the /24, e.g. "10.66.0"
	Clustered  bool     // pass the clustering flags (--redis, --cluster-secret, --advertise-addr)
	Secret     string   // cluster secret
	NodeArgs   []string // extra flags for every node (Raft timeouts, ...)
	Label      string   // label put on everything the harness creates, for cleanup
	// DataTmpfs puts each node's data directory on a tmpfs, which a
	// container restart empties: a deliberately broken deployment whose
	// acknowledged writes do not survive a restart (the checkers must say so).
	DataTmpfs bool
	// DataDisks, a size such as "256m", gives each node's data directory a
	// tmpfs of that size on the host that survives restarts and that the
	// disk nemesis fills (disk.go). Empty: a Docker volume.
	DataDisks string
	FormBound time.Duration // with Clustered: how long the nodes may take to form one cluster (0: do not wait)
	// Elasticsearch, the host:port of an Elasticsearch on the host (the
	// shared tool's 127.0.0.1:9200), runs the nodes in elasticsearch mode:
	// they reach it on the network's gateway, forwarded by the harness.
	// Its &jepsen.* indexes are deleted before each cluster starts.
	// Empty: the embedded engine.
	Elasticsearch string
}

// Node is one Korum container.
type Node struct {
	Name string // container name, also its hostname
	IP   string
	c    *Cluster

	mu       sync.Mutex
	held     bool   // a nemesis keeps it stopped: the supervisor must not restart it
	cutFrom  []Cut  // current partition rules of this node
	disk     string // host directory of its data disk (DataDisks), or ""
	lastExit string // for the report
}

// Cut is one partition rule in a node's JEPSEN chain: traffic from Src is
// dropped; with OneWay, only connections Src opens to this node's ports
// (its answers to connections this node opened still pass).
type Cut struct {
	Src    string
	OneWay bool
}

// Exit is one node exit seen by the supervisor.
type Exit struct {
	Node string `json:"node"`
	Code int    `json:"code"`
	At   int64  `json:"at"` // ns since the history epoch
	Held bool   `json:"held"`
}

// Cluster is a running test cluster.
type Cluster struct {
	cfg   ClusterConfig
	Nodes []*Node
	Redis *Node
	h     *History
	logf  func(string, ...any)

	mu    sync.Mutex
	exits []Exit
	stop  context.CancelFunc
	done  chan struct{}
	esFwd *forwarder // ClusterConfig.Elasticsearch's forwarder
}

const (
	apiPort     = 7512
	clusterPort = 7511
)

// docker runs the docker CLI and returns its trimmed combined output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, s)
	}
	return s, nil
}

// Cleanup removes every container and network carrying the label.
func Cleanup(ctx context.Context, label, network string) {
	if ids, _ := docker(ctx, "ps", "-aq", "--filter", "label="+label); ids != "" {
		_, _ = docker(ctx, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
	}
	_, _ = docker(ctx, "network", "rm", network)
	unmountDisks(network)
}

// StartCluster creates the network, Redis and the nodes, starts the
// supervisor, and waits until every node answers /_ready.
func StartCluster(ctx context.Context, cfg ClusterConfig, h *History, logf func(string, ...any)) (*Cluster, error) {
	Cleanup(ctx, cfg.Label, cfg.Network)
	c := &Cluster{cfg: cfg, h: h, logf: logf, done: make(chan struct{})}
	netArgs := []string{"network", "create", "--internal", "--label", cfg.Label,
		"--subnet", cfg.Prefix + ".0/24", "--ip-range", cfg.Prefix + ".128/25"}
	if cfg.Elasticsearch != "" {
		// The host's address on the network, where the forwarder listens.
		netArgs = append(netArgs, "--gateway", cfg.Prefix+".1")
	}
	if _, err := docker(ctx, append(netArgs, cfg.Network)...); err != nil {
		return nil, err
	}
	if cfg.Elasticsearch != "" {
		if err := wipeElasticsearch(ctx, cfg.Elasticsearch); err != nil {
			return c, err
		}
		fw, err := forwardTCP(fmt.Sprintf("%s.1:%d", cfg.Prefix, esPort), cfg.Elasticsearch)
		if err != nil {
			return c, err
		}
		c.esFwd = fw
	}
	c.Redis = &Node{Name: cfg.Network + "-redis", IP: cfg.Prefix + ".10", c: c}
	if _, err := docker(ctx, "run", "-d", "--name", c.Redis.Name, "--label", cfg.Label, "--network", cfg.Network,
		"--ip", c.Redis.IP, cfg.RedisImage, "redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"); err != nil {
		return nil, err
	}
	for i := 1; i <= cfg.Nodes; i++ {
		n := &Node{Name: fmt.Sprintf("n%d", i), IP: fmt.Sprintf("%s.%d", cfg.Prefix, 10+i), c: c}
		c.Nodes = append(c.Nodes, n)
		args := []string{"run", "-d", "--name", n.Name, "--hostname", n.Name, "--label", cfg.Label,
			"--network", cfg.Network, "--ip", n.IP, "-e", "KORUM_LOG_FORMAT=json"}
		if cfg.DataTmpfs {
			args = append(args, "--tmpfs", "/data")
		}
		if cfg.DataDisks != "" {
			dir, err := n.mountDisk(cfg.DataDisks)
			if err != nil {
				return c, err
			}
			args = append(args, "-v", dir+":/data")
		}
		args = append(args, cfg.Image,
			"--data-dir", "/data", "--api-addr", fmt.Sprintf(":%d", apiPort))
		if cfg.Clustered {
			args = append(args, "--cluster-addr", fmt.Sprintf(":%d", clusterPort),
				"--advertise-addr", fmt.Sprintf("%s:%d", n.IP, clusterPort),
				"--cluster-secret", cfg.Secret,
				"--redis", fmt.Sprintf("redis://%s:6379", c.Redis.IP),
				// Every node a voter: the nemeses reason about majorities of
				// nodes, which then are majorities of voters. Non-voters are
				// covered by tests/integration.
				"--voters", strconv.Itoa(wantVoters(cfg.Nodes)))
		}
		if cfg.Elasticsearch != "" {
			args = append(args, esNodeArgs(cfg)...)
		}
		args = append(args, cfg.NodeArgs...)
		if _, err := docker(ctx, args...); err != nil {
			return nil, err
		}
		// Nodes come up in order so the first one can bootstrap.
	}
	sctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	if err := c.startSupervisor(sctx); err != nil {
		return nil, err
	}
	if err := c.WaitReady(ctx, c.Nodes, 60*time.Second); err != nil {
		return c, err
	}
	if cfg.Clustered && cfg.FormBound > 0 {
		if err := c.WaitFormed(ctx, cfg.FormBound); err != nil {
			return c, err
		}
	}
	for _, n := range c.Nodes {
		if err := n.applyRules(ctx); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Node returns the node named name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Exits returns the node exits seen so far.
func (c *Cluster) Exits() []Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Exit(nil), c.exits...)
}

// startSupervisor follows `docker events` for the harness's containers and
// restarts any node that exits unless a nemesis holds it down, like a
// process supervisor would; partition rules are re-applied after restarts
// because a restarted container gets a new network namespace.
func (c *Cluster) startSupervisor(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "docker", "events", "--filter", "label="+c.cfg.Label,
		"--filter", "type=container", "--filter", "event=die",
		"--format", "{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			n := c.Node(f[0])
			if n == nil {
				continue
			}
			code, _ := strconv.Atoi(f[1])
			n.mu.Lock()
			held := n.held
			n.lastExit = fmt.Sprintf("exit %d", code)
			n.mu.Unlock()
			c.mu.Lock()
			c.exits = append(c.exits, Exit{Node: n.Name, Code: code, At: c.h.Now(), Held: held})
			c.mu.Unlock()
			c.logf("supervisor: %s exited with %d (held=%v)", n.Name, code, held)
			if !held {
				go c.restartLater(ctx, n)
			}
		}
		_ = cmd.Wait()
	}()
	return nil
}

func (c *Cluster) restartLater(ctx context.Context, n *Node) {
	t := time.NewTimer(500 * time.Millisecond) // a supervisor's back-off
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	n.mu.Lock()
	held := n.held
	n.mu.Unlock()
	if held {
		return
	}
	if err := n.Start(ctx); err != nil {
		c.logf("supervisor: restart %s: %v", n.Name, err)
	}
}

// Start starts a stopped node and re-applies its partition rules.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	n.held = false
	n.mu.Unlock()
	if _, err := docker(ctx, "start", n.Name); err != nil {
		return err
	}
	return n.applyRules(ctx)
}

// Kill sends SIGKILL and holds the node down until Start.
func (n *Node) Kill(ctx context.Context) error {
	n.mu.Lock()
	n.held = true
	n.mu.Unlock()
	_, err := docker(ctx, "kill", "-s", "KILL", n.Name)
	return err
}

// Signal sends sig (STOP, CONT) to the node's process.
func (n *Node) Signal(ctx context.Context, sig string) error {
	_, err := docker(ctx, "kill", "-s", sig, n.Name)
	return err
}

func (n *Node) pid(ctx context.Context) (int, error) {
	s, err := docker(ctx, "inspect", "-f", "{{.State.Pid}}", n.Name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// SetCuts replaces the node's partition rules.
func (n *Node) SetCuts(ctx context.Context, cuts []Cut) error {
	n.mu.Lock()
	n.cutFrom = append([]Cut(nil), cuts...)
	n.mu.Unlock()
	return n.applyRules(ctx)
}

// applyRules writes the node's JEPSEN chain in its network namespace with
// the host's iptables (the image has none). A stopped node is skipped: its
// rules are applied when it starts.
func (n *Node) applyRules(ctx context.Context) error {
	pid, err := n.pid(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		return nil
	}
	n.mu.Lock()
	cuts := append([]Cut(nil), n.cutFrom...)
	n.mu.Unlock()
	var b strings.Builder
	b.WriteString("iptables -w -N JEPSEN 2>/dev/null; ")
	b.WriteString("iptables -w -C INPUT -j JEPSEN 2>/dev/null || iptables -w -I INPUT -j JEPSEN || exit 1; ")
	b.WriteString("iptables -w -F JEPSEN || exit 1; ")
	for _, cut := range cuts {
		if cut.OneWay {
			// Only what Src sends to this node's listening ports: connections
			// Src opens here. Replies to connections this node opened to Src
			// come from Src's ports and pass.
			fmt.Fprintf(&b, "iptables -w -A JEPSEN -s %s -p tcp -m multiport --dports %d,%d -j DROP || exit 1; ", cut.Src, clusterPort, apiPort)
		} else {
			fmt.Fprintf(&b, "iptables -w -A JEPSEN -s %s -j DROP || exit 1; ", cut.Src)
		}
	}
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "sh", "-c", b.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables in %s (pid %d): %v: %s", n.Name, pid, err, out)
	}
	return nil
}

// Heal removes every partition rule.
func (c *Cluster) Heal(ctx context.Context) error {
	var first error
	for _, n := range c.Nodes {
		if err := n.SetCuts(ctx, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Partition cuts every pair (a, b) with a and b in different groups, both ways.
func (c *Cluster) Partition(ctx context.Context, groups ...[]*Node) error {
	group := map[*Node]int{}
	for i, g := range groups {
		for _, n := range g {
			group[n] = i
		}
	}
	for _, n := range c.Nodes {
		var cuts []Cut
		for _, m := range c.Nodes {
			if gm, ok := group[m]; ok && m != n && gm != group[n] {
				cuts = append(cuts, Cut{Src: m.IP})
			}
		}
		if err := n.SetCuts(ctx, cuts); err != nil {
			return err
		}
	}
	return nil
}

var readyClient = &http.Client{Timeout: time.Second}

// Ready reports whether the node's /_ready answers 200.
func (n *Node) Ready(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/_ready", n.IP, apiPort), nil)
	resp, err := readyClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// WaitReady polls /_ready on nodes until all answer 200 or the bound passes.
func (c *Cluster) WaitReady(ctx context.Context, nodes []*Node, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var notReady []string
		for _, n := range nodes {
			if !n.Ready(ctx) {
				notReady = append(notReady, n.Name)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", bound, notReady)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// SaveLogs writes every container's log to dir.
func (c *Cluster) SaveLogs(ctx context.Context, dir string) {
	for _, n := range append(append([]*Node(nil), c.Nodes...), c.Redis) {
		out, _ := exec.CommandContext(ctx, "docker", "logs", "--timestamps", n.Name).CombinedOutput()
		_ = os.WriteFile(filepath.Join(dir, n.Name+".log"), out, 0o644)
	}
}

// Close stops the supervisor and removes the containers and the network.
func (c *Cluster) Close(ctx context.Context) {
	for _, n := range c.Nodes {
		n.mu.Lock()
		n.held = true
		n.mu.Unlock()
	}
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	Cleanup(ctx, c.cfg.Label, c.cfg.Network)
	if c.esFwd != nil {
		_ = c.esFwd.Close()
	}
}

// nodeNames lists node names, sorted.
func nodeNames(ns []*Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

// ProbeClustering tells whether nodes of image, given the clustering
// flags, form one cluster. A build without clustering either refuses the
// flags (exit 2, "not available yet") or runs every node as its own
// cluster; both mean "no". It starts and removes a cluster of cfg's shape.
func ProbeClustering(ctx context.Context, cfg ClusterConfig, logf func(string, ...any)) (bool, string, error) {
	cfg.Clustered = true
	c, err := StartCluster(ctx, cfg, NewHistory(), func(string, ...any) {})
	if c != nil {
		defer c.Close(context.Background())
	}
	if err == nil {
		return true, "", nil
	}
	if ctx.Err() != nil {
		return false, "", ctx.Err()
	}
	if c == nil {
		return false, "", err
	}
	if logs, _ := docker(ctx, "logs", c.Nodes[0].Name); strings.Contains(logs, "not available yet") {
		return false, "the image refuses the clustering flags", nil
	}
	return false, err.Error(), nil
}

// WaitFormed polls /cluster/_status until every node reports all nodes
// active under one leader, or the bound passes.
func (c *Cluster) WaitFormed(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		var views []string
		formed := true
		leaders := map[string]bool{}
		for _, n := range c.Nodes {
			_, st, err := status(ctx, n, "")
			if err != nil {
				formed = false
				views = append(views, fmt.Sprintf("%s: %v", n.Name, err))
				continue
			}
			views = append(views, fmt.Sprintf("%s: activeNodes=%d voters=%d leader=%s", n.Name, st.ActiveNodes, st.Voters(), st.Leader))
			leaders[st.Leader] = true
			formed = formed && st.ActiveNodes == len(c.Nodes) && st.Leader != "" && st.Voters() == wantVoters(len(c.Nodes))
		}
		if formed && len(leaders) == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes did not form one cluster within %s: %s", bound, strings.Join(views, "; "))
		}
		if !pause(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// CanConnect reports whether from can open a TCP connection to to's API
// port, tested inside from's network namespace with the host's curl. The
// harness uses it to verify that a partition is in place, since a rule that
// silently does nothing would make every partition test pass.
func (c *Cluster) CanConnect(ctx context.Context, from, to *Node) (bool, error) {
	pid, err := from.pid(ctx)
	if err != nil || pid == 0 {
		return false, fmt.Errorf("%s not running: %v", from.Name, err)
	}
	err = exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "curl", "-s", "-o", "/dev/null",
		"--connect-timeout", "1", "--max-time", "2", fmt.Sprintf("http://%s:%d/_healthcheck", to.IP, apiPort)).Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && (ee.ExitCode() == 28 || ee.ExitCode() == 7):
		return false, nil // timeout or refused
	default:
		return false, err
	}
}

// verifyCuts checks pairs: want[i] says whether pairs[i][0] may reach pairs[i][1].
func (c *Cluster) verifyCuts(ctx context.Context, pairs [][2]*Node, want []bool) error {
	for i, p := range pairs {
		ok, err := c.CanConnect(ctx, p[0], p[1])
		if err == nil && !ok && want[i] {
			ok, err = c.CanConnect(ctx, p[0], p[1]) // one retry: a slow handshake on a loaded host is not a cut
		}
		if err != nil {
			return err
		}
		if ok != want[i] {
			return fmt.Errorf("partition not in place: %s -> %s reachable=%v, want %v", p[0].Name, p[1].Name, ok, want[i])
		}
	}
	return nil
}
