package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes for one test and returns its path.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	// Registered before any node starts, so it runs after they stopped.
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file on dir's file system until only leave bytes are free
// (0: until the file system is full), and returns a function removing it.
func fill(t *testing.T, dir string, leave int64) func() {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := int64(st.Bavail)*st.Bsize - leave
	buf := make([]byte, 1<<16)
	for written := int64(0); leave == 0 || written < want; {
		n := int64(len(buf))
		if leave > 0 {
			n = min(n, want-written)
		}
		m, err := f.Write(buf[:n])
		written += int64(m)
		if err != nil {
			if leave == 0 {
				break // full, as asked
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
	return func() { os.Remove(path) }
}

func term(t *testing.T, p *proc) uint64 {
	t.Helper()
	_, env := p.do(t, "GET", "/cluster/_status", "")
	var st struct {
		Term uint64 `json:"term"`
	}
	if env.Error != nil || json.Unmarshal(env.Result, &st) != nil {
		return 0
	}
	return st.Term
}

// writeRefusedCleanly checks that a write fails with a storage error that
// does not leak the data directory's path or the OS's message.
func writeRefusedCleanly(t *testing.T, p *proc, path, dataDir string) bool {
	t.Helper()
	_, env := p.do(t, "PUT", path, `{"refused":true}`)
	if env.Error == nil {
		return false
	}
	if strings.Contains(env.Error.Message, dataDir) || strings.Contains(env.Error.Message, "raft.db") ||
		strings.Contains(env.Error.Message, "/") {
		t.Fatalf("the error leaks internals: %+v", env.Error)
	}
	return env.Error.ID == "services.storage.unexpected_error"
}

// A lone node whose disk fills: writes are refused with a clean error, reads
// go on, the term does not climb (no election storm), and once space is
// back the node takes writes again with nothing acknowledged lost. Two ways
// in: free space below --disk-min-free (the node stops before the disk is
// full and keeps leading), and a disk that is really full (a write fails
// first: the leader steps down once and cannot campaign, so it serves
// nothing until space is back, then elects itself at the next term).
func TestDiskFullOnALoneNode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		minFree string
		leave   int64
	}{
		{"below the free space threshold", "4mb", 2 << 20},
		{"full", "1b", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := smallDisk(t, "24m")
			data := filepath.Join(disk, "data")
			n := clusterNode(t, 1, data, true, "--disk-min-free", tc.minFree)
			mustOK(t, n.proc, "POST", "/disk/_create", "")
			mustOK(t, n.proc, "PUT", "/disk/c", "{}")
			const acked = 20
			for i := range acked {
				mustOK(t, n.proc, "PUT", fmt.Sprintf("/disk/c/a%d", i), `{"n":1}`)
			}
			before := term(t, n.proc)
			free := fill(t, disk, tc.leave)

			eventually(t, 10*time.Second, "writes to be refused", func() bool {
				return writeRefusedCleanly(t, n.proc, "/disk/c/refused", data)
			})
			if tc.leave > 0 {
				// The node stopped before its disk was full: it still
				// leads, so reads go on, and more refused writes do not
				// move it.
				for range 10 {
					if !writeRefusedCleanly(t, n.proc, "/disk/c/refused", data) {
						t.Fatal("a write was taken while the disk was full")
					}
				}
				for i := range acked {
					mustOK(t, n.proc, "GET", fmt.Sprintf("/disk/c/a%d", i), "")
				}
				if after := term(t, n.proc); after != before {
					t.Fatalf("term moved from %d to %d while the disk was full", before, after)
				}
			}

			free()
			eventually(t, 20*time.Second, "writes to be taken again", func() bool {
				_, env := n.do(t, "PUT", "/disk/c/after", `{"n":2}`)
				return env.Error == nil
			})
			if after := term(t, n.proc); after > before+1 {
				t.Fatalf("term climbed from %d to %d: an election storm", before, after)
			}
			for i := range acked {
				mustOK(t, n.proc, "GET", fmt.Sprintf("/disk/c/a%d", i), "")
			}
			mustOK(t, n.proc, "GET", "/disk/c/after", "")
		})
	}
}

// The leader of three nodes runs out of disk: it hands leadership over,
// writes through the others are acknowledged, the term moves by a few at
// most, and once its space is back (restarted by its supervisor if its
// watchdog stopped it) it holds every acknowledged write.
func TestDiskFullOnTheLeader(t *testing.T) {
	disk := smallDisk(t, "24m")
	data := filepath.Join(disk, "data")
	a := clusterNode(t, 1, data, true, "--disk-min-free", "4mb")
	b := clusterNode(t, 2, "", true, "--join", a.cluster)
	c := clusterNode(t, 3, "", true, "--join", a.cluster)
	all := []*member{a, b, c}
	waitMembers(t, all, 3)
	if _, id := leaderOf(t, all); id != a.nodeID(t) {
		t.Skip("the bootstrapping node is not the leader")
	}
	mustOK(t, b.proc, "POST", "/disk/_create", "")
	mustOK(t, b.proc, "PUT", "/disk/c", "{}")
	before := term(t, b.proc)
	aID := a.nodeID(t)
	free := fill(t, disk, 2<<20)
	eventually(t, 30*time.Second, "leadership to leave the node whose disk is full", func() bool {
		st, err := b.status(t)
		return err == nil && st.Leader != "" && st.Leader != aID
	})

	const writes = 30
	for i := range writes {
		path := fmt.Sprintf("/disk/c/w%d", i)
		eventually(t, 30*time.Second, "write "+path, func() bool {
			_, env := b.do(t, "PUT", path, `{"n":1}`)
			if env.Error != nil && strings.Contains(env.Error.Message, "/") {
				t.Fatalf("the error leaks internals: %+v", env.Error)
			}
			return env.Error == nil
		})
	}
	if st, err := b.status(t); err != nil || st.Leader == aID {
		t.Fatalf("the node whose disk is full leads again: %+v %v", st, err)
	}
	if after := term(t, b.proc); after > before+3 {
		t.Fatalf("term climbed from %d to %d: an election storm", before, after)
	}

	free()
	back := a
	if !a.alive() {
		back = clusterNode(t, 1, data, true, "--disk-min-free", "4mb")
	}
	eventually(t, 30*time.Second, "the node to hold every acknowledged write", func() bool {
		_, env := back.do(t, "POST", "/disk/c/_count", `{}`)
		return env.Error == nil && strings.Contains(string(env.Result), fmt.Sprintf(`"count":%d`, writes))
	})
}
