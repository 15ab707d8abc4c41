package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Workload names, for RunConfig.Workloads (-workloads).
const (
	WorkloadRegisters     = "registers"     // documents and ms keys as read/write registers
	WorkloadSubscriptions = "subscriptions" // realtime notifications
	WorkloadMSRegisters   = "ms-registers"  // ms keys with getset, set nx and del (issue #11)
	WorkloadSecurity      = "security"      // revoked tokens never served (issue #12)
)

// Workloads lists every workload; DefaultWorkloads those a run has unless told.
var (
	Workloads        = []string{WorkloadRegisters, WorkloadSubscriptions, WorkloadMSRegisters, WorkloadSecurity}
	DefaultWorkloads = []string{WorkloadRegisters, WorkloadSubscriptions}
)

// RunConfig is one run of the suite.
type RunConfig struct {
	Cluster         ClusterConfig
	Seed            uint64
	Nemeses         []string
	Workloads       []string      // run these (Workloads); empty: DefaultWorkloads
	MSClients       int           // ms register clients
	SecurityClients int           // security clients
	Warmup          time.Duration // steady traffic before the first fault and after each heal
	Fault           time.Duration // how long each fault lasts
	Cycles          int           // faults per nemesis
	RecoverBound    time.Duration // heal -> converged, or an anomaly
	RegisterClients int
	Keys            int // register keys per shard
	Subscribers     int
	Writers         int
	OpTimeout       time.Duration
	// QuorumContactTimeout, when set (clustering only), makes a node cut
	// from the quorum for longer than it + SelfTermSlack without exiting an anomaly.
	QuorumContactTimeout time.Duration
	SelfTermSlack        time.Duration
	CheckTimeout         time.Duration // porcupine bound per nemesis
	ResultsDir           string        // results/<run>: summary always, details on anomaly
	KeepAll              bool          // keep details even without anomaly
	Out                  io.Writer
}

// Result is one nemesis's row of the report.
type Result struct {
	Nemesis      string
	Faults       []string
	OK, Fail     int
	Info         int
	Anomalies    []Anomaly
	Linearizable porcupine.CheckResult
	Unavailable  time.Duration   // longest stretch with no acknowledged register write
	SelfTerm     []time.Duration // fault start -> exit, for nodes that lost quorum
	Recover      []time.Duration // heal -> converged
	Sub          SubStats
	Sec          *SecStats // with the security workload
	Err          error     // the harness itself failed
}

// has says whether the run includes workload w.
func (cfg RunConfig) has(w string) bool {
	ws := cfg.Workloads
	if len(ws) == 0 {
		ws = DefaultWorkloads
	}
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

func seedFor(seed uint64, name string, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", name, i)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Run runs every configured nemesis on a fresh cluster and prints the table.
// It returns the results; the caller fails if any has anomalies or an error.
func Run(ctx context.Context, cfg RunConfig) []Result {
	var results []Result
	for _, name := range cfg.Nemeses {
		nem, ok := NemesisByName(name)
		if !ok {
			results = append(results, Result{Nemesis: name, Err: fmt.Errorf("unknown nemesis")})
			continue
		}
		fmt.Fprintf(cfg.Out, "== %s: %s\n", nem.Name, nem.Doc)
		began := time.Now()
		r := runOne(ctx, cfg, nem)
		fmt.Fprintf(cfg.Out, "   took %s\n", time.Since(began).Round(100*time.Millisecond))
		results = append(results, r)
		fmt.Fprintf(cfg.Out, "   %s\n", rowText(r))
		for _, a := range r.Anomalies {
			fmt.Fprintf(cfg.Out, "   ANOMALY [%s] %s\n", a.Checker, a.What)
		}
		if ctx.Err() != nil {
			break
		}
	}
	table := Table(results)
	fmt.Fprint(cfg.Out, "\n"+table)
	if cfg.ResultsDir != "" {
		_ = os.MkdirAll(cfg.ResultsDir, 0o755)
		_ = os.WriteFile(filepath.Join(cfg.ResultsDir, "summary.md"), []byte(table), 0o644)
	}
	return results
}

func runOne(ctx context.Context, cfg RunConfig, nem Nemesis) (res Result) {
	res.Nemesis = nem.Name
	h := NewHistory()
	logf := func(f string, a ...any) {
		fmt.Fprintf(cfg.Out, "   %6.1fs "+f+"\n", append([]any{time.Duration(h.Now()).Seconds()}, a...)...)
	}
	ccfg := cfg.Cluster
	if d := nem.dataDisks(); d != "" {
		ccfg.DataDisks = d
	}
	if nem.young() {
		// Ready is enough: the fault is for a cluster that has just formed.
		ccfg.FormBound = 0
	}
	c, err := StartCluster(ctx, ccfg, h, logf)
	if c != nil {
		defer c.Close(context.Background())
	}
	if err != nil {
		res.Err = fmt.Errorf("start cluster: %w", err)
		return res
	}
	e := &env{c: c, h: h, clustered: cfg.Cluster.Clustered, opTimeout: cfg.OpTimeout}
	if err := e.setup(ctx, 30*time.Second, cfg.has(WorkloadSecurity)); err != nil {
		res.Err = err
		return res
	}
	p := &poller{ids: map[string]*Node{}}
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { defer pwg.Done(); e.poll(pctx, p, 500*time.Millisecond) }()

	// Clients: registers and subscription writers stop first, subscribers
	// after a drain so in-flight notifications arrive.
	wctx, wstop := context.WithCancel(ctx)
	sctx, sstop := context.WithCancel(ctx)
	var wwg, swg sync.WaitGroup
	for i := 0; i < cfg.RegisterClients && cfg.has(WorkloadRegisters); i++ {
		wwg.Add(1)
		go func(i int) {
			defer wwg.Done()
			e.registerClient(ctx, wctx, i, seedFor(cfg.Seed, nem.Name+"/reg", i), cfg.Keys)
		}(i)
	}
	for i := 0; i < cfg.MSClients && cfg.has(WorkloadMSRegisters); i++ {
		wwg.Add(1)
		go func(i int) {
			defer wwg.Done()
			e.msRegisterClient(ctx, wctx, 100+i, seedFor(cfg.Seed, nem.Name+"/ms", i), cfg.Keys)
		}(i)
	}
	for i := 0; i < cfg.SecurityClients && cfg.has(WorkloadSecurity); i++ {
		wwg.Add(1)
		go func(i int) { defer wwg.Done(); e.securityClient(ctx, wctx, i, seedFor(cfg.Seed, nem.Name+"/sec", i)) }(i)
		wwg.Add(1)
		go func(i int) {
			defer wwg.Done()
			e.securityProber(ctx, wctx, 200+i, seedFor(cfg.Seed, nem.Name+"/probe", i))
		}(i)
	}
	if cfg.has(WorkloadSubscriptions) {
		for i := 0; i < cfg.Writers; i++ {
			wwg.Add(1)
			go func(i int) { defer wwg.Done(); e.subWriter(ctx, wctx, seedFor(cfg.Seed, nem.Name+"/writer", i)) }(i)
		}
		for i := 0; i < max(cfg.Subscribers, e.shards()); i++ {
			swg.Add(1)
			go func(i int) { defer swg.Done(); e.subscriber(sctx, i, seedFor(cfg.Seed, nem.Name+"/sub", i)) }(i)
		}
	}

	clientsFrom := h.Now()
	impaired := map[string][]Window{}
	rng := seedFor(cfg.Seed, nem.Name+"/nemesis", 0)
	if !nem.young() {
		pause(ctx, cfg.Warmup)
	}
	for cycle := 0; cycle < cfg.Cycles && ctx.Err() == nil; cycle++ {
		start := h.Now()
		f, err := nem.start(ctx, e, rng)
		if err != nil {
			res.Err = fmt.Errorf("nemesis: %w", err)
			break
		}
		logf("fault: %s", f.desc)
		res.Faults = append(res.Faults, f.desc)
		pause(ctx, cfg.Fault)
		healAt := h.Now()
		if err := f.heal(ctx); err != nil {
			res.Err = fmt.Errorf("heal: %w", err)
			break
		}
		logf("healed")
		rec, why := e.waitConverged(ctx, cfg.RecoverBound, false)
		if rec < 0 {
			res.Anomalies = append(res.Anomalies, Anomaly{"recovery", fmt.Sprintf("not converged %s after heal: %s", cfg.RecoverBound, why)})
			rec = cfg.RecoverBound
		}
		res.Recover = append(res.Recover, rec)
		for _, n := range f.impaired {
			impaired[n.Name] = append(impaired[n.Name], Window{From: start, To: healAt + int64(rec) + int64(NotifyGrace)})
		}
		res.Anomalies = append(res.Anomalies, e.checkSelfTermination(cfg, f, start, healAt, &res)...)
		pause(ctx, cfg.Warmup)
	}
	// A node killed for good stays impaired to the end.
	for _, n := range e.c.Nodes {
		if !contains(e.live(), n) {
			impaired[n.Name] = append(impaired[n.Name], Window{From: 0, To: math.MaxInt64})
		}
	}
	wstop()
	wwg.Wait()
	if e.clustered {
		// With the writers stopped, every node must end up with the same
		// documents, not only the same topology.
		if rec, why := e.waitConverged(ctx, cfg.RecoverBound, true); rec < 0 {
			res.Anomalies = append(res.Anomalies, Anomaly{"convergence", fmt.Sprintf("documents differ %s after the writers stopped: %s", cfg.RecoverBound, why)})
		}
	}
	pause(ctx, NotifyGrace+time.Second)
	sstop()
	swg.Wait()
	var keyOf []func(s, k int) string
	if cfg.has(WorkloadRegisters) {
		keyOf = append(keyOf, regKey, msRegKey)
	}
	if cfg.has(WorkloadMSRegisters) {
		keyOf = append(keyOf, casKey)
	}
	e.finalReads(ctx, cfg.Keys, keyOf, cfg.RecoverBound)
	pstop()
	pwg.Wait()

	// Check.
	ops := h.Ops()
	e.mu.Lock()
	subs := e.subs
	sec := e.sec
	e.mu.Unlock()
	subs.Impaired = impaired
	for _, op := range ops {
		if op.Kind == "write" || isRMW(op.Kind) {
			count(&res, op.Outcome)
		}
	}
	for _, r := range sec.Revocations {
		count(&res, r.Outcome)
	}
	if cfg.has(WorkloadSecurity) {
		st, an := CheckSecurity(sec)
		res.Sec = &st
		res.Anomalies = append(res.Anomalies, an...)
	}
	for _, w := range subs.Writes {
		count(&res, w.Outcome)
	}
	reg := CheckRegisters(ops, cfg.CheckTimeout)
	res.Linearizable = reg.Linearizable
	res.Anomalies = append(res.Anomalies, reg.Anomalies...)
	var subAn []Anomaly
	res.Sub, subAn = CheckSubscriptions(subs)
	res.Anomalies = append(res.Anomalies, subAn...)
	p.mu.Lock()
	claims := append([]LeaderClaim(nil), p.claims...)
	p.mu.Unlock()
	res.Anomalies = append(res.Anomalies, CheckLeaders(claims)...)
	res.Unavailable = longestGap(ops, clientsFrom+int64(time.Second))

	if cfg.ResultsDir != "" && (len(res.Anomalies) > 0 || res.Err != nil || cfg.KeepAll) {
		dir := filepath.Join(cfg.ResultsDir, nem.Name)
		_ = os.MkdirAll(dir, 0o755)
		_ = WriteJSONLines(filepath.Join(dir, "registers.jsonl"), ops)
		writeJSON(filepath.Join(dir, "subscriptions.json"), subs)
		if cfg.has(WorkloadSecurity) {
			writeJSON(filepath.Join(dir, "security.json"), sec)
		}
		writeJSON(filepath.Join(dir, "leaders.json"), claims)
		writeJSON(filepath.Join(dir, "exits.json"), c.Exits())
		writeJSON(filepath.Join(dir, "anomalies.json"), res.Anomalies)
		if reg.Linearizable == porcupine.Illegal {
			_ = porcupine.VisualizePath(RegisterModel, reg.Info, filepath.Join(dir, "registers.html"))
		}
		c.SaveLogs(context.Background(), dir)
		fmt.Fprintf(cfg.Out, "   kept history and logs in %s\n", dir)
	}
	return res
}

func count(r *Result, o Outcome) {
	switch o {
	case OK:
		r.OK++
	case Fail:
		r.Fail++
	default:
		r.Info++
	}
}

func writeJSON(path string, v any) {
	b, _ := json.MarshalIndent(v, "", " ")
	_ = os.WriteFile(path, b, 0o644)
}

// waitConverged polls until the cluster converged; it returns the time it
// took, or -1 and the last difference when the bound passed.
func (e *env) waitConverged(ctx context.Context, bound time.Duration, docs bool) (time.Duration, string) {
	start := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		ok, why := e.converged(ctx, docs)
		if ok {
			return time.Since(start), ""
		}
		if time.Since(start) > bound {
			return -1, why
		}
		select {
		case <-ctx.Done():
			return -1, "cancelled"
		case <-t.C:
		}
	}
}

// checkSelfTermination measures how long nodes cut from the quorum took to
// exit and, with clustering, checks it against the bound; a node that kept
// its quorum must not exit.
func (e *env) checkSelfTermination(cfg RunConfig, f fault, start, healAt int64, res *Result) []Anomaly {
	var an []Anomaly
	exited := map[string]bool{}
	for _, x := range e.c.Exits() {
		if x.Held || x.At < start || x.At > healAt {
			continue
		}
		n := e.c.Node(x.Node)
		switch {
		case contains(f.quorumLoss, n):
			if !exited[x.Node] {
				res.SelfTerm = append(res.SelfTerm, time.Duration(x.At-start))
			}
			exited[x.Node] = true
			if bound := cfg.QuorumContactTimeout + cfg.SelfTermSlack; e.clustered && cfg.QuorumContactTimeout > 0 && time.Duration(x.At-start) > bound {
				an = append(an, Anomaly{"self-termination", fmt.Sprintf("%s exited %s after losing quorum (bound %s)", x.Node, time.Duration(x.At-start), bound)})
			}
		case e.clustered && !contains(f.impaired, n):
			an = append(an, Anomaly{"self-termination", fmt.Sprintf("%s exited with %d while in the majority", x.Node, x.Code)})
		}
	}
	if e.clustered && cfg.QuorumContactTimeout > 0 && time.Duration(healAt-start) > cfg.QuorumContactTimeout+cfg.SelfTermSlack {
		for _, n := range f.quorumLoss {
			if !exited[n.Name] {
				an = append(an, Anomaly{"self-termination", fmt.Sprintf("%s was cut from the quorum for %s and did not exit", n.Name, time.Duration(healAt-start))})
			}
		}
	}
	return an
}

// longestGap is the longest stretch after `from` with no acknowledged register write.
func longestGap(ops []Op, from int64) time.Duration {
	var acks []int64
	var end int64
	for _, op := range ops {
		if op.Kind == "write" && op.Outcome == OK && op.Return >= from {
			acks = append(acks, op.Return)
		}
		if op.Kind == "write" && op.Return > end {
			end = op.Return
		}
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	prev, gap := from, int64(0)
	for _, a := range append(acks, end) {
		if a-prev > gap {
			gap = a - prev
		}
		prev = a
	}
	return time.Duration(gap)
}

func durs(ds []time.Duration) string {
	if len(ds) == 0 {
		return "–"
	}
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.1fs", d.Seconds()))
	}
	return strings.Join(s, " ")
}

func rowText(r Result) string {
	if r.Err != nil {
		return fmt.Sprintf("ERROR: %v", r.Err)
	}
	s := fmt.Sprintf("ok=%d fail=%d info=%d anomalies=%d linearizable=%s unavailable=%.1fs self-term=%s recover=%s notifications=%d/%d excused=%d gap=%d reconnects=%d",
		r.OK, r.Fail, r.Info, len(r.Anomalies), r.Linearizable, r.Unavailable.Seconds(), durs(r.SelfTerm), durs(r.Recover),
		r.Sub.Delivered, r.Sub.Required, r.Sub.Excused, r.Sub.Gap, r.Sub.Reconnects)
	if r.Sec != nil {
		s += "\n   " + secText(*r.Sec)
	}
	return s
}

func secText(st SecStats) string {
	return fmt.Sprintf("security: tokens=%d revocations=%d (unknown %d) uses-after-revocation=%d refused=%d served=%d live-uses=%d live-refused=%d",
		st.Tokens, st.Revoked, st.Unknown, st.After, st.RefusedOK, st.Served, st.Live, st.LiveRefused)
}

// Table renders the per-nemesis report as Markdown.
func Table(rs []Result) string {
	var b strings.Builder
	b.WriteString("| nemesis | ok | failed | indeterminate | anomalies | linearizable | longest unavailability | self-terminate | recover | notifications delivered/required (excused, gap) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | harness error: %v |||||||||\n", r.Nemesis, strings.ReplaceAll(r.Err.Error(), "|", "/"))
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %.1fs | %s | %s | %d/%d (%d, %d) |\n", r.Nemesis, r.OK, r.Fail, r.Info, len(r.Anomalies),
			r.Linearizable, r.Unavailable.Seconds(), durs(r.SelfTerm), durs(r.Recover), r.Sub.Delivered, r.Sub.Required, r.Sub.Excused, r.Sub.Gap)
	}
	head := false
	for _, r := range rs {
		if r.Sec == nil || r.Err != nil {
			continue
		}
		if !head {
			b.WriteString("\n| nemesis | tokens | revocations acknowledged (unknown) | uses after revocation | refused | served (anomalies) | live uses (refused) |\n")
			b.WriteString("|---|---|---|---|---|---|---|\n")
			head = true
		}
		st := r.Sec
		fmt.Fprintf(&b, "| %s | %d | %d (%d) | %d | %d | %d | %d (%d) |\n", r.Nemesis, st.Tokens, st.Revoked, st.Unknown, st.After, st.RefusedOK, st.Served, st.Live, st.LiveRefused)
	}
	return b.String()
}
