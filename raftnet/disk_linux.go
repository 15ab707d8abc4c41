package raftnet

import "golang.org/x/sys/unix"

// freeBytes is the space left for unprivileged writes on dir's file system.
func freeBytes(dir string) (free uint64, known bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
