#!/usr/bin/env bash
# Builds a stand-in for the Dockerfile's base image (node:20-bookworm-slim) on a machine that
# cannot pull from a container registry but has Debian's packages and Node.js 20: a minimal
# Debian bookworm (debootstrap), this machine's own `node`, npm and Node headers under
# /usr/local as the official image has them, the `node` user (uid 1000), and this machine's CA
# bundle (with an npm config pointing at it). Tests only (test/e2e/image.test.ts): a release
# image is built FROM the official one.
#
# Usage (as root): docker/test-node-base.sh [TAG]   (default ferry-test/node-base:20; an image
# of that tag already there is reused unless FERRY_REBUILD_BASE=1)
# Needs: debootstrap, docker (a running daemon), node 20 on PATH.
set -euo pipefail
TAG="${1:-ferry-test/node-base:20}"
DOCKER="${DOCKER:-docker}"
MIRROR="${FERRY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Built already (by an earlier test run): reused, unless FERRY_REBUILD_BASE=1.
if [ "${FERRY_REBUILD_BASE:-0}" != 1 ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG"
  exit 0
fi

node_bin="$(command -v node)"
case "$("$node_bin" --version)" in v20.*) ;; *) echo "test-node-base: needs Node.js 20 on PATH (found $("$node_bin" --version))" >&2; exit 2 ;; esac
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
headers=""
for cand in "$(dirname "$(dirname "$node_bin")")/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$cand/node_api.h" ]; then headers="$cand"; break; fi
done
[ -n "$headers" ] || { echo "test-node-base: Node headers (node_api.h) not found" >&2; exit 2; }

root="$(mktemp -d /tmp/ferry-node-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >/dev/null
install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include" "$root/usr/local/etc" "$root/etc/ssl/certs"
cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
cp -a "$headers" "$root/usr/local/include/node"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\nfund=false\naudit=false\nupdate-notifier=false\n' >"$root/usr/local/etc/npmrc"
chroot "$root" groupadd -g 1000 node
chroot "$root" useradd -u 1000 -g node -s /bin/sh -m node
chroot "$root" /usr/local/bin/node --version >/dev/null
tar -C "$root" -c . | "$DOCKER" import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  -c 'CMD ["node"]' - "$TAG" >/dev/null
echo "$TAG"
