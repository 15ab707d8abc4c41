package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/korumdb/korum/backup"
	"github.com/korumdb/korum/node"

	"github.com/korumdb/korum/internal/durable"
)

// snapshotCmd is `korum snapshot save|restore|status`: backups of a running
// cluster and new clusters started from them.
func snapshotCmd(args []string) int {
	usage := func() {
		fmt.Fprintln(os.Stderr, `Usage:
  korum snapshot save FILE [--addr HOST:PORT] [--token JWT | --username U --password P]
  korum snapshot status FILE
  korum snapshot restore FILE --data-dir DIR`)
	}
	if len(args) == 0 {
		usage()
		return exitConfig
	}
	switch args[0] {
	case "save":
		return snapshotSave(args[1:])
	case "status":
		return snapshotStatus(args[1:])
	case "restore":
		return snapshotRestore(args[1:])
	case "-h", "--help", "help":
		usage()
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "korum snapshot: unknown command %q\n", args[0])
	usage()
	return exitConfig
}

// parseFile parses flags given before or after the one positional FILE.
func parseFile(fs *flag.FlagSet, args []string) (string, error) {
	var file string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		file, args = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		return "", errors.New("give the backup FILE")
	}
	return file, nil
}

func flagErr(cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "korum snapshot %s: %v\n", cmd, err)
	return exitConfig
}

func snapshotSave(args []string) int {
	fs := flag.NewFlagSet("korum snapshot save", flag.ContinueOnError)
	addr := fs.String("addr", envOr("KORUM_ADDR", "localhost:7512"), "API address of any node of the cluster (KORUM_ADDR)")
	token := fs.String("token", os.Getenv("KORUM_TOKEN"), "a JWT or API key allowed admin:snapshot, when security is set up (KORUM_TOKEN)")
	user := fs.String("username", os.Getenv("KORUM_USERNAME"), "log in with this user (local strategy) instead of --token (KORUM_USERNAME)")
	pass := fs.String("password", os.Getenv("KORUM_PASSWORD"), "the user's password (KORUM_PASSWORD)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the node to start sending the backup")
	file, err := parseFile(fs, args)
	if err != nil {
		return flagErr("save", err)
	}
	if _, err := os.Stat(file); err == nil {
		return flagErr("save", fmt.Errorf("%s exists: give a new file name", file))
	}
	base := *addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	c := &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: *timeout,
	}}
	ctx := context.Background()
	if *user != "" {
		if *token, err = login(ctx, c, base, *user, *pass); err != nil {
			fmt.Fprintln(os.Stderr, "korum snapshot save:", err)
			return exitFatal
		}
	}
	info, err := save(ctx, c, base, *token, file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "korum snapshot save:", err)
		return exitFatal
	}
	fmt.Printf("saved %s: index %d, term %d, cluster %s, node %s, %d bytes, sha256 %s\n",
		file, info.Index, info.Term, info.ClusterID, info.NodeID, info.Size, hex.EncodeToString(info.SHA256[:]))
	return exitOK
}

// apiError reads a Kuzzle envelope's error.
func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Error *struct {
			ID      string `json:"id"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &env) == nil && env.Error != nil {
		return fmt.Errorf("%s (%s, status %d)", env.Error.Message, env.Error.ID, resp.StatusCode)
	}
	return fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
}

func login(ctx context.Context, c *http.Client, base, user, pass string) (string, error) {
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/_login/local", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("logging in: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("logging in: %w", apiError(resp))
	}
	var env struct {
		Result struct {
			JWT string `json:"jwt"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Result.JWT == "" {
		return "", fmt.Errorf("logging in: no token in the answer (%v)", err)
	}
	return env.Result.JWT, nil
}

// save streams the backup into FILE.part, verifies it, and renames it to
// FILE only then: FILE is always a complete, verified backup.
func save(ctx context.Context, c *http.Client, base, token, file string) (backup.Info, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/admin/_snapshot", nil)
	if err != nil {
		return backup.Info{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return backup.Info{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return backup.Info{}, apiError(resp)
	}
	part := file + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return backup.Info{}, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return backup.Info{}, fmt.Errorf("receiving the backup (the node stopped sending it?): %w", err)
	}
	if err := f.Sync(); err != nil {
		return backup.Info{}, err
	}
	rf, err := os.Open(part)
	if err != nil {
		return backup.Info{}, err
	}
	info, err := backup.Verify(rf)
	rf.Close()
	if err != nil {
		return info, fmt.Errorf("the backup received is not valid: %w", err)
	}
	if err := f.Close(); err != nil {
		return info, err
	}
	if err := os.Rename(part, file); err != nil {
		return info, err
	}
	ok = true
	_ = durable.SyncDir(filepath.Dir(file)) // the rename's durability only
	return info, nil
}

func snapshotStatus(args []string) int {
	fs := flag.NewFlagSet("korum snapshot status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the header and checks as JSON")
	file, err := parseFile(fs, args)
	if err != nil {
		return flagErr("status", err)
	}
	f, err := backup.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "korum snapshot status:", err)
		return exitFatal
	}
	f.Close()
	sum := hex.EncodeToString(f.SHA256[:])
	if *asJSON {
		out, _ := json.Marshal(map[string]any{"header": f.Header, "size": f.Size, "payloadSize": f.PayloadSize,
			"sha256": sum, "checksumOk": true, "formatVersion": backup.Version})
		fmt.Println(string(out))
		return exitOK
	}
	fmt.Printf("file:           %s\nformat version: %d\nindex:          %d\nterm:           %d\ncluster:        %s\nnode:           %s\nstorage engine: %s\nkorum version:  %s\ncreated:        %s\nsize:           %d bytes (state: %d)\nsha256:         %s\nchecksum:       ok\n",
		file, backup.Version, f.Index, f.Term, f.ClusterID, f.NodeID, f.StorageEngine, f.KorumVersion,
		f.CreatedAt.Format(time.RFC3339), f.Size, f.PayloadSize, sum)
	return exitOK
}

func snapshotRestore(args []string) int {
	fs := flag.NewFlagSet("korum snapshot restore", flag.ContinueOnError)
	dataDir := fs.String("data-dir", os.Getenv("KORUM_DATA_DIR"), "the new node's data directory, empty or absent (KORUM_DATA_DIR)")
	file, err := parseFile(fs, args)
	if err == nil && *dataDir == "" {
		err = errors.New("give --data-dir")
	}
	if err != nil {
		return flagErr("restore", err)
	}
	log := newLogger(node.LogConfig{Level: "info", Format: "text"})
	info, err := node.Restore(file, *dataDir, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "korum snapshot restore:", err)
		return exitFatal
	}
	fmt.Printf("restored %s (index %d, %s storage) into %s: start a node on it (--storage-engine %s) to found the new cluster, then start the others empty: they join it\n",
		file, info.Index, info.StorageEngine, *dataDir, info.StorageEngine)
	return exitOK
}
