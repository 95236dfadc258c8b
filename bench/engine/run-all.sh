#!/usr/bin/env bash
# Engine benchmarks, all four, with sizes that fit about 10 minutes on 2 shared cores.
# Needs only node and dd (no npm): compiles the repository privately into $OUT with the
# installed tsc, so a build of dist/ by someone else is neither needed nor disturbed.
#
#   bash bench/engine/run-all.sh            # defaults below
#   FILES=1000000 bash bench/engine/run-all.sh
#   SKIP_BUILD=1 OUT=/tmp/benchdist bash bench/engine/run-all.sh
#
# Scratch pool files go under .tmp/ of the repository (same disk) and are removed by each script.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
OUT="${OUT:-/tmp/ferry-bench-engine-dist}"
FILES="${FILES:-500000}"          # create-files (spread over directories of 10,000)
SINGLE_FILES="${SINGLE_FILES:-200000}" # create-files, one directory
ENTRIES="${ENTRIES:-100000}"      # big-directory
RECOVERY_N="${RECOVERY_N:-10000 500000}"  # recovery runs, one per N
MIB="${MIB:-1024}"                # seq-throughput
MAX_SECONDS="${MAX_SECONDS:-180}" # budget of each create phase

TSC="$ROOT/node_modules/.bin/tsc"
ALIAS="$ROOT/node_modules/.bin/tsc-alias"
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building into $OUT"
  mkdir -p "$OUT"
  # The private tsBuildInfoFile keeps dist/.tsbuildinfo (the team's incremental state) untouched.
  # Errors in folders other than bench/engine are someone's work in progress: tsc still emits.
  "$TSC" -p tsconfig.build.json --outDir "$OUT" --tsBuildInfoFile "$OUT/.tsbuildinfo" > "$OUT/tsc.log" 2>&1 || {
    if grep -q '^bench/engine/' "$OUT/tsc.log"; then cat "$OUT/tsc.log"; exit 1; fi
    echo "(tsc reported errors outside bench/engine; see $OUT/tsc.log)"
  }
  "$ALIAS" -p tsconfig.build.json --outDir "$OUT"
fi
# node resolves @node-rs/crc32 and friends from the repository's node_modules.
[ -e "$OUT/node_modules" ] || ln -s "$ROOT/node_modules" "$OUT/node_modules"
B="$OUT/bench/engine"
mkdir -p "$ROOT/.tmp"
LOG="$ROOT/.tmp/bench-engine-$(date +%Y%m%d-%H%M%S).log"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), node $(node --version); log: $LOG"

run() {
  echo
  echo "\$ node $*"
  node "$@" 2>&1 | tee -a "$LOG" | grep -v '^  \.\. '
}
start=$(date +%s)
run "$B/create-files.js" --files "$FILES" --max-seconds "$MAX_SECONDS"
run "$B/create-files.js" --files "$SINGLE_FILES" --layout single --max-seconds "$MAX_SECONDS"
run "$B/big-directory.js" --entries "$ENTRIES"
for n in $RECOVERY_N; do run "$B/recovery.js" --files "$n" --max-seconds "$MAX_SECONDS"; done
run "$B/seq-throughput.js" --mib "$MIB"
echo
echo "all engine benchmarks done in $(( $(date +%s) - start )) s; JSON lines: grep '^BENCH ' $LOG"
