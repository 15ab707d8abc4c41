package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// quiet waits until the 1-minute load average is below the threshold (or
// the wait's deadline passes) and returns the load the run starts with.
// Other processes still run: the load is recorded with every figure.
func (b *bench) quiet(ctx context.Context) (float64, error) {
	deadline := time.Now().Add(b.quietWait)
	for {
		l := loadAvg()
		if l < b.maxLoad || time.Now().After(deadline) {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return l, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// ip is the loopback address of node n (1-based).
func (b *bench) ip(n int) string { return fmt.Sprintf("127.0.0.%d", b.ipBase+n) }

// diskSync times small synced writes in dir, the figure that sets much of
// a commit's latency, printed with the results.
func diskSync(dir string) string {
	f, err := os.OpenFile(filepath.Join(dir, "sync-probe"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "unknown"
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	const n = 200
	t0 := time.Now()
	for range n {
		if _, err := f.Write(buf); err != nil {
			return "unknown"
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return "unknown"
		}
	}
	return fmt.Sprintf("%d µs per 4 KiB write+fdatasync", time.Since(t0).Microseconds()/n)
}

// proc is a started server process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func startProc(name, logFile string, argv ...string) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &proc{name: name, cmd: cmd, log: logFile}, nil
}

// kill stops the process at once and waits for it.
func (p *proc) kill() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// ticks is the CPU (user + system, clock ticks) the process has used.
func (p *proc) ticks() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

// clkTck is Linux's USER_HZ, what /proc/<pid>/stat counts in.
const clkTck = 100

// cpuMeter measures the CPU a set of processes spends during a measurement,
// and optionally their fdatasync calls.
type cpuMeter struct {
	procs []*proc
	t0    int64
	perf  *exec.Cmd
	out   bytes.Buffer
}

func (b *bench) meter(procs []*proc) *cpuMeter {
	m := &cpuMeter{procs: procs}
	for _, p := range procs {
		m.t0 += p.ticks()
	}
	if b.syncs {
		var pids []string
		for _, p := range procs {
			pids = append(pids, strconv.Itoa(p.cmd.Process.Pid))
		}
		m.perf = exec.Command("perf", "stat", "-x", ",", "-e", "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync", "-p", strings.Join(pids, ","))
		m.perf.Stderr = &m.out
		if m.perf.Start() != nil {
			m.perf = nil
		}
	}
	return m
}

// done returns the CPU seconds spent and a note with the CPU (and syncs)
// per operation, given the operations done.
func (m *cpuMeter) done(ops float64) string {
	var t int64
	for _, p := range m.procs {
		t += p.ticks()
	}
	secs := float64(t-m.t0) / clkTck
	note := fmt.Sprintf("server CPU %.1f s", secs)
	if ops > 0 {
		note += fmt.Sprintf(", %.0f µs/op", secs*1e6/ops)
	}
	if m.perf != nil {
		_ = m.perf.Process.Signal(os.Interrupt)
		_ = m.perf.Wait()
		var syncs float64
		for _, line := range strings.Split(m.out.String(), "\n") {
			f := strings.Split(line, ",")
			if len(f) > 2 && strings.Contains(f[2], "sync") {
				v, _ := strconv.ParseFloat(f[0], 64)
				syncs += v
			}
		}
		if ops > 0 {
			note += fmt.Sprintf(", %.3f syncs/op (all nodes)", syncs/ops)
		}
	}
	return note
}

// waitHTTP polls url until it answers 200 or the deadline passes.
func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	return waitHTTPBody(ctx, url, "", d)
}

// waitHTTPBody polls url until it answers 200 with a body containing want.
func waitHTTPBody(ctx context.Context, url, want string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", url, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitPort polls until addr accepts TCP connections.
func waitPort(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s not listening: %w", addr, errors.Join(err, ctx.Err()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	wsloadRate = regexp.MustCompile(`\| ([0-9]+) req/s \| p50 ([0-9.]+) ms \| p99 ([0-9.]+) ms \| ([0-9]+) errors`)
)

// wsload runs bin/wsload and returns its row, throughput and p50 (ms).
func (b *bench) wsload(ctx context.Context, args ...string) (line string, rate, p50 float64, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.root, "bin/wsload"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", 0, 0, fmt.Errorf("wsload %v: %w: %s", args, err, stderr.String())
	}
	line = strings.TrimSpace(string(out))
	m := wsloadRate.FindStringSubmatch(line)
	if m == nil {
		return line, 0, 0, fmt.Errorf("unexpected wsload output %q", line)
	}
	rate, _ = strconv.ParseFloat(m[1], 64)
	p50, _ = strconv.ParseFloat(m[2], 64)
	return line, rate, p50, nil
}

// A system's part of a group's rows, for one run.
type systemRun struct {
	name string
	run  func(ctx context.Context, b *bench, run int) error
}

// alternate runs each system once per run, the first one alternating run
// by run, so that a trend in the machine's load does not always favour
// the same one.
func (b *bench) alternate(ctx context.Context, systems ...systemRun) error {
	for run := 1; run <= b.runs; run++ {
		order := slices.Clone(systems)
		if run%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			if !b.measures(s.name) {
				continue
			}
			if err := s.run(ctx, b, run); err != nil {
				return err
			}
		}
	}
	return nil
}
