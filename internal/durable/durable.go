package durable

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes what r holds to path (created or truncated with perm)
// and fsyncs it. On failure the partial file is removed.
func WriteFile(path string, r io.Reader, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	return finish(f, path, r)
}

// ReplaceFile atomically replaces path with what r holds: after a crash,
// path holds either its old content or all of the new one.
func ReplaceFile(path string, r io.Reader, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := finish(f, tmp, r); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// finish copies r into f, fsyncs and closes it; on failure it removes path.
func finish(f *os.File, path string, r io.Reader) error {
	_, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// SyncDir fsyncs a directory, which makes the creations, renames and
// removals of files in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
