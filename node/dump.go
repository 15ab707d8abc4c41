package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/korumdb/korum/kerror"
)

// A diagnostic dump (admin:dump) is a gzipped tar written in
// <data dir>/dumps/<UTC time>[-suffix].tar.gz, holding:
//
//	info.json           node id, version, Go runtime, uptime, memory figures
//	config.json         the node's configuration, secrets redacted
//	cluster.json        cluster:status as this node sees it (leader's view)
//	raft.json           hashicorp/raft's own statistics of this node
//	storage.json        every index and collection: mapping and document count
//	memory-storage.json number of ms keys and their approximate size
//	goroutines.txt      every goroutine's stack
//	heap.pprof          a heap profile (go tool pprof)
//
// It is bounded: each file is cut at dumpFileMax bytes, storage.json lists
// at most dumpCollectionsMax collections, only the dumpKeep newest dumps
// are kept, and one dump runs at a time. No document or ms value is in it.
const (
	dumpFileMax        = 8 << 20
	dumpCollectionsMax = 1000
	dumpKeep           = 5
)

var dumpSuffix = regexp.MustCompile(`^[A-Za-z0-9._-]{0,64}$`)

// Dump writes a diagnostic archive and returns its path.
func (n *Node) Dump(ctx context.Context, suffix string) (string, error) {
	if !dumpSuffix.MatchString(suffix) {
		return "", kerror.New("api.assert.invalid_argument", "suffix", "at most 64 letters, digits, dots, dashes or underscores")
	}
	if !n.dumping.TryLock() {
		return "", kerror.New("api.process.action_locked", "dump")
	}
	defer n.dumping.Unlock()
	ctx, cancel := n.reqCtx(ctx)
	defer cancel()

	dir := filepath.Join(n.cfg.Storage.DataDir, "dumps")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the dump directory: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405.000Z")
	if suffix != "" {
		name += "-" + suffix
	}
	path := filepath.Join(dir, name+".tar.gz")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating the dump: %w", err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	err = n.writeDump(ctx, tw)
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := gz.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("writing the dump: %w", err)
	}
	pruneDumps(dir, dumpKeep)
	n.log.Info("diagnostic dump written", "path", path)
	return path, nil
}

func (n *Node) writeDump(ctx context.Context, tw *tar.Writer) error {
	add := func(name string, b []byte) error {
		if len(b) > dumpFileMax {
			b = append(b[:dumpFileMax:dumpFileMax], "\n[cut: the dump bounds each file]\n"...)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	addJSON := func(name string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			b = []byte(fmt.Sprintf("%q", err.Error()))
		}
		return add(name, b)
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	if err := addJSON("info.json", map[string]any{"node": n.id, "version": Version, "go": runtime.Version(),
		"started": n.started.UTC(), "uptime": time.Since(n.started).String(), "cpus": runtime.NumCPU(),
		"goroutines": runtime.NumGoroutine(), "heapAlloc": mem.HeapAlloc, "sys": mem.Sys, "numGC": mem.NumGC}); err != nil {
		return err
	}
	if err := addJSON("config.json", n.cfg.Public()); err != nil {
		return err
	}
	var cluster any
	if st, err := n.ClusterStatus(ctx); err != nil {
		cluster = map[string]any{"error": err.Error()}
	} else {
		cluster = st
	}
	if err := addJSON("cluster.json", cluster); err != nil {
		return err
	}
	if err := addJSON("raft.json", n.raft.Raft().Stats()); err != nil {
		return err
	}
	if err := addJSON("storage.json", n.storageSummary(ctx)); err != nil {
		return err
	}
	if err := addJSON("realtime.json", n.realtimeStats()); err != nil {
		return err
	}
	keys, size := n.fsm.MemStore().Stats()
	if err := addJSON("memory-storage.json", map[string]any{"keys": keys, "bytes": size}); err != nil {
		return err
	}
	var buf bytes.Buffer
	if p := pprof.Lookup("goroutine"); p != nil {
		_ = p.WriteTo(&limited{w: &buf, n: dumpFileMax}, 2)
	}
	if err := add("goroutines.txt", buf.Bytes()); err != nil {
		return err
	}
	buf.Reset()
	_ = pprof.WriteHeapProfile(&limited{w: &buf, n: dumpFileMax})
	return add("heap.pprof", buf.Bytes())
}

// storageSummary lists indexes and collections with their mapping and
// document count, up to dumpCollectionsMax collections.
func (n *Node) storageSummary(ctx context.Context) map[string]any {
	out := map[string]any{}
	indexes, err := n.reader.ListIndexes(ctx)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	sort.Strings(indexes)
	listed := 0
	for _, i := range indexes {
		colls, err := n.reader.ListCollections(ctx, i)
		if err != nil {
			out[i] = map[string]any{"error": err.Error()}
			continue
		}
		sort.Strings(colls)
		byColl := map[string]any{}
		for _, c := range colls {
			if listed >= dumpCollectionsMax {
				out["_cut"] = fmt.Sprintf("only the first %d collections are listed", dumpCollectionsMax)
				out[i] = byColl
				return out
			}
			listed++
			m, _ := n.reader.GetMapping(ctx, i, c)
			count, _ := n.reader.Count(ctx, i, c, nil)
			byColl[c] = map[string]any{"mapping": m, "count": count}
		}
		out[i] = byColl
	}
	return out
}

// pruneDumps keeps the keep newest dumps of dir (their names sort by time).
func pruneDumps(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar.gz") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for len(names) > keep {
		os.Remove(filepath.Join(dir, names[0]))
		names = names[1:]
	}
}

// limited writes at most n bytes to w and drops the rest silently.
type limited struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	total := len(p)
	if l.n <= 0 {
		return total, nil
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	_, err := l.w.Write(p)
	l.n -= len(p)
	return total, err
}
