#!/usr/bin/env bash
# npm run bench: build, make sure nfsbench and nfs-ganesha are here, then compare side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${FERRY_SHARED:-$(cd .. && pwd)/shared}"
[ -x "$SHARED/tools/nfsbench/ganesha-peer" ] || SHARED=/work/shared
if ! command -v ganesha.nfsd >/dev/null || ! dpkg -s libnfs-dev >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nfs-ganesha nfs-ganesha-vfs libnfs-dev pkg-config build-essential >/dev/null
fi
# ganesha.nfsd refuses to start unless it can register with an rpcbind.
if ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
  command -v rpcbind >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rpcbind >/dev/null
  rpcbind -w || rpcbind
  sleep 1
fi
mkdir -p .tmp/nfsbench
make -s -C "$SHARED/tools/nfsbench" OUT="$PWD/.tmp/nfsbench" >/dev/null
npm run build --silent
exec node dist/bench/nfs-compare.js "$@"
