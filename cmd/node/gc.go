package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcPercent is the node's GOGC unless the environment sets one. Most of a
// node's allocations die within a request or an applied batch while its
// live heap (rooms, filters, the dedup window) grows with the cluster's
// state, so at Go's default of 100 a busy node ran a collection every few
// hundred milliseconds and marked the whole live heap each time: with 3
// nodes subscribing 256 clients on 2 cores, collection cost 40–55 µs of
// CPU per subscribe. At 400 it costs 9–15 µs, and 2–4× the live heap in
// memory, bounded by the soft limit below.
const gcPercent = 400

// tuneGC applies gcPercent and, unless GOMEMLIMIT is set, a soft memory
// limit of half the memory available to the process (its cgroup's limit,
// else the machine's): near it the collector works harder instead of
// letting the larger GOGC grow the heap further. Half, because a node is
// often not alone on its host (other nodes, Redis, a load balancer).
func tuneGC(log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if avail := availableMemory(); avail > 0 {
			debug.SetMemoryLimit(avail / 2)
			log.Debug("garbage collector tuned", "gogc", gcPercent, "memory_limit", avail/2)
		}
	}
}

// availableMemory returns the memory limit of the process's cgroup,
// or the machine's total memory, in bytes; 0 when neither can be read.
func availableMemory() int64 {
	if cg, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if v := cgroupLimit(string(cg), os.ReadFile); v > 0 {
			return v
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		return memTotal(string(b))
	}
	return 0
}

// cgroupLimit reads the memory limit of the cgroup named in
// /proc/self/cgroup: memory.max for v2 ("0::/path"), memory.limit_in_bytes
// for v1 ("N:memory:/path"); 0 when there is none or it is unlimited.
func cgroupLimit(selfCgroup string, read func(string) ([]byte, error)) int64 {
	for line := range strings.Lines(selfCgroup) {
		line = strings.TrimSpace(line)
		var file string
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			file = "/sys/fs/cgroup" + strings.TrimSuffix(path, "/") + "/memory.max"
		} else if _, path, ok := strings.Cut(line, ":memory:"); ok {
			file = "/sys/fs/cgroup/memory" + strings.TrimSuffix(path, "/") + "/memory.limit_in_bytes"
		} else {
			continue
		}
		b, err := read(file)
		if err != nil {
			continue
		}
		// v2 says "max"; v1 says a number near 2^63 when unlimited.
		v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		if err == nil && v > 0 && v < 1<<62 {
			return v
		}
	}
	return 0
}

// memTotal parses MemTotal from /proc/meminfo ("MemTotal: 24684172 kB").
func memTotal(meminfo string) int64 {
	sc := bufio.NewScanner(strings.NewReader(meminfo))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 2 && fields[1] == "kB" {
				if kb, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}
