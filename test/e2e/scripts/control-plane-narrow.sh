#!/bin/sh
# Runs inside the nfsvm guest (busybox userland, Linux kernel NFSv3 client) against the export
# /projects that control-plane.test.ts created through the CLI, mounted at $MNT. Each step prints
# "ok <name>" or "FAIL <name>: why" and the script exits non-zero at the first failure.
#
# 1. copies the seed files into the mount, drops the caches, reads them back and compares md5s;
# 2. prints "NARROW-NOW": the host narrows the export through the REST API (clients 10.99.99.99)
#    while this mount stays up and the server keeps running;
# 3. polls: each round stats a name it never used before (so the kernel must send a LOOKUP),
#    which answers ENOENT while the export still admits us and EACCES once it does not;
# 4. then reading a file written in step 1 (after dropping caches) and listing a directory
#    must fail with "Permission denied" as well, and listing the mount's root must fail.
#
# Arguments: $1 = seconds to wait for the refusal, then pairs of (guest seed path, md5).
set -u
WAIT=$1; shift
cd "$MNT" || exit 1
fail() { echo "FAIL $*"; exit 1; }
ok() { echo "ok $*"; }
dropcaches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# 1. write, read back, compare.
n=0; names=""
while [ $# -ge 2 ]; do
  src=$1; md5=$2; shift 2
  name=$(basename "$src")
  cat "$src" > "$MNT/$name" || fail "write $name"
  names="$names $name"; n=$((n+1))
  eval "md5_$n=$md5"
done
[ "$n" -gt 0 ] || fail "no seed files given"
mkdir -p "$MNT/dir" && echo inside > "$MNT/dir/file" || fail "mkdir dir"
dropcaches
i=0
for name in $names; do
  i=$((i+1)); eval "want=\$md5_$i"
  got=$(md5sum "$MNT/$name" | cut -d' ' -f1) || fail "read $name"
  [ "$got" = "$want" ] || fail "read back $name: md5 $got != $want"
done
ok "wrote and read back $n files"
probe=$(stat "$MNT/.probe-before" 2>&1) && fail "probe before narrowing exists"
case "$probe" in *"No such file"*) ;; *) fail "probe before narrowing: $probe" ;; esac
ok "lookup of a missing name answers ENOENT while exported to us"

# 2. hand over to the host.
echo "NARROW-NOW"

# 3. poll for the refusal (a new name each round: no dentry, so a LOOKUP goes to the server).
t0=$(date +%s); round=0; refused=""
while [ $(( $(date +%s) - t0 )) -lt "$WAIT" ]; do
  round=$((round+1))
  msg=$(stat "$MNT/.probe-$round" 2>&1) && fail "probe $round unexpectedly exists"
  case "$msg" in
    *"Permission denied"*) refused=$round; break ;;
    *"No such file"*) sleep 0.2 ;;
    *) fail "probe $round: unexpected error: $msg" ;;
  esac
done
[ -n "$refused" ] || fail "no EACCES within ${WAIT}s after NARROW-NOW (export still admits the client)"
ok "refused: lookup answers EACCES after $(( $(date +%s) - t0 ))s (round $refused)"

# 4. the data written before is out of reach too.
dropcaches
first=${names# }; first=${first%% *}
msg=$(cat "$MNT/$first" 2>&1 >/dev/null) && fail "reading $first still works after narrowing"
case "$msg" in *"Permission denied"*) ;; *) fail "read $first after narrowing: unexpected error: $msg" ;; esac
ok "refused: read of $first answers EACCES"
msg=$(ls "$MNT/dir" 2>&1 >/dev/null) && fail "listing dir still works after narrowing"
case "$msg" in *"Permission denied"*) ;; *) fail "ls dir after narrowing: unexpected error: $msg" ;; esac
ok "refused: ls of a directory answers EACCES"
# The mount's root itself: the path walk ends on the mount point, whose revalidation
# (nfs_weak_revalidate) turns any GETATTR error into ESTALE in the kernel, so either is a refusal.
msg=$(ls "$MNT/" 2>&1 >/dev/null) && fail "listing the mount root still works after narrowing"
case "$msg" in *"Permission denied"*|*"Stale file handle"*) ;; *) fail "ls of the mount root: unexpected error: $msg" ;; esac
ok "refused: ls of the mount root fails (${msg##*: })"
echo "ALL-OK"
