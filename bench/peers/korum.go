package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// korumCluster is bin/korum on 127.0.0.<ipBase+1..n>, ports 7511-7513,
// discovering each other through a redis-server of its own.
type korumCluster struct {
	b     *bench
	dir   string
	redis *proc
	nodes []*proc
}

func (b *bench) startKorum(ctx context.Context, n int, tag string) (*korumCluster, error) {
	k := &korumCluster{b: b, dir: filepath.Join(b.work, "korum-"+tag)}
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			k.stop()
		}
	}()
	var err error
	k.redis, err = startProc("redis", filepath.Join(k.dir, "redis.log"), "redis-server", "--bind", b.ip(1), "--port", "7519",
		"--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	if err := waitPort(ctx, k.redisAddr(), 10*time.Second); err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		if err := k.startNode(i); err != nil {
			return nil, err
		}
		if i == 1 {
			// The first node forms the cluster; the others join it.
			if err := waitHTTP(ctx, "http://"+k.api(1)+"/_ready", 30*time.Second); err != nil {
				return nil, err
			}
		}
	}
	for i := 2; i <= n; i++ {
		if err := waitHTTP(ctx, "http://"+k.api(i)+"/_ready", 30*time.Second); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for k.voters() < n {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("korum: %d voters of %d after 30 s", k.voters(), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok = true
	return k, nil
}

// redisAddr is where the cluster's discovery Redis listens.
func (k *korumCluster) redisAddr() string { return k.b.ip(1) + ":7519" }

// startNode starts node i, which forms the cluster (i = 1) or joins it
// through Redis.
func (k *korumCluster) startNode(i int) error {
	b := k.b
	p, err := startProc(fmt.Sprintf("korum%d", i), filepath.Join(k.dir, fmt.Sprintf("n%d.log", i)),
		b.korumBin, "--data-dir", filepath.Join(k.dir, fmt.Sprintf("n%d", i)),
		"--api-addr", b.ip(i)+":7512", "--cluster-addr", b.ip(i)+":7511", "--cluster-secret", "bench",
		"--redis", "redis://"+k.redisAddr(), "--log-level", "warn", "--debug-addr", b.ip(i)+":7513")
	if err != nil {
		return err
	}
	k.nodes = append(k.nodes, p)
	return nil
}

func (k *korumCluster) api(i int) string { return k.b.ip(i) + ":7512" }

// apis is every node's API address, comma-separated (wsload's -addr).
func (k *korumCluster) apis() string {
	var a []string
	for i := range k.nodes {
		a = append(a, k.api(i+1))
	}
	return strings.Join(a, ",")
}

func get(url string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

var (
	voterRe  = regexp.MustCompile(`"role":"voter"`)
	leaderRe = regexp.MustCompile(`"leader":"([^"]*)"`)
	nodeRe   = regexp.MustCompile(`"node":"([^"]*)"`)
)

func (k *korumCluster) voters() int {
	return len(voterRe.FindAllString(get("http://"+k.api(1)+"/cluster/_status"), -1))
}

// leader is the API address of the current leader.
func (k *korumCluster) leader() (string, error) {
	m := leaderRe.FindStringSubmatch(get("http://" + k.api(1) + "/cluster/_status"))
	if m == nil {
		return "", fmt.Errorf("korum: no leader in cluster:status")
	}
	for i := range k.nodes {
		if n := nodeRe.FindStringSubmatch(get("http://" + k.api(i+1) + "/_now")); n != nil && n[1] == m[1] {
			return k.api(i + 1), nil
		}
	}
	return "", fmt.Errorf("korum: leader %s is none of the nodes", m[1])
}

func (k *korumCluster) stop() {
	for _, p := range k.nodes {
		p.kill()
	}
	k.redis.kill()
	os.RemoveAll(k.dir)
}
