#!/bin/sh
# Runs in the nfsvm VM with the director's export mounted at $MNT (the Linux kernel client).
# Writes files with fsync and reads each back (after dropping the page cache, so the read goes
# to the server) until the host creates $MNT/stop-kernel; prints the longest operation and
# fails at the first error or mismatch. Lines: READY, ok ..., PAUSE-MS n, FAIL ..., ALL-OK.
set -u
D="$MNT/kernel-$$"
mkdir "$D" || { echo "FAIL mkdir"; exit 1; }
echo READY
# busybox date has no %N: milliseconds from /proc/uptime (centisecond resolution).
now_ms() { read -r up _ < /proc/uptime; echo $(( ${up%.*} * 1000 + (1${up#*.} - 100) * 10 )); }
max=0; n=0
while [ ! -e "$MNT/stop-kernel" ]; do
  n=$((n + 1))
  t0=$(now_ms)
  dd if=/dev/urandom of=/tmp/src bs=64k count=4 2>/dev/null
  if ! dd if=/tmp/src of="$D/f$n" bs=64k conv=fsync 2>/tmp/err; then echo "FAIL write f$n: $(cat /tmp/err)"; exit 1; fi
  echo 3 > /proc/sys/vm/drop_caches
  if ! cmp -s /tmp/src "$D/f$n"; then echo "FAIL read back f$n differs"; exit 1; fi
  md5sum < /tmp/src | cut -d' ' -f1 > "/tmp/sum$n"
  t=$(( $(now_ms) - t0 ))
  [ "$t" -gt "$max" ] && max=$t
  [ "$t" -gt 1000 ] && echo "slow f$n ${t}ms"
  [ $((n % 20)) -eq 0 ] && echo "ok $n files"
done
# Everything written and fsynced must still be there, unchanged.
echo 3 > /proc/sys/vm/drop_caches
i=1
while [ $i -le $n ]; do
  got=$(md5sum < "$D/f$i" | cut -d' ' -f1)
  [ "$got" = "$(cat /tmp/sum$i)" ] || { echo "FAIL f$i changed after fsync"; exit 1; }
  i=$((i + 1))
done
echo "ok $n files verified at the end"
echo "PAUSE-MS $max"
echo ALL-OK
