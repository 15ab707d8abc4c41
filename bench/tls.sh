#!/usr/bin/env bash
# What TLS on the API port costs document:get: two single nodes, one plain
# and one with a `korum tls init` certificate, loaded in turn by
# `wsload -mode get -clients 64` (WSS for the TLS one). Prints, per run, the
# throughput, the load average and the node's own CPU time per request (from
# /proc/PID/stat), which a busy shared host disturbs less than throughput.
# Usage: bench/tls.sh [rounds] [duration]   (default 4 rounds of 8s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-4}
D=${2:-8s}
NET=${NET:-127.0.0.1}
[ -n "${KORUM_BIN:-}" ] || make -s build
KORUM_BIN=${KORUM_BIN:-bin/korum}
go build -o bin/wsload ./bench/wsload
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

"$KORUM_BIN" tls init --dir "$WORK/certs" --nodes n1 --hosts "$NET" >/dev/null
"$KORUM_BIN" --data-dir "$WORK/plain" --api-addr "$NET:7812" --cluster-addr "$NET:7811" --log-level warn >"$WORK/plain.log" 2>&1 &
PLAIN=$!; PIDS+=($PLAIN)
"$KORUM_BIN" --data-dir "$WORK/tls" --api-addr "$NET:7822" --cluster-addr "$NET:7821" --log-level warn \
  --tls-cert "$WORK/certs/n1.pem" --tls-key "$WORK/certs/n1-key.pem" >"$WORK/tls.log" 2>&1 &
TLS=$!; PIDS+=($TLS)
for _ in $(seq 200); do
  curl -sf "http://$NET:7812/_ready" >/dev/null && curl -sf --cacert "$WORK/certs/ca.pem" "https://$NET:7822/_ready" >/dev/null && break
  sleep 0.05
done

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() { # name pid wsload-args...
  local name=$1 pid=$2; shift 2
  local c0 c1 out rps secs
  c0=$(cpu "$pid")
  out=$(bin/wsload "$@" -mode get -clients 64 -duration "$D" | tail -1)
  c1=$(cpu "$pid")
  rps=$(echo "$out" | awk -F'|' '{print $4}' | tr -dc 0-9)
  secs=${D%s}
  echo "| $name | $rps req/s | $(echo "scale=1; ($c1-$c0)*1000000/$tck/($rps*$secs)" | bc) µs CPU/req | load $(cut -d' ' -f1 /proc/loadavg) |"
}
for _ in $(seq "$ROUNDS"); do
  run "get, WebSocket" "$PLAIN" -addr "$NET:7812"
  run "get, WSS" "$TLS" -addr "$NET:7822" -cacert "$WORK/certs/ca.pem"
done
