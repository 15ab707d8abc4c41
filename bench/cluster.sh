#!/usr/bin/env bash
# Cluster benchmarks on one machine: three bin/korum on 127.0.0.11-13 (then
# a 4th and a 5th joining) with a
# real redis-server, then the load programs. Prints markdown rows for
# docs/benchmarks.md. Usage: bench/cluster.sh [duration]   (default 10s)
# KORUM_BIN=path runs another build of the node (to compare two versions
# in the same conditions) instead of building bin/korum.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10s}
# Nodes listen on ${NET}1 to ${NET}5 (default 127.0.0.11-15).
NET=${NET:-127.0.0.1}
RP=${REDIS_PORT:-16399}
[ -n "${KORUM_BIN:-}" ] || make -s build
KORUM_BIN=${KORUM_BIN:-bin/korum}
go build -o bin/wsload ./bench/wsload
WORK=$(mktemp -d)
PIDS=()
OTHERS=()
cleanup() { for p in "${PIDS[@]}" "${OTHERS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# Every commit is two fdatasyncs per node's Raft log (bbolt), and a document
# write two more in its store: the disk's sync latency sets much of what
# follows, and it varies on a shared VM. Report it with the figures.
SYNC_T0=$(date +%s.%N)
dd if=/dev/zero of="$WORK/sync-probe" bs=4k count=500 oflag=dsync status=none
echo "| disk | 500 × 4 KiB writes with O_DSYNC in $WORK | $(echo "($(date +%s.%N) - $SYNC_T0) * 2000" | bc | cut -d. -f1) µs per synced write |"
rm -f "$WORK/sync-probe"

redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no >/dev/null 2>&1 &
PIDS+=($!)
start() { # n
  "$KORUM_BIN" --data-dir "$WORK/n$1" --api-addr $NET$1:7512 --cluster-addr $NET$1:7511 \
    --cluster-secret bench --redis redis://127.0.0.1:$RP --log-level warn --debug-addr $NET$1:7513 >"$WORK/n$1.log" 2>&1 &
  PIDS+=($!)
}
ready() { # addr
  for _ in $(seq 200); do curl -sf "http://$1/_ready" >/dev/null && return 0; sleep 0.05; done
  echo "not ready: $1" >&2; return 1
}
voters() { curl -s http://${NET}1:7512/cluster/_status | grep -o '"role":"voter"' | wc -l; }
T0=$(date +%s.%N)
start 1; ready ${NET}1:7512
start 2; start 3; ready ${NET}2:7512; ready ${NET}3:7512
T1=$(date +%s.%N)
for _ in $(seq 200); do [ "$(voters)" = 3 ] && break; sleep 0.1; done
T2=$(date +%s.%N)
echo "| formation | 3 nodes through Redis | all ready in $(echo "$T1 - $T0" | bc) s | 3 voters after $(echo "$T2 - $T0" | bc) s |"

A=${NET}1:7512,${NET}2:7512,${NET}3:7512
# The CPU the three nodes spent per operation (user + system, from
# /proc), a figure that other load on the machine disturbs less than
# throughput: it is appended to each row.
node_ticks() { local t=0 p; for p in "${PIDS[@]:1:3}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
measure() { # wsload arguments
  local t0 row ops secs
  t0=$(node_ticks)
  row=$(bin/wsload "$@")
  secs=$(echo "scale=2; ($(node_ticks) - $t0) / $(getconf CLK_TCK)" | bc)
  ops=$(echo "$row" | sed -n 's/.* \([0-9]*\) req\/s .*/\1/p; s/.*, \([0-9]*\)\/s done .*/\1/p')
  echo "$row node CPU $secs s$( [ -n "$ops" ] && echo ", $(echo "$secs * 1000000 / ($ops * ${D%s})" | bc) µs/op") |"
}
measure -addr ${NET}2:7512 -mode subscribe -clients 1 -duration "$D"
measure -addr "$A" -mode subscribe -clients 256 -duration "$D"
measure -addr "$A" -mode get -clients 64 -duration "$D"
measure -addr "$A" -mode create -clients 64 -duration "$D"
measure -addr ${NET}2:7512,${NET}3:7512 -mode xnotify -rate 10000 -duration "$D"

# New nodes joining a cluster that holds ROOMS (100,000) rooms, kept open
# by a wsload process: time from start to /_ready. Node 4 joins at once
# (it may replay much of the log); node 5 once the leader's latest snapshot
# covers every room (it installs that snapshot, then the log's tail).
bin/wsload -addr "$A" -mode rooms -rooms "${ROOMS:-100000}" -clients 32 -hold 1h >"$WORK/rooms.out" 2>&1 &
HOLDER=$!
OTHERS+=($HOLDER)
until grep -q '^| rooms' "$WORK/rooms.out"; do
  kill -0 $HOLDER 2>/dev/null || { cat "$WORK/rooms.out" >&2; exit 1; }
  sleep 0.2
done
cat "$WORK/rooms.out"
# grep finding no room must not end the script under pipefail.
rooms_on() { curl -s -XPOST "http://$1/_query" -d '{"controller":"realtime","action":"list"}' | { grep -o '"[0-9a-f]\{64\}"' || true; } | wc -l; }
leader_n() {
  local l; l=$(curl -s http://${NET}2:7512/cluster/_status | sed -n 's/.*"leader":"\([^"]*\)".*/\1/p')
  for n in 1 2 3 4 5; do
    [ "$(curl -s "http://$NET$n:7512/_now" | sed -n 's/.*"node":"\([^"]*\)".*/\1/p')" = "$l" ] && echo $n
  done
  return 0
}
join() { # n
  local t0 t1 how="the log"
  t0=$(date +%s.%N); start "$1"; ready "$NET$1:7512"; t1=$(date +%s.%N)
  [ -n "$(ls "$WORK/n$1/raft/snapshots")" ] && how="a snapshot and the log's tail"
  echo "| join | node $1, $(rooms_on "$NET$1:7512") rooms in the state, caught up from $how | serving (/_ready) after $(echo "$t1 - $t0" | bc) s |"
}
join 4
LN=$(leader_n)
COMMIT=$(curl -s http://${NET}1:7512/cluster/_status | sed -n 's/.*"commitIndex":\([0-9]*\).*/\1/p')
snap_index() { ls "$WORK/n$LN/raft/snapshots" 2>/dev/null | sed -n 's/^[0-9]*-\([0-9]*\)-.*/\1/p' | sort -n | tail -1; }
for _ in $(seq 600); do [ "$(snap_index)" -ge "$COMMIT" ] 2>/dev/null && break; sleep 0.2; done
join 5
kill "$HOLDER"
for _ in $(seq 600); do [ "$(rooms_on ${NET}1:7512)" = 0 ] && break; sleep 0.2; done

# Failover: kill -9 the leader, then time until a write commits again.
LN=$(leader_n)
SURV=$(( LN == 2 ? 3 : 2 ))
T5=$(date +%s.%N)
kill -9 "${PIDS[$LN]}"
until curl -s -m 2 -XPOST "http://$NET$SURV:7512/_query" \
    -d '{"controller":"document","action":"create","index":"bench","collection":"docs","body":{"failover":true}}' | grep -q '"status":200'; do
  if (( $(echo "$(date +%s.%N) - $T5 > 60" | bc) )); then echo "no write committed 60 s after the leader died" >&2; exit 1; fi
done
T6=$(date +%s.%N)
echo "| failover | kill -9 of the leader (node $LN) | first committed write after $(echo "$T6 - $T5" | bc) s |"
