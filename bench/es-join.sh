#!/usr/bin/env bash
# A fourth node joining a three-node cluster in elasticsearch mode whose
# collection holds N documents in Elasticsearch (default 1,000,000): the
# time from its start to /_ready. Documents are not in the Raft log in this
# mode, so the join copies none (issue 13). Needs redis-server and an
# Elasticsearch on ES_URL (the shared tool's). The documents are bulk-loaded
# straight into the collection's Elasticsearch alias by bench/esdirect (how
# they got there does not matter to a join), then the collection is
# deleted. Prints markdown rows. Usage: bench/es-join.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ES_URL=${ES_URL:-http://127.0.0.1:9200}
NET=${NET:-127.0.0.1}
RP=${REDIS_PORT:-16398}
make -s build
go build -o bin/esdirect ./bench/esdirect
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no >/dev/null 2>&1 &
PIDS+=($!)
start() { # n
  bin/korum --data-dir "$WORK/n$1" --api-addr $NET$1:7512 --cluster-addr $NET$1:7511 \
    --cluster-secret bench --redis redis://127.0.0.1:$RP --log-level warn \
    --storage-engine elasticsearch --elasticsearch-url "$ES_URL" >"$WORK/n$1.log" 2>&1 &
  PIDS+=($!)
}
ready() { # addr
  for _ in $(seq 2000); do curl -sf "http://$1/_ready" >/dev/null && return 0; sleep 0.01; done
  echo "not ready: $1" >&2; cat "$WORK"/*.log >&2; return 1
}
for n in 1 2 3; do start $n; ready $NET$n:7512; done
curl -sf -XDELETE "http://${NET}1:7512/esjoin" >/dev/null || true
curl -sf -XPOST "http://${NET}1:7512/esjoin/_create" >/dev/null
curl -sf -XPUT "http://${NET}1:7512/esjoin/big" -H 'content-type: application/json' -d '{}' >/dev/null
bin/esdirect -url "$ES_URL" -mode load -index '@&esjoin.big' -n "$N"
count=$(curl -sf -XPOST "http://${NET}1:7512/esjoin/big/_count" -H 'content-type: application/json' -d '{}' | sed 's/.*"count":\([0-9]*\).*/\1/')
snap=$(du -sk "$WORK/n1" | cut -f1)
echo "| cluster | 3 nodes, collection count $count (Elasticsearch), node 1 data dir ${snap} KiB | load $(cut -d' ' -f1-3 /proc/loadavg) |"
T0=$(date +%s.%N)
start 4
ready ${NET}4:7512
T1=$(date +%s.%N)
echo "| 4th node joins | start to /_ready | $(echo "($T1 - $T0) * 1000" | bc | cut -d. -f1) ms | data dir $(du -sk "$WORK/n4" | cut -f1) KiB | load $(cut -d' ' -f1-3 /proc/loadavg) |"
curl -sf -XDELETE "http://${NET}1:7512/esjoin" >/dev/null || true
