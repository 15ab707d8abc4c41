#!/usr/bin/env bash
# What metrics, TLS and the rights check cost document:get (issues 12 and
# 14): four single nodes loaded in turn, round after round, by
# `wsload -mode get -clients 64`:
#   base     metrics off, plain WebSocket, anonymous (security not configured)
#   metrics  metrics on (the default), otherwise as base
#   tls      metrics off, WSS with a `korum tls init` certificate
#   rights   metrics off, locked down, requests carry the token of a user
#            whose profile restricts it to the benchmark's index
# Prints each run (throughput, the node's own CPU time per request from
# /proc/PID/stat, load average) and, at the end, each variant's medians
# and their ratio to base. CPU per request is what a busy shared host
# disturbs least; throughput is the issue's figure.
# Usage: bench/overhead.sh [rounds] [duration]   (default 3 rounds of 8s)
#
# With WORKLOAD=fanout, the same nodes (base, metrics, tls) run the
# fan-out benchmark instead, round after round: `wsload -mode fanout`,
# SUBS subscribers (default 10000) in one room, WRITES matching writes
# (default 50); the figures are deliveries per second and the node's CPU
# time per delivery over the writes only (wsload -cpupid), so that the
# subscribers' connection set-up (TLS handshakes) is not counted.
#   WORKLOAD=fanout bench/overhead.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
D=${2:-8s}
NET=${NET:-127.0.0.1}
WORKLOAD=${WORKLOAD:-get}
SUBS=${SUBS:-10000}
WRITES=${WRITES:-50}
[ -n "${KORUM_BIN:-}" ] || make -s build
KORUM_BIN=${KORUM_BIN:-bin/korum}
go build -o bin/wsload ./bench/wsload
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # name port extra-args...
  local name=$1 port=$2; shift 2
  "$KORUM_BIN" --data-dir "$WORK/$name" --api-addr "$NET:$port" --cluster-addr "$NET:$((port - 1))" \
    --log-level warn "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$name=$!"
}
"$KORUM_BIN" tls init --dir "$WORK/certs" --nodes n1 --hosts "$NET" >/dev/null
start base 7832 --metrics false
start metrics 7842
start tls 7852 --metrics false --tls-cert "$WORK/certs/n1.pem" --tls-key "$WORK/certs/n1-key.pem"
start rights 7862 --metrics false
for _ in $(seq 400); do
  curl -sf "http://$NET:7832/_ready" >/dev/null && curl -sf "http://$NET:7842/_ready" >/dev/null &&
    curl -sf --cacert "$WORK/certs/ca.pem" "https://$NET:7852/_ready" >/dev/null &&
    curl -sf "http://$NET:7862/_ready" >/dev/null && break
  sleep 0.05
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
RES="$WORK/results"
# summary unit variants...: each variant's medians and their ratio to base.
summary() {
  local unit=$1 v r u brps bus; shift
  echo
  echo "| variant | median $unit/s | ratio to base | median µs CPU/$unit | ratio to base |"
  echo "|---|---|---|---|---|"
  brps=$(awk '$1=="base"{print $2}' "$RES" | median)
  bus=$(awk '$1=="base"{print $3}' "$RES" | median)
  for v in "$@"; do
    r=$(awk -v v="$v" '$1==v{print $2}' "$RES" | median)
    u=$(awk -v v="$v" '$1==v{print $3}' "$RES" | median)
    echo "| $v | $r | $(echo "scale=3; $r/$brps" | bc) | $u | $(echo "scale=3; $u/$bus" | bc) |"
  done
}

if [ "$WORKLOAD" = fanout ]; then
  fan() { # name wsload-args...
    local name=$1 pid out dps us; shift
    eval "pid=\$PID_$name"
    out=$(bin/wsload "$@" -mode fanout -subscribers "$SUBS" -writes "$WRITES" -cpupid "$pid" 2>/dev/null)
    dps=$(echo "$out" | awk -F'|' '/\| fan-out \|/{print $4}' | tr -dc 0-9)
    us=$(echo "$out" | awk -F'|' '/node CPU/{print $3}' | tr -dc 0-9.)
    if ! echo "$out" | grep -q "0 other messages, 0 connections lost"; then echo "$name: $out" >&2; exit 1; fi
    echo "$name $dps $us" >>"$RES"
    echo "| $name | $dps deliveries/s | $us µs CPU/delivery | load $(cut -d' ' -f1 /proc/loadavg) |"
  }
  echo "| variant | throughput | node CPU per delivery | load average |"
  echo "|---|---|---|---|"
  for _ in $(seq "$ROUNDS"); do
    fan base -addr "$NET:7832"
    fan metrics -addr "$NET:7842"
    fan tls -addr "$NET:7852" -cacert "$WORK/certs/ca.pem"
  done
  summary delivery base metrics tls
  exit 0
fi

# The rights node: the benchmark's data first (wsload sets it up as
# anonymous), then locked down with a user restricted to that index.
R="http://$NET:7862"
bin/wsload -addr "$NET:7862" -mode get -clients 1 -duration 100ms >/dev/null
post() { curl -sf -X "$1" "$R$2" -H 'content-type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "${4:-}"; }
post POST '/_createFirstAdmin/admin?reset=true' '' '{"credentials":{"local":{"username":"admin","password":"adminpw"}}}' >/dev/null
ADMIN=$(post POST /_login/local '' '{"username":"admin","password":"adminpw"}' | sed 's/.*"jwt":"\([^"]*\)".*/\1/')
# wsload's setup runs as anonymous: let it find its collection again.
post PUT /roles/anonymous "$ADMIN" '{"controllers":{"auth":{"actions":{"login":true,"checkToken":true,"getCurrentUser":true,"getMyRights":true}},"index":{"actions":{"create":true}},"collection":{"actions":{"create":true}},"document":{"actions":{"createOrReplace":true}}}}' >/dev/null
post PUT /profiles/anonymous "$ADMIN" '{"policies":[{"roleId":"anonymous"}],"rateLimit":0}' >/dev/null
post POST /roles/reader/_create "$ADMIN" '{"controllers":{"document":{"actions":{"get":true}}}}' >/dev/null
post POST /profiles/reader/_create "$ADMIN" '{"policies":[{"roleId":"reader","restrictedTo":[{"index":"bench"}]}]}' >/dev/null
post POST /users/reader/_create "$ADMIN" '{"content":{"profileIds":["reader"]},"credentials":{"local":{"username":"reader","password":"readerpw"}}}' >/dev/null
USER=$(post POST /_login/local '' '{"username":"reader","password":"readerpw"}' | sed 's/.*"jwt":"\([^"]*\)".*/\1/')
[ -n "$USER" ] || { echo "could not log the reader in" >&2; exit 1; }

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() { # name wsload-args...
  local name=$1 pid; shift
  eval "pid=\$PID_$name"
  local c0 c1 out rps errs secs us
  c0=$(cpu "$pid")
  out=$(bin/wsload "$@" -mode get -clients 64 -duration "$D" | tail -1)
  c1=$(cpu "$pid")
  rps=$(echo "$out" | awk -F'|' '{print $4}' | tr -dc 0-9)
  errs=$(echo "$out" | awk -F'|' '{print $7}' | tr -dc 0-9)
  if [ "${errs:-0}" != 0 ]; then echo "$name: $errs requests failed: $out" >&2; exit 1; fi
  secs=${D%s}
  us=$(echo "scale=1; ($c1-$c0)*1000000/$tck/($rps*$secs)" | bc)
  echo "$name $rps $us" >>"$RES"
  echo "| $name | $rps req/s | $us µs CPU/req | load $(cut -d' ' -f1 /proc/loadavg) |"
}
echo "| variant | throughput | node CPU per request | load average |"
echo "|---|---|---|---|"
for _ in $(seq "$ROUNDS"); do
  run base -addr "$NET:7832"
  run metrics -addr "$NET:7842"
  run tls -addr "$NET:7852" -cacert "$WORK/certs/ca.pem"
  run rights -addr "$NET:7862" -jwt "$USER"
done
summary req base metrics tls rights
