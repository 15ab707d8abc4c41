// Command peers measures Korum side by side with its peers on the same
// machine and prints ratios (issue 15): the systems are alternated run by
// run, each run waits for a quiet machine first, and each row reports the
// median of the runs. Absolute figures on a shared machine say little;
// ratios measured in the same conditions say more.
//
//	go run . -only etcd -runs 3 -duration 10s
//
// It needs bin/korum and bin/wsload (make build; go build -o bin/wsload
// ./bench/wsload, from the repository's root) and redis-server, and for the
// etcd rows Debian's etcd-server (etcd 3.4). It runs from bench/peers (its
// own module, so that the etcd client stays out of Korum's dependencies).
//
// Every group of rows lives in its own file and registers itself in
// groups: -only picks groups by name.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bench holds what every group needs.
type bench struct {
	root      string          // repository root
	runs      int             // alternated runs per system
	duration  time.Duration   // per measurement
	maxLoad   float64         // 1-minute load average to wait for before a run
	quietWait time.Duration   // how long to wait for it at most
	ipBase    int             // nodes listen on 127.0.0.<ipBase+1..>
	work      string          // scratch directory
	syncs     bool            // count fdatasyncs with perf during measurements
	systems   map[string]bool // systems to measure; empty: all
	korumBin  string          // the node binary (default <root>/bin/korum)
	results   []result
}

// result is one measurement of one system in one run.
type result struct {
	Row    string  // what was measured, e.g. "3-node writes, 256 clients"
	System string  // "korum", "etcd", ...
	Run    int     // 1..runs
	Value  float64 // in Unit
	Unit   string  // "/s" or "ms"
	Load   float64 // 1-minute load average when the run started
	Detail string  // the tool's own line and CPU per operation
}

// ratio is a row of the summary: Korum's median against a peer's.
type ratio struct {
	Name         string
	KorumRow     string
	Peer         string
	PeerRow      string
	LowerIsBest  bool    // latencies
	Target       float64 // the ratio (Korum/peer, or peer/Korum for latencies) to reach; 0: none
	TargetString string
}

// group is a set of rows measured together (e.g. Korum against etcd).
type group struct {
	name   string
	run    func(ctx context.Context, b *bench) error
	ratios []ratio
}

// groups is filled by each group's file (etcd.go, ...).
var groups []group

func main() {
	b := &bench{}
	only := flag.String("only", "", "comma-separated groups to run (default all): "+groupNames())
	flag.IntVar(&b.runs, "runs", 3, "alternated runs per system")
	flag.DurationVar(&b.duration, "duration", 10*time.Second, "duration of each measurement")
	flag.Float64Var(&b.maxLoad, "max-load", 1.5, "wait until the 1-minute load average is below this before each run")
	flag.DurationVar(&b.quietWait, "quiet-wait", 3*time.Minute, "give up waiting for a quiet machine after this long (the run goes on, its load is recorded)")
	flag.IntVar(&b.ipBase, "ip-base", 40, "nodes listen on 127.0.0.<ip-base+1>, <ip-base+2>, ...")
	flag.BoolVar(&b.syncs, "syncs", false, "count fdatasync calls of the nodes during each measurement (perf stat; needs root or perf_event_paranoid ≤ 1)")
	systems := flag.String("systems", "", "comma-separated systems to measure (korum, etcd, ...); default all (ratios need both)")
	flag.StringVar(&b.korumBin, "korum-bin", "", "the node binary to measure (default <root>/bin/korum): another build, to compare two versions")
	root := flag.String("root", "../..", "the Korum repository's root (bin/korum, bin/wsload)")
	flag.Parse()

	var err error
	if b.root, err = filepath.Abs(*root); err != nil {
		fail(err)
	}
	if b.korumBin == "" {
		b.korumBin = filepath.Join(b.root, "bin/korum")
	}
	if b.work, err = os.MkdirTemp("", "korum-peers-"); err != nil {
		fail(err)
	}
	defer os.RemoveAll(b.work)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b.systems = map[string]bool{}
	for _, s := range strings.Split(*systems, ",") {
		if s = strings.TrimSpace(s); s != "" {
			b.systems[s] = true
		}
	}
	want := map[string]bool{}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g != "" {
			want[g] = true
		}
	}
	fmt.Printf("# bench/peers %s, %d runs of %s, load threshold %.1f, disk sync %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), b.runs, b.duration, b.maxLoad, diskSync(b.work))
	var ran []group
	for _, g := range groups {
		if len(want) > 0 && !want[g.name] {
			continue
		}
		if err := g.run(ctx, b); err != nil {
			fail(fmt.Errorf("%s: %w", g.name, err))
		}
		ran = append(ran, g)
	}
	if len(ran) == 0 {
		fail(fmt.Errorf("no group named %q (have %s)", *only, groupNames()))
	}
	b.summary(ran)
}

func groupNames() string {
	var n []string
	for _, g := range groups {
		n = append(n, g.name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peers:", err)
	os.Exit(1)
}

// measures reports whether system is to be measured (-systems).
func (b *bench) measures(system string) bool { return len(b.systems) == 0 || b.systems[system] }

// record prints a measurement as it is taken and keeps it for the summary.
func (b *bench) record(r result) {
	fmt.Printf("| run %d | %s | %s | %s | load %.2f | %s |\n", r.Run, r.Row, r.System, fmtValue(r.Value, r.Unit), r.Load, r.Detail)
	b.results = append(b.results, r)
}

func fmtValue(v float64, unit string) string {
	if unit == "ms" {
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + unit
}

// median of a row's values for a system, with the loads of its runs.
func (b *bench) median(row, system string) (float64, []float64, bool) {
	var vs, loads []float64
	for _, r := range b.results {
		if r.Row == row && r.System == system {
			vs = append(vs, r.Value)
			loads = append(loads, r.Load)
		}
	}
	if len(vs) == 0 {
		return 0, nil, false
	}
	slices.Sort(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return m, loads, true
}

func (b *bench) summary(ran []group) {
	fmt.Printf("\n| workload | Korum (median) | peer (median) | ratio | target | loads |\n|---|---|---|---|---|---|\n")
	for _, g := range ran {
		for _, r := range g.ratios {
			k, kl, ok1 := b.median(r.KorumRow, "korum")
			p, pl, ok2 := b.median(r.PeerRow, r.Peer)
			if !ok1 || !ok2 {
				continue
			}
			unit := unitOf(b.results, r.KorumRow)
			var q float64
			var s string
			if r.LowerIsBest {
				q = k / p
				s = fmt.Sprintf("%.2f× %s's latency", q, r.Peer)
			} else {
				q = k / p
				s = fmt.Sprintf("%.2f× %s", q, r.Peer)
			}
			verdict := ""
			if r.Target > 0 {
				met := q >= r.Target
				if r.LowerIsBest {
					met = q <= r.Target
				}
				verdict = map[bool]string{true: " (met)", false: " (not met)"}[met]
			}
			fmt.Printf("| %s | %s | %s %s | %s | %s%s | %s |\n", r.Name, fmtValue(k, unit), r.Peer,
				fmtValue(p, unitOf(b.results, r.PeerRow)), s, r.TargetString, verdict, fmtLoads(append(kl, pl...)))
		}
	}
}

func unitOf(rs []result, row string) string {
	for _, r := range rs {
		if r.Row == row {
			return r.Unit
		}
	}
	return ""
}

func fmtLoads(ls []float64) string {
	if len(ls) == 0 {
		return ""
	}
	lo, hi := slices.Min(ls), slices.Max(ls)
	return fmt.Sprintf("%.2f–%.2f", lo, hi)
}
