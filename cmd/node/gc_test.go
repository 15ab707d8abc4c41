package main

import (
	"errors"
	"testing"
)

func TestMemoryBudgetParsing(t *testing.T) {
	if got := memTotal("MemFree: 1 kB\nMemTotal:       24684172 kB\n"); got != 24684172*1024 {
		t.Fatalf("MemTotal: %d", got)
	}
	if got := memTotal("garbage"); got != 0 {
		t.Fatalf("no MemTotal: %d", got)
	}
	files := map[string]string{"/sys/fs/cgroup/kubepods/pod1/memory.max": "536870912\n", "/sys/fs/cgroup/memory.max": "max\n",
		"/sys/fs/cgroup/memory/docker/c1/memory.limit_in_bytes": "1073741824\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, errors.New("no such file")
	}
	if got := cgroupLimit("0::/kubepods/pod1\n", read); got != 536870912 {
		t.Fatalf("cgroup limit: %d", got)
	}
	if got := cgroupLimit("0::/\n", read); got != 0 {
		t.Fatalf("an unlimited cgroup: %d", got)
	}
	if got := cgroupLimit("4:memory:/docker/c1\n1:name=systemd:/x\n0::/\n", read); got != 1073741824 {
		t.Fatalf("cgroup v1 limit: %d", got)
	}
	if got := cgroupLimit("4:memory:/\n0::/\n", read); got != 0 {
		t.Fatalf("unlimited v1 and v2: %d", got)
	}
	if availableMemory() <= 0 {
		t.Log("no memory figure on this system")
	}
}
