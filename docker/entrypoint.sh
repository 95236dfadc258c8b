#!/bin/sh
# Entry point of the Ferry image: the first argument chooses the app (one image for every
# process, docs/deployment.md). Every app runs in the foreground as PID 1's only child via exec,
# so SIGTERM from `docker stop` or the kubelet reaches Node directly and the app's own graceful
# shutdown (flush, hand back jobs) runs.
#
#   admin-api        cluster admin API and controller (DATABASE_URL, REDIS_URL, FERRY_POOL_DEVICES, ...)
#   embedded         the one-process start of `npm start` (admin API, jobs, one mover)
#   data-mover       cluster data mover (FERRY_MOVER_NAME, FERRY_ADVERTISE_ADDRESS, ...)
#   data-mover-bare  the bare mover of `npm run start:mover` (FERRY_DATA_DIR, no database)
#   load-director    the NFS front door clients mount
#   cli ARGS...      the `ferry` command line (FERRY_URL, FERRY_TOKEN)
#   init-secrets     creates the handle key and the first admin token in $FERRY_KEYS_DIR if missing
#   mover-drain      drains this mover through the admin API and waits (the preStop hook)
#   help             this list
# Anything else that is a command on PATH runs as given (`docker run -it ferry sh`).
set -eu

# FERRY_DIST: the built tree; the tests point it at a private build.
DIST="${FERRY_DIST:-/app/dist}"
# The helper scripts of this folder sit beside this file in the image (/app/docker).
HERE="$(cd "$(dirname "$0")" && pwd)"

usage() {
  sed -n '/^#   admin-api /,/^#   help /p' "$0" | sed 's/^# \{0,1\}//'
}

run_node() {
  entry="$DIST/$1"
  shift
  if [ ! -f "$entry" ]; then
    echo "ferry entrypoint: $entry is missing (is FERRY_DIST=$DIST a build of this version?)" >&2
    exit 127
  fi
  exec node "$entry" "$@"
}

if [ "$#" -eq 0 ]; then
  echo "ferry entrypoint: no command given; one of:" >&2
  usage >&2
  exit 2
fi

cmd="$1"
shift
case "$cmd" in
  admin-api) run_node apps/admin-api/src/cluster-main.js "$@" ;;
  embedded) run_node apps/admin-api/src/main.js "$@" ;;
  data-mover) run_node apps/data-mover/src/cluster-main.js "$@" ;;
  data-mover-bare) run_node apps/data-mover/src/main.js "$@" ;;
  load-director) run_node apps/load-director/src/main.js "$@" ;;
  cli | ferry) run_node apps/cli/src/main.js "$@" ;;
  init-secrets) exec node "$HERE/init-secrets.js" "$@" ;;
  mover-drain) exec node "$HERE/mover-drain.js" "$@" ;;
  help | --help | -h) usage ;;
  *)
    if command -v "$cmd" >/dev/null 2>&1; then exec "$cmd" "$@"; fi
    echo "ferry entrypoint: unknown command '$cmd'; one of:" >&2
    usage >&2
    exit 2
    ;;
esac
