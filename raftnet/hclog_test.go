package raftnet

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHclog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")

	l.Named("transport").With("peer", "n2").Warn("failed to contact", "time", 42)
	l.Debug("filtered out by the handler's level")
	l.StandardLogger(nil).Print("[ERR] legacy line")

	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"msg":"failed to contact"`, `"component":"raft"`, `"subsystem":"raft.transport"`, `"peer":"n2"`, `"time":42`, `"level":"ERROR","msg":"legacy line"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "filtered out") {
		t.Errorf("debug line passed an Info handler:\n%s", out)
	}
	if l.IsDebug() || !l.IsInfo() {
		t.Error("IsDebug/IsInfo do not follow the handler's level")
	}
	l.SetLevel(hclog.Error)
	if l.IsWarn() {
		t.Error("SetLevel(Error) still lets Warn through")
	}
}
