package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var korumBin string

func TestMain(m *testing.M) {
	korumBin = os.Getenv("KORUM_BIN")
	if korumBin == "" {
		dir, err := os.MkdirTemp("", "korum-bin-")
		if err != nil {
			panic(err)
		}
		korumBin = filepath.Join(dir, "korum")
		cmd := exec.Command("go", "build", "-o", korumBin, "../../cmd/node")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			panic(fmt.Sprintf("building korum: %v", err))
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running korum process.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	api     string
	dataDir string
	mu      sync.Mutex
	logs    bytes.Buffer
	exited  chan struct{}
	err     error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// start runs korum on fresh ports (or dataDir when given) and waits for
// /_ready.
func start(t *testing.T, dataDir string, args ...string) *proc {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	p := &proc{t: t, api: freeAddr(t), dataDir: dataDir, exited: make(chan struct{})}
	all := append([]string{"--data-dir", dataDir, "--api-addr", p.api, "--cluster-addr", freeAddr(t)}, storageArgs(t, args)...)
	p.cmd = exec.Command(korumBin, all...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.stop() })
	eventually(t, 20*time.Second, "korum /_ready", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("korum exited early: %v\n%s", p.err, p.Logs())
		default:
		}
		resp, err := http.Get("http://" + p.api + "/_ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop() int {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.t.Errorf("korum ignored SIGTERM for 20s\n%s", p.Logs())
		}
	}
	return p.cmd.ProcessState.ExitCode()
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// envelope is Kuzzle's response envelope as a client decodes it.
type envelope struct {
	RequestID  string          `json:"requestId"`
	Status     int             `json:"status"`
	Error      *kerr           `json:"error"`
	Controller *string         `json:"controller"`
	Action     *string         `json:"action"`
	Index      *string         `json:"index"`
	Collection *string         `json:"collection"`
	Volatile   map[string]any  `json:"volatile"`
	Result     json.RawMessage `json:"result"`
	Node       string          `json:"node"`
	Room       string          `json:"room"`
}

type kerr struct {
	ID      string `json:"id"`
	Code    int    `json:"code"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (p *proc) do(t *testing.T, method, path, body string) (*http.Response, envelope) {
	t.Helper()
	return p.doToken(t, "", method, path, body)
}

// doToken is do with a bearer token ("": none).
func (p *proc) doToken(t *testing.T, token, method, path, body string) (*http.Response, envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("%s %s: not an envelope: %v: %s", method, path, err, data)
	}
	return resp, env
}
