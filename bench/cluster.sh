#!/usr/bin/env bash
# Cluster benchmarks on one machine: three bin/korum on 127.0.0.11-13 with a
# real redis-server, then the load programs. Prints markdown rows for
# docs/benchmarks.md. Usage: bench/cluster.sh [duration]   (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
make -s build
go build -o bin/wsload ./bench/wsload
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

redis-server --bind 127.0.0.1 --port 16399 --save '' --appendonly no >/dev/null 2>&1 &
PIDS+=($!)
start() { # n
  bin/korum --data-dir "$WORK/n$1" --api-addr 127.0.0.1$1:7512 --cluster-addr 127.0.0.1$1:7511 \
    --cluster-secret bench --redis redis://127.0.0.1:16399 --log-level warn --debug-addr 127.0.0.1$1:7513 >"$WORK/n$1.log" 2>&1 &
  PIDS+=($!)
}
ready() { # addr
  for _ in $(seq 200); do curl -sf "http://$1/_ready" >/dev/null && return 0; sleep 0.05; done
  echo "not ready: $1" >&2; return 1
}
voters() { curl -s http://127.0.0.11:7512/cluster/_status | grep -o '"role":"voter"' | wc -l; }
T0=$(date +%s.%N)
start 1; ready 127.0.0.11:7512
start 2; start 3; ready 127.0.0.12:7512; ready 127.0.0.13:7512
T1=$(date +%s.%N)
for _ in $(seq 200); do [ "$(voters)" = 3 ] && break; sleep 0.1; done
T2=$(date +%s.%N)
echo "| formation | 3 nodes through Redis | all ready in $(echo "$T1 - $T0" | bc) s | 3 voters after $(echo "$T2 - $T0" | bc) s |"

A=127.0.0.11:7512,127.0.0.12:7512,127.0.0.13:7512
bin/wsload -addr 127.0.0.12:7512 -mode subscribe -clients 1 -duration "$D"
bin/wsload -addr "$A" -mode subscribe -clients 256 -duration "$D"
bin/wsload -addr "$A" -mode get -clients 64 -duration "$D"
bin/wsload -addr "$A" -mode create -clients 64 -duration "$D"
bin/wsload -addr 127.0.0.12:7512,127.0.0.13:7512 -mode xnotify -rate 10000 -duration "$D"

# A 4th node joining a cluster that holds many rooms: time to /_ready.
bin/wsload -addr 127.0.0.11:7512 -mode subscribe -clients 64 -duration 5s >/dev/null
T3=$(date +%s.%N)
start 4; ready 127.0.0.14:7512
T4=$(date +%s.%N)
# The subscribers above have disconnected: their rooms are being emptied
# through the log meanwhile, so the count may be anything down to 0 (grep
# finding nothing must not end the script under pipefail).
ROOMS=$(curl -s -XPOST http://127.0.0.14:7512/_query -d '{"controller":"realtime","action":"list"}' | { grep -o '"[0-9a-f]\{64\}"' || true; } | wc -l)
echo "| join | 4th node, $ROOMS rooms in the state | serving (/_ready) after $(echo "$T4 - $T3" | bc) s |"

# Failover: kill -9 the leader, then time until a write commits again.
LEADER=$(curl -s http://127.0.0.12:7512/cluster/_status | sed -n 's/.*"leader":"\([^"]*\)".*/\1/p')
for n in 1 2 3 4; do
  id=$(curl -s "http://127.0.0.1$n:7512/_now" | sed -n 's/.*"node":"\([^"]*\)".*/\1/p')
  if [ "$id" = "$LEADER" ]; then LN=$n; fi
done
SURV=$(( LN == 2 ? 3 : 2 ))
T5=$(date +%s.%N)
kill -9 "${PIDS[$LN]}"
until curl -s -m 2 -XPOST "http://127.0.0.1$SURV:7512/_query" \
    -d '{"controller":"document","action":"create","index":"bench","collection":"docs","body":{"failover":true}}' | grep -q '"status":200'; do
  :
done
T6=$(date +%s.%N)
echo "| failover | kill -9 of the leader (node $LN) | first committed write after $(echo "$T6 - $T5" | bc) s |"
