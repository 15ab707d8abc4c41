#!/usr/bin/env bash
# Failover, measured N times: three bin/korum on ${NET}1-3 (default
# 127.0.0.21-23) found a cluster through a real redis-server; then, N times:
# kill -9 the leader, time until a document create sent to a survivor
# answers status 200 (a committed write), restart the killed node with its
# data dir and wait until all three are ready voters under one leader again.
# Prints each sample and min/median/max in seconds.
#
# With LOAD=20s it first runs bin/wsload (LOAD_MODES, default "create get",
# 64 clients over the three nodes) for that long per mode on the stable
# cluster and reports the leadership changes it caused: Raft term deltas
# and the nodes' "entering candidate state", "stepping down" and "failed
# to contact" log lines. N may be 0 to measure only that.
#
# With BG_LOAD=16 every sample runs with that many bin/wsload create clients
# writing through the two survivors-to-be while the leader is killed.
#
# Usage: bench/failover.sh [N]   (default 10)
# Env:   NET (address prefix, default 127.0.0.2), REDIS_PORT (default 16421),
#        ARGS (extra korum flags, e.g. '--raft-heartbeat-timeout 250ms'),
#        LOG_LEVEL (default info), KEEP=1 (keep the work dir and its logs),
#        NOBUILD=1 (use bin/korum as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
NET=${NET:-127.0.0.2}
RP=${REDIS_PORT:-16421}
ARGS=${ARGS:-}
[ -n "${NOBUILD:-}" ] || { make -s build; [ -z "${LOAD:-}${BG_LOAD:-}" ] || go build -o bin/wsload ./bench/wsload; }
WORK=$(mktemp -d)
declare -A PID
REDIS=
BG=
cleanup() {
  for p in "${PID[@]}" $REDIS $BG; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# deadline SECONDS: a time SECONDS from now; past DEADLINE: true once reached.
deadline() { echo "$(now) + $1" | bc; }
past() { (( $(echo "$(now) > $1" | bc) )); }
die() { echo "$*" >&2; exit 1; }

if (exec 3<>"/dev/tcp/${NET}1/$RP") 2>/dev/null; then die "port ${NET}1:$RP is taken; set REDIS_PORT"; fi
redis-server --bind "${NET}1" --port "$RP" --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
REDIS=$!
disown
D=$(deadline 10)
until redis-cli -h "${NET}1" -p "$RP" ping 2>/dev/null | grep -q PONG; do past "$D" && die "redis did not start"; sleep 0.05; done

start() { # n
  # shellcheck disable=SC2086 # ARGS is a list of flags
  bin/korum --data-dir "$WORK/n$1" --api-addr "$NET$1:7512" --cluster-addr "$NET$1:7511" \
    --cluster-secret failover --redis "redis://${NET}1:$RP" --log-level "${LOG_LEVEL:-info}" $ARGS \
    >>"$WORK/n$1.log" 2>&1 &
  PID[$1]=$!
  disown # no "Killed" job notices
}
status() { curl -s -m 1 "http://$NET$1:7512/cluster/_status" || true; }
node_id() { curl -s -m 1 "http://$NET$1:7512/_now" | sed -n 's/.*"node":"\([^"]*\)".*/\1/p'; }
# stable: every node ready, three voters, one leader named by all; prints
# the leader's node number.
stable() {
  local n s l= ln=
  for n in 1 2 3; do
    curl -sf -m 1 "http://$NET$n:7512/_ready" >/dev/null || return 1
    s=$(status "$n")
    [ "$(grep -o '"role":"voter"' <<<"$s" | wc -l)" = 3 ] || return 1
    s=$(sed -n 's/.*"leader":"\([^"]*\)".*/\1/p' <<<"$s")
    [ -n "$s" ] || return 1
    [ -z "$l" ] || [ "$l" = "$s" ] || return 1
    l=$s
  done
  for n in 1 2 3; do [ "${ID[$n]}" = "$l" ] && ln=$n; done
  [ -n "$ln" ] && echo "$ln"
}
wait_stable() {
  local d; d=$(deadline 60)
  until LN=$(stable); do past "$d" && die "cluster not stable after 60 s (logs: $WORK, KEEP=1 keeps them)"; sleep 0.05; done
}
wait_ready() { # n
  local d; d=$(deadline 30)
  until curl -sf -m 1 "http://$NET$1:7512/_ready" >/dev/null; do past "$d" && die "node $1 not ready"; sleep 0.05; done
}
q() { # n body
  curl -s -m 2 -XPOST "http://$NET$1:7512/_query" -H 'Content-Type: application/json' -d "$2"
}

start 1; wait_ready 1
start 2; start 3; wait_ready 2; wait_ready 3
declare -A ID
for n in 1 2 3; do ID[$n]=$(node_id "$n"); done
wait_stable
q 1 '{"controller":"index","action":"create","index":"fo"}' >/dev/null
q 1 '{"controller":"collection","action":"create","index":"fo","collection":"docs"}' | grep -q '"status":200' ||
  die "could not create the collection"

commit() { status "$1" | sed -n 's/.*"commitIndex":\([0-9]*\).*/\1/p' | head -1; }
term() { status "$1" | sed -n 's/.*"term":\([0-9]*\).*/\1/p' | head -1; }
logcount() { cat "$WORK"/n[123].log | grep -c "$1" || true; }
if [ -n "${LOAD:-}" ]; then
  for mode in ${LOAD_MODES:-create get}; do
    wait_stable
    t0=$(term "$LN"); c0=$(logcount 'entering candidate state'); s0=$(logcount 'stepping down'); f0=$(logcount 'failed to contact')
    l0=$(cut -d' ' -f1 /proc/loadavg)
    bin/wsload -addr "${NET}1:7512,${NET}2:7512,${NET}3:7512" -mode "$mode" -clients "${CLIENTS:-64}" -duration "$LOAD" 2>&1 | grep '^|' || true
    wait_stable
    echo "| load $mode $LOAD | ARGS='$ARGS' | term +$(( $(term "$LN") - t0 )) | candidates +$(( $(logcount 'entering candidate state') - c0 )) | step-downs +$(( $(logcount 'stepping down') - s0 )) | 'failed to contact' warnings +$(( $(logcount 'failed to contact') - f0 )) | load average $l0 → $(cut -d' ' -f1 /proc/loadavg) |"
  done
fi
[ "$N" -gt 0 ] || exit 0

echo "# failover: $N samples, 3 voters on ${NET}1-3, ARGS='$ARGS', BG_LOAD='${BG_LOAD:-}', load average: $(cut -d' ' -f1-3 /proc/loadavg)"
SAMPLES=()
for i in $(seq "$N"); do
  wait_stable
  SURV=$(( LN % 3 + 1 ))
  if [ -n "${BG_LOAD:-}" ]; then
    OTHER=$(( SURV % 3 + 1 ))
    bin/wsload -addr "$NET$SURV:7512,$NET$OTHER:7512" -mode create -clients "$BG_LOAD" -duration 60s >"$WORK/bg.out" 2>&1 &
    BG=$!
    disown
    # Kill only once the load commits: the commit index moved by 500.
    c0=$(commit "$LN"); D=$(deadline 30)
    until [ "$(commit "$LN")" -ge $(( c0 + 500 )) ] 2>/dev/null; do
      past "$D" && die "background load did not start: $(cat "$WORK/bg.out")"; sleep 0.05
    done
  fi
  T0=$(now)
  kill -9 "${PID[$LN]}"
  D=$(deadline 60)
  until q "$SURV" '{"controller":"document","action":"create","index":"fo","collection":"docs","body":{"i":'"$i"'}}' |
      grep -q '"status":200'; do
    past "$D" && die "no write committed 60 s after the leader died"
  done
  T1=$(now)
  [ -z "$BG" ] || { kill -9 "$BG" 2>/dev/null || true; BG=; }
  D=$(deadline 10)
  while kill -0 "${PID[$LN]}" 2>/dev/null; do past "$D" && die "node $LN survived kill -9"; sleep 0.05; done
  S=$(printf '%.3f' "$(echo "$T1 - $T0" | bc)")
  SAMPLES+=("$S")
  echo "sample $i: killed node $LN, write through node $SURV committed after $S s (load $(cut -d' ' -f1 /proc/loadavg))"
  start "$LN"
done
sorted=$(printf '%s\n' "${SAMPLES[@]}" | sort -n)
min=$(head -1 <<<"$sorted"); max=$(tail -1 <<<"$sorted")
med=$(awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}' <<<"$sorted")
echo "| failover | ARGS='$ARGS' BG_LOAD='${BG_LOAD:-}' | n=$N | min $min s | median $med s | max $max s | load average $(cut -d' ' -f1-3 /proc/loadavg) |"
