package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/korumdb/korum/storage/embedded"
)

// testdata/v1 was written by Korum v0.2.0 (format version 1) running
// golden_gen_test.go: one entry of every kind, their results and
// notifications, and the snapshot of the final state.
const goldenV1 = "testdata/v1"

func readGolden(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden files in %s: %v", dir, err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

func goldenEntries(files map[string][]byte) []string {
	var names []string
	for n := range files {
		if filepath.Ext(n) == ".bin" && n != "snapshot.bin" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// While the cluster runs feature version 1, HEAD writes exactly what
// v0.2.0 wrote, entries and snapshot, so that a v0.2.0 node in a cluster
// being upgraded reads everything HEAD nodes propose and send.
func TestGoldenV1HeadWritesTheSameBytes(t *testing.T) {
	want := readGolden(t, goldenV1)
	got := goldenRun(t)
	if len(got) != len(want) {
		t.Fatalf("%d files, want %d", len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Errorf("%s differs from v0.2.0's (%d bytes, want %d)", name, len(got[name]), len(b))
		}
	}
}

// HEAD applies the entries v0.2.0 wrote to the same results,
// notifications and state, byte for byte.
func TestGoldenV1EntriesApplyToTheSameState(t *testing.T) {
	want := readGolden(t, goldenV1)
	f, ev, _ := newFSM(t)
	var results []string
	for i, name := range goldenEntries(want) {
		out := f.ApplyBatch([]*raft.Log{{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: want[name]}})
		switch r := out[0].(type) {
		case []byte:
			results = append(results, string(r))
		case error:
			results = append(results, "error: "+r.Error())
		}
	}
	res, _ := json.MarshalIndent(results, "", " ")
	if got := append(res, '\n'); !bytes.Equal(got, want["results.json"]) {
		t.Errorf("results differ:\n%s\nwant\n%s", got, want["results.json"])
	}
	evs, _ := json.MarshalIndent(ev.evs, "", " ")
	if got := append(evs, '\n'); !bytes.Equal(got, want["events.json"]) {
		t.Errorf("notifications differ:\n%s\nwant\n%s", got, want["events.json"])
	}
	if f.FeatureVersion() != 1 {
		t.Fatalf("feature version %d after v0.2.0's entries, want 1", f.FeatureVersion())
	}
	if got := persist(t, f); !bytes.Equal(got, want["snapshot.bin"]) {
		t.Error("the snapshot differs from v0.2.0's")
	}
}

// Every entry v0.2.0 wrote decodes and encodes back to the same bytes.
func TestGoldenV1EntriesReencode(t *testing.T) {
	files := readGolden(t, goldenV1)
	for _, name := range goldenEntries(files) {
		c, err := DecodeCommand(files[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var b []byte
		if c.Kind == KindBatch {
			var subs [][]byte
			for _, sc := range c.Batch {
				subs = append(subs, mustEncode(t, sc))
			}
			b = EncodeBatch(subs)
		} else {
			b = mustEncode(t, c)
		}
		if !bytes.Equal(b, files[name]) {
			t.Errorf("%s (%s) re-encodes differently", name, c.Kind)
		}
	}
}

// HEAD restores v0.2.0's snapshot into the state it snapshotted: the
// state JSON byte for byte, the store's buckets key for key.
func TestGoldenV1SnapshotRestores(t *testing.T) {
	want := readGolden(t, goldenV1)["snapshot.bin"]
	g, _, store := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	got := persist(t, g)
	gotState, gotStore := splitSnapshot(t, got)
	wantState, wantStore := splitSnapshot(t, want)
	if !bytes.Equal(gotState, wantState) {
		t.Fatalf("restored state:\n%s\nwant\n%s", gotState, wantState)
	}
	if a, b := dumpBolt(t, gotStore), dumpBolt(t, wantStore); a != b {
		t.Fatalf("restored store:\n%s\nwant\n%s", a, b)
	}
	if g.FeatureVersion() != 1 || store.AppliedIndex() != 12 {
		t.Fatalf("feature version %d, store applied %d", g.FeatureVersion(), store.AppliedIndex())
	}
	if g.Room("room2") == nil || g.Security().User("u1") == nil {
		t.Fatal("rooms or users lost")
	}
}

func splitSnapshot(t *testing.T, b []byte) (state, store []byte) {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	_, state, err := readSnapshotHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	return state, rest
}

// dumpBolt lists every bucket's keys and values of a bbolt file image.
func dumpBolt(t *testing.T, img []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "dump.db")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(p, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+string(k)+"/", b.Bucket(k))
			}
			fmt.Fprintf(&out, "%s%q=%q\n", prefix, k, v)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name)+"/", b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func featureCmd(v uint32) *Command { return &Command{Kind: KindFeature, Feature: v} }

// The feature version rises with KindFeature entries, never falls; from
// version 2 snapshots carry the versioned header, restore, and the store
// records the version so that v0.2.0 refuses to open it.
func TestFeatureVersion(t *testing.T) {
	f, _, _ := newFSM(t)
	var lb logBuilder
	if f.FeatureVersion() != 1 {
		t.Fatalf("a new state machine is at version %d, want 1", f.FeatureVersion())
	}
	if b := persist(t, f); b[0] != 0 {
		t.Fatal("at version 1 the snapshot must keep v0.2.0's header")
	}
	e := lb.entry(t, featureCmd(2))
	if e.Data[1] != tagVersion {
		t.Fatal("a version 2 kind must start with its version")
	}
	for _, r := range f.ApplyBatch(append(lb.setupEntries(t), e, lb.entry(t, featureCmd(1)))) {
		if err, ok := r.(error); ok {
			t.Fatal(err)
		}
	}
	if f.FeatureVersion() != 2 {
		t.Fatalf("feature version %d, want 2 (it never decreases)", f.FeatureVersion())
	}
	b := persist(t, f)
	if !bytes.HasPrefix(b, append(snapshotMagic[:], 0, 0, 0, 2)) {
		t.Fatalf("a version 2 snapshot starts with %q", b[:12])
	}
	g, _, _ := newFSM(t)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	if g.FeatureVersion() != 2 {
		t.Fatalf("restored feature version %d", g.FeatureVersion())
	}
	// The store's format key says 2: v0.2.0 opens only "1".
	_, img := splitSnapshot(t, b)
	if got := dumpBolt(t, img); !bytes.Contains([]byte(got), []byte(`meta/"format"="2"`)) {
		t.Fatalf("the store does not record format 2:\n%s", got)
	}
}

// The embedded engine opens the formats fsm writes, no more.
func TestStoreFormatFollowsFormatVersion(t *testing.T) {
	if embedded.MaxFormat != FormatVersion {
		t.Fatalf("embedded.MaxFormat %d, fsm.FormatVersion %d: raise them together", embedded.MaxFormat, FormatVersion)
	}
}

// An entry, a feature version or a snapshot newer than this binary reads
// stops the node (a HaltError wrapping ErrNewerFormat), never a skip.
func TestNewerFormatHalts(t *testing.T) {
	future := func() []byte {
		b := []byte{codecMagic, tagVersion, FormatVersion + 1}
		return appendStr(b, tagKind, "from-the-future")
	}
	batch := EncodeBatch([][]byte{mustEncode(t, roomCmd("r", "n1", 1)), future()})
	cases := map[string][]byte{
		"entry":           future(),
		"in a batch":      batch,
		"feature version": mustEncode(t, featureCmd(FormatVersion+1)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			f, _, _ := newFSM(t)
			var halts []*HaltError
			f.OnHalt(func(h *HaltError) { halts = append(halts, h) })
			var lb logBuilder
			logs := append(lb.setupEntries(t), &raft.Log{Index: 100, Term: 1, Type: raft.LogCommand, Data: data})
			for _, r := range f.ApplyBatch(logs) {
				if !errors.Is(asErr(r), ErrHalted) {
					t.Fatalf("result %v, want ErrHalted", r)
				}
			}
			if len(halts) != 1 || !errors.Is(halts[0], ErrNewerFormat) {
				t.Fatalf("halts: %+v", halts)
			}
			if f.AppliedIndex() != 0 || f.Room("r") != nil {
				t.Fatal("nothing of the call may apply")
			}
		})
	}
	t.Run("snapshot", func(t *testing.T) {
		f, _, _ := newFSM(t)
		var halts []*HaltError
		f.OnHalt(func(h *HaltError) { halts = append(halts, h) })
		var snap bytes.Buffer
		if err := writeSnapshotHeader(&snap, FormatVersion+1, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		err := f.Restore(io.NopCloser(&snap))
		if !errors.Is(err, ErrNewerFormat) || len(halts) != 1 {
			t.Fatalf("restore: %v, halts %+v", err, halts)
		}
	})
}

// Snapshot headers of either format, truncated or corrupt, are read or
// refused without a panic; a header that reads back gives what was written.
func FuzzSnapshotHeader(f *testing.F) {
	for _, v := range []uint32{1, 2, 3} {
		var b bytes.Buffer
		if err := writeSnapshotHeader(&b, v, []byte(`{"applied":1}`)); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add(append(snapshotMagic[:], 0, 0, 0, 2, 0xff, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, state, err := readSnapshotHeader(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		if v < 1 || v > FormatVersion {
			t.Fatalf("accepted version %d", v)
		}
		var b bytes.Buffer
		if err := writeSnapshotHeader(&b, v, state); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, b.Bytes()) {
			t.Fatalf("header and state do not read back")
		}
	})
}
