#!/usr/bin/env bash
# Load director overhead: nfsbench against one bare data mover, direct and through a director
# in front of it, in the same run, alternating per workload (so drift on a shared machine hits
# both sides), printing director/direct ratios. Target: 0.9 or better (issue 5).
#
# Usage: bench/director.sh [ROUNDS]     (default 2 rounds; each figure is the best of its rounds)
# Needs a build (FERRY_DIST, else dist/) and nfsbench (built into .tmp/nfsbench if missing).
# Env: FERRY_BENCH_SIZE (seq file size, default 512M), FERRY_BENCH_SECONDS (randread, default 5),
#      FERRY_BENCH_FILES (meta, default 2000). Each nfsbench run is capped at 180 s.
#      FERRY_BENCH_PIN=1: the mover and nfsbench on CPU 0, the director on CPU 1 (taskset), as if
#      the director had a machine of its own (it does in a deployment); direct runs are pinned
#      the same way, so both sides get the same one core for the mover and its client.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-2}"
DIST="${FERRY_DIST:-dist}"
SIZE="${FERRY_BENCH_SIZE:-512M}"
SECONDS_RAND="${FERRY_BENCH_SECONDS:-5}"
FILES="${FERRY_BENCH_FILES:-2000}"
NFSBENCH=.tmp/nfsbench/nfsbench
SHARED="${FERRY_SHARED:-$(cd .. && pwd)/shared}"
[ -d "$SHARED/tools/nfsbench" ] || SHARED=/work/shared
if [ ! -x "$NFSBENCH" ]; then mkdir -p .tmp/nfsbench && make -s -C "$SHARED/tools/nfsbench" OUT="$PWD/.tmp/nfsbench" >/dev/null; fi
for f in "$DIST/apps/data-mover/src/main.js" "$DIST/apps/load-director/src/main.js"; do
  [ -f "$f" ] || { echo "missing $f: run npm run build (or set FERRY_DIST)" >&2; exit 2; }
done

PIN_MOVER=(); PIN_DIRECTOR=()
if [ "${FERRY_BENCH_PIN:-0}" = 1 ]; then PIN_MOVER=(taskset -c 0); PIN_DIRECTOR=(taskset -c 1); fi
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
WORK="$(mktemp -d /tmp/ferry-director-bench.XXXXXX)"
MOVER_PID=""; DIRECTOR_PID=""
cleanup() {
  for p in $DIRECTOR_PID $MOVER_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_ready() { for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $2" >&2; exit 1; }

M_NFS=$(free_port); M_HTTP=$(free_port); D_NFS=$(free_port); D_HTTP=$(free_port)
mkdir -p "$WORK/mover"
FERRY_DATA_DIR="$WORK/mover" FERRY_NFS_PORT=$M_NFS FERRY_HTTP_PORT=$M_HTTP FERRY_PORTMAP_PORT=0 FERRY_BIND_ADDRESS=127.0.0.1 \
  FERRY_POOL_SIZE=8G FERRY_LOG_LEVEL=warn FERRY_DIRECTOR_NETWORKS=127.0.0.1/32 \
  "${PIN_MOVER[@]}" node "$DIST/apps/data-mover/src/main.js" >"$WORK/mover.log" 2>&1 &
MOVER_PID=$!
wait_ready "$M_HTTP" mover
FERRY_DIRECTOR_ROUTES="1=127.0.0.1:$M_NFS,export:/export=1" FERRY_NFS_PORT=$D_NFS FERRY_HTTP_PORT=$D_HTTP FERRY_PORTMAP_PORT=0 \
  FERRY_BIND_ADDRESS=127.0.0.1 FERRY_LOG_LEVEL=warn DATABASE_URL= \
  "${PIN_DIRECTOR[@]}" node "$DIST/apps/load-director/src/main.js" >"$WORK/director.log" 2>&1 &
DIRECTOR_PID=$!
wait_ready "$D_HTTP" director

url() { echo "nfs://127.0.0.1/export?version=3&nfsport=$1&mountport=$1"; }
run() { # side name port args...
  local side=$1 name=$2 port=$3; shift 3
  timeout 180 "${PIN_MOVER[@]}" "$NFSBENCH" --quiet --json --label "$side $name" "$@" "$(url "$port")" $WORKLOADS | tail -1 >>"$WORK/results.jsonl"
}
for round in $(seq 1 "$ROUNDS"); do
  for side in direct director; do
    port=$M_NFS; [ "$side" = director ] && port=$D_NFS
    WORKLOADS="seqwrite seqread" run "$side" seq "$port" -s "$SIZE" -b 1M -q 8 --name "seq-$side.dat"
    WORKLOADS="randread" run "$side" rand "$port" -s 256M -q 8 --rbs 4K -t "$SECONDS_RAND" --name "rand-$side.dat"
    WORKLOADS="meta" run "$side" meta "$port" -F "$FILES" --readdir plus --readdir-passes 1 -d "/" 
  done
  echo "round $round done" >&2
done

node - "$WORK/results.jsonl" <<'JS'
const lines = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const best = {}; // side -> metric -> best value
const pick = (side, key, v) => { best[side] ??= {}; best[side][key] = Math.max(best[side][key] ?? 0, v); };
for (const run of lines) {
  const side = run.config?.label?.split(' ')[0] ?? run.label?.split(' ')[0];
  for (const r of run.results) {
    if (r.workload === 'seqwrite' && !r.phase) pick(side, 'seq write 1M qd8 (MiB/s)', r.MiBps);
    if (r.workload === 'seqread') pick(side, 'seq read 1M qd8 (MiB/s)', r.MiBps);
    if (r.workload === 'randread') pick(side, 'randread 4K qd8 (IOPS)', r.ops_per_s);
    if (r.workload === 'meta' && r.phase === 'stat') pick(side, 'stat (ops/s)', r.ops_per_s);
    if (r.workload === 'meta' && r.phase === 'create') pick(side, 'create (files/s)', r.ops_per_s);
  }
}
console.log('metric                         direct     director   ratio');
for (const key of Object.keys(best.direct ?? {})) {
  const d = best.direct[key], v = best.director?.[key] ?? 0;
  console.log(`${key.padEnd(28)} ${d.toFixed(1).padStart(9)} ${v.toFixed(1).padStart(11)}   ${(v / d).toFixed(2)}`);
}
JS
