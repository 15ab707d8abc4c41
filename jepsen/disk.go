package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// With ClusterConfig.DataDisks, every node's /data is a small tmpfs mounted
// on the host and bound into its container: it survives container restarts
// (unlike Docker's own --tmpfs, which DataTmpfs uses to break a deployment
// on purpose), and the harness can fill it from the host to give one node a
// full disk.

// disksRoot is where the host mounts the nodes' disks of one network.
func disksRoot(network string) string {
	return filepath.Join(os.TempDir(), "korum-jepsen-disks", network)
}

// mountDisk gives n a tmpfs of size (e.g. "256m") for its data.
func (n *Node) mountDisk(size string) (string, error) {
	dir := filepath.Join(disksRoot(n.c.cfg.Network), n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mount a %s tmpfs for %s: %v: %s", size, n.Name, err, out)
	}
	n.disk = dir
	return dir, nil
}

// unmountDisks removes the disks of network's nodes (after their containers).
func unmountDisks(network string) {
	root := disksRoot(network)
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		_ = exec.Command("umount", "-l", filepath.Join(root, e.Name())).Run()
	}
	_ = os.RemoveAll(root)
}

// fillDisk writes a file on n's disk until only leave bytes are free (0:
// until it is full) and returns a function that removes it.
func (n *Node) fillDisk(leave int64) (func(context.Context) error, error) {
	if n.disk == "" {
		return nil, fmt.Errorf("%s has no disk of its own (ClusterConfig.DataDisks)", n.Name)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.disk, &st); err != nil {
		return nil, err
	}
	path := filepath.Join(n.disk, "jepsen-fill")
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := int64(st.Bavail)*int64(st.Bsize) - leave // Bsize is uint32 on darwin
	buf := make([]byte, 1<<20)
	for written := int64(0); leave == 0 || written < want; {
		size := int64(len(buf))
		if leave > 0 {
			size = min(size, want-written)
		}
		m, err := f.Write(buf[:size])
		written += int64(m)
		if err != nil {
			if leave == 0 && strings.Contains(err.Error(), "no space") {
				break
			}
			os.Remove(path)
			return nil, fmt.Errorf("fill %s's disk: %w", n.Name, err)
		}
	}
	return func(context.Context) error { return os.Remove(path) }, nil
}

// diskNemesis fills one node's disk: half the time the leader's, and half
// the time below the nodes' free-space threshold (they refuse writes before
// the disk is full) or to the last byte (a write fails first).
func diskNemesis(ctx context.Context, e *env, rng *rand.Rand) (fault, error) {
	n := pick(rng, e.c.Nodes)
	if rng.IntN(2) == 0 {
		if l := e.leader(ctx); l != nil {
			n = l
		}
	}
	how, leave := "filled to the last byte", int64(0)
	if rng.IntN(2) == 0 {
		// Below Korum's default storage.diskMinFree (64 MiB).
		how, leave = "filled below the free-space threshold", 16<<20
	}
	heal, err := n.fillDisk(leave)
	if err != nil {
		return fault{}, err
	}
	return fault{desc: fmt.Sprintf("%s's disk %s", n.Name, how), impaired: []*Node{n}, heal: heal}, nil
}
