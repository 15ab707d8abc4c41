package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/korumdb/korum/kerror"
)

type snapBackend struct {
	wsBackend
	snapshot func(ctx context.Context, open func() (io.Writer, error)) error
}

func (b *snapBackend) Snapshot(ctx context.Context, open func() (io.Writer, error)) error {
	return b.snapshot(ctx, open)
}

func snapServer(t *testing.T, fn func(context.Context, func() (io.Writer, error)) error) string {
	t.Helper()
	s := NewServer(&snapBackend{snapshot: fn}, Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestSnapshotRouteStreams(t *testing.T) {
	url := snapServer(t, func(_ context.Context, open func() (io.Writer, error)) error {
		w, err := open()
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, "backup bytes")
		return err
	})
	resp, err := http.Get(url + snapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(b) != "backup bytes" || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%d %q %v %v", resp.StatusCode, b, err, resp.Header)
	}
	resp, err = http.Post(url+snapshotPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

// An error before the stream starts is a Kuzzle error; after, the stream
// is cut, so the client cannot take it for a complete backup.
func TestSnapshotRouteErrors(t *testing.T) {
	url := snapServer(t, func(context.Context, func() (io.Writer, error)) error {
		return kerror.New("api.process.action_locked", "snapshot")
	})
	resp, err := http.Get(url + snapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Error struct{ ID string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != 412 || env.Error.ID != "api.process.action_locked" {
		t.Fatalf("%d %+v", resp.StatusCode, env)
	}

	url = snapServer(t, func(_ context.Context, open func() (io.Writer, error)) error {
		w, _ := open()
		io.WriteString(w, strings.Repeat("x", 100<<10))
		return errors.New("disk failed")
	})
	resp, err = http.Get(url + snapshotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a failed stream read as complete")
	}
}
