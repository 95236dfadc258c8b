#!/bin/sh
# Runs inside the nfsvm guest (busybox userland, Linux kernel NFSv3 client) against Ferry's
# export mounted at $MNT. Each step prints "ok <name>" or "FAIL <name>: why" and the script
# exits non-zero at the first failure. The host side (kernel-client.test.ts) watches stdout for
# "RESTART-NOW", restarts the server, then writes the marker file the script waits for.
#
# Arguments: $1 = seed file path in the guest (random data, 16 MiB), $2 = its md5,
#            $3 = number of seed copies in the big file,
#            $4 = entries of the big directory (default 20000; a multiple of 400).
set -u
SEED=$1; SEED_MD5=$2; COPIES=$3; ENTRIES=${4:-20000}
PART=$((ENTRIES / 4)); ADDED=$((ENTRIES / 10))
cd "$MNT" || exit 1
W=$MNT/work.$$
mkdir "$W" || { echo "FAIL mkdir workdir"; exit 1; }
cd "$W"
fail() { echo "FAIL $*"; exit 1; }
T0=$(date +%s)
ok() { echo "ok $* [$(( $(date +%s) - T0 ))s]"; }
dropcaches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# 1. big write and read back: COPIES x 16 MiB written, read back after dropping caches.
i=0; : > big
while [ $i -lt "$COPIES" ]; do cat "$SEED" >> big || fail "big write copy $i"; i=$((i+1)); done
sync
expect_size=$((COPIES * 16777216))
[ "$(stat -c %s big)" = "$expect_size" ] || fail "big size $(stat -c %s big) != $expect_size"
dropcaches
i=0
while [ $i -lt "$COPIES" ]; do
  got=$(dd if=big bs=1048576 skip=$((i*16)) count=16 2>/dev/null | md5sum | cut -d' ' -f1)
  [ "$got" = "$SEED_MD5" ] || fail "big read copy $i md5 $got != $SEED_MD5"
  i=$((i+1))
done
ok "big file ${COPIES}x16MiB written and read back"

# 2. append, truncate, extend.
printf 'hello' > a; printf ' world' >> a
[ "$(cat a)" = "hello world" ] || fail "append: $(cat a)"
truncate -s 5 a; [ "$(cat a)" = "hello" ] || fail "truncate: $(cat a)"
truncate -s 4096 a; [ "$(stat -c %s a)" = 4096 ] || fail "extend size"
dropcaches
[ "$(dd if=a bs=1 skip=5 count=4091 2>/dev/null | tr -d '\000' | wc -c)" = 0 ] || fail "extended tail not zero"
[ "$(head -c 5 a)" = "hello" ] || fail "head after extend"
ok "append truncate extend"

# 3. sparse file: a byte at 2 GiB and one at 6 TiB; holes read as zeros; little space used.
printf 'X' | dd of=sparse bs=1 seek=2147483648 conv=notrunc 2>/dev/null || fail "sparse write 2G"
printf 'Y' | dd of=sparse bs=1 seek=6597069766656 conv=notrunc 2>/dev/null || fail "sparse write 6T"
dropcaches
[ "$(stat -c %s sparse)" = 6597069766657 ] || fail "sparse size $(stat -c %s sparse)"
[ "$(dd if=sparse bs=1 skip=2147483648 count=1 2>/dev/null)" = X ] || fail "sparse read X"
[ "$(dd if=sparse bs=1 skip=6597069766656 count=1 2>/dev/null)" = Y ] || fail "sparse read Y"
[ "$(dd if=sparse bs=4096 skip=1000 count=4 2>/dev/null | tr -d '\000' | wc -c)" = 0 ] || fail "sparse hole not zero"
blocks=$(stat -c %b sparse)
[ "$blocks" -lt 1024 ] || fail "sparse uses $blocks blocks"
ok "sparse file (6 TiB, $blocks blocks)"

# 4. rename: in place, over an existing file, across directories, directory rename.
mkdir d1 d2
echo one > d1/f1; echo two > d2/f2
mv d1/f1 d1/g1 || fail "rename in place"
mv d1/g1 d2/f2 || fail "rename over existing across dirs"
[ "$(cat d2/f2)" = one ] || fail "rename over: content $(cat d2/f2)"
[ ! -e d1/g1 ] || fail "rename source still there"
mkdir d1/sub; echo deep > d1/sub/x
mv d1/sub d2/sub2 || fail "dir rename across"
[ "$(cat d2/sub2/x)" = deep ] || fail "dir rename content"
ok "rename"

# 5. hard links and link counts.
echo linked > h1
ln h1 h2 || fail "link"
[ "$(stat -c %h h1)" = 2 ] || fail "nlink after link $(stat -c %h h1)"
rm h1
[ "$(stat -c %h h2)" = 1 ] || fail "nlink after unlink"
[ "$(cat h2)" = linked ] || fail "content via second link"
ok "hard links"

# 6. symlinks.
ln -s d2/f2 sl || fail "symlink"
[ "$(readlink sl)" = d2/f2 ] || fail "readlink $(readlink sl)"
[ "$(cat sl)" = one ] || fail "follow symlink"
ok "symlinks"

# 7. mkdir/rmdir, ENOTEMPTY.
mkdir -p e/f
if rmdir e 2>/dev/null; then fail "rmdir non-empty succeeded"; fi
rmdir e 2>&1 | grep -qi 'not empty' || fail "rmdir error is not ENOTEMPTY: $(rmdir e 2>&1)"
rmdir e/f && rmdir e || fail "rmdir empty"
[ "$(stat -c %h d2)" = 3 ] || fail "dir nlink $(stat -c %h d2) (expect 3 with one subdir)"
ok "mkdir rmdir"

# 8. chmod, chown, utimes.
echo m > perm
chmod 640 perm; [ "$(stat -c %a perm)" = 640 ] || fail "chmod $(stat -c %a perm)"
chown 1234:5678 perm; [ "$(stat -c %u:%g perm)" = 1234:5678 ] || fail "chown $(stat -c %u:%g perm)"
touch -d '2001-02-03 04:05:06' perm; [ "$(stat -c %Y perm)" = "$(date -d '2001-02-03 04:05:06' +%s)" ] || fail "utimes $(stat -c %Y perm)"
ok "chmod chown utimes"

# 9. special files.
mkfifo fifo && [ -p fifo ] || fail "mkfifo"
mknod cdev c 1 3 && [ -c cdev ] || fail "mknod c"
[ "$(stat -c %t:%T cdev)" = 1:3 ] || fail "cdev rdev $(stat -c %t:%T cdev)"
mknod bdev b 8 1 && [ -b bdev ] || fail "mknod b"
ok "mkfifo mknod"

# 10. df shows the filesystem.
df -k "$MNT" | tail -1 | awk '{ if ($2 <= 0) exit 1 }' || fail "df: $(df -k "$MNT")"
ok "df $(df -k "$MNT" | tail -1)"

# 11. a directory of ENTRIES (20,000) entries, listed completely while files are being added.
mkdir big20k; cd big20k
# Four creators in parallel (the client keeps several calls in flight; the server batches syncs).
for part in 0 1 2 3; do
  ( i=$((part*PART)); end=$((i+PART)); while [ $i -lt $end ]; do : > "f$i"; i=$((i+1)); done ) &
done
wait
( j=0; while [ $j -lt $ADDED ]; do : > "new$j"; j=$((j+1)); done ) &
adder=$!
ls -1a > /tmp/listing
wait $adder
n=$(grep -c '^f[0-9]*$' /tmp/listing)
[ "$n" = "$ENTRIES" ] || fail "listing while adding: $n of $ENTRIES original entries"
dups=$(sort /tmp/listing | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "listing has $dups duplicate names"
[ "$(ls -1a | grep -c .)" = $((ENTRIES + ADDED + 2)) ] || fail "final listing count $(ls -1a | grep -c .)"
cd ..
ok "$ENTRIES-entry directory listed while growing"

# 12. server restart under a live mount: keep handles (cwd, open file), nothing committed lost.
echo before-restart > keep
exec 3< keep
cd d2
# A second mount without attribute or lookup caching, to see the server's restart marker. It is
# made before the restart: mounted during it, the mount helper would meet a closed port and fail
# at once (it does not retry), and a mount that lives through the restart is the point anyway.
nfsvm-mount-export /mnt2 'noac,lookupcache=none' >/dev/null 2>&1 || fail "second mount"
echo "RESTART-NOW"
t=0
while [ ! -e /mnt2/.ferry-restarted ]; do sleep 1; t=$((t+1)); [ $t -lt 120 ] || fail "no restart marker"; done
[ "$(cat f2)" = one ] || fail "read in cwd after restart"
[ "$(cat <&3)" = before-restart ] || fail "read open fd after restart"
echo after > after-restart || fail "write after restart"
[ "$(cat "$W/keep")" = before-restart ] || fail "committed data after restart"
[ "$(cat "$W/d2/sub2/x")" = deep ] || fail "path walk after restart"
exec 3<&-
ok "server restart under live mount"
cd "$W/big20k"
for part in 0 1 2 3; do
  ( i=$((part*PART)); end=$((i+PART))
    while [ $i -lt $end ]; do
      list=""; j=0; while [ $j -lt 100 ]; do list="$list f$((i+j))"; j=$((j+1)); done
      rm -f $list; i=$((i+100))
    done ) &
done
wait
cd "$MNT"
rm -rf "$W" || fail "rm -rf workdir"
ok "cleanup"
echo "ALL-OK"
