#!/bin/sh
# Runs Koncorde 4.7.0 (benchmark.js shape) and this package's BenchmarkMatch
# on the same machine and prints a markdown table of matches/s per keyword
# (median of three runs on each side).
# Needs node with the oracle's node_modules (make -C realtime/filter oracle-deps).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

node bench/koncorde_bench.js > "$tmp/koncorde.jsonl"
go test -run '^$' -bench '^BenchmarkMatch$' -benchtime=1s -count=3 . > "$tmp/go.txt"

echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') ($(nproc) cores); $(go version | cut -d' ' -f3); node $(node --version)"
echo
echo "| Keyword (10,000 filters) | Koncorde 4.7.0 matches/s | Korum matches/s | Ratio |"
echo "|---|---:|---:|---:|"
while read -r line; do
  name=$(echo "$line" | sed 's/.*"name":"\([^"]*\)".*/\1/')
  kops=$(echo "$line" | sed 's/.*"opsPerSec":\([0-9.e+]*\).*/\1/')
  # median of the three Go runs
  ns=$(awk -v n="BenchmarkMatch/$name-" 'index($1, n) == 1 { print $3 }' "$tmp/go.txt" | sort -g | sed -n 2p)
  awk -v name="$name" -v k="$kops" -v ns="$ns" 'BEGIN {
    g = 1e9 / ns
    printf "| %s | %d | %d | %.1f× |\n", name, k, g, g / k
  }'
done < "$tmp/koncorde.jsonl"
