#!/usr/bin/env bash
# A restore drill against a plain restore of the same snapshot, to the same file system: the
# figures of doc/benchmarks.md, "Restore drill against a plain restore".
#
#   PHIVAULT=build/src/phivault/cli/phivault CORPUS=DIR WORK=DIR [ROUNDS=5] [SETTLE=0] \
#     [FRESH_FS=SIZE] [TSV=FILE] bash bench/drill.sh
#
# Backs CORPUS up once into a local repository in WORK/repo, then runs ROUNDS rounds. Each round
# has two steps, in an order that alternates from round to round:
#   restore  `restore latest` into WORK/restore, timed alone and with the `sync` after it (the
#            way ../shared/bench/peers.sh times every restore); then the target is removed,
#            timed and synced, outside the step;
#   drill    `drill` with its sandbox in WORK/sandbox, timed alone and with the `sync` after it;
#            its phases come from the record.
# Before each step: sync, SETTLE seconds of rest (default 0; lets a file system that discards freed
# blocks finish with the last removal), a page-cache drop and a read of the whole repository, so
# that both start from the same state. `steal_s` is the CPU time the hypervisor took during the step.
#
# FRESH_FS=SIZE (8G, say) puts each step's target or sandbox on an ext4 file system made for that
# step alone (an image file in WORK on a direct-I/O loop device), where the repository stays in
# WORK. ext4 passes over the inodes freed in the last minutes when it allocates new ones, so a
# restore that follows the removal of 52,000 files spends seconds more in the inode allocator
# than one on a file system where nothing was removed; with FRESH_FS no step follows another's
# removal.
#
# Needs root (for the cache drop, and for the loop device with FRESH_FS) and python3.
set -euo pipefail

: "${PHIVAULT:?path of the phivault binary}" "${CORPUS:?directory to back up}"
: "${WORK:?an empty directory on the file system to measure}"
ROUNDS=${ROUNDS:-5}
SETTLE=${SETTLE:-0}
FRESH_FS=${FRESH_FS:-}
PV=$(realpath "$PHIVAULT")
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
[[ -z $(ls -A "$WORK") ]] || { echo "WORK must be empty: $WORK" >&2; exit 2; }

export PHIVAULT_REPO=$WORK/repo PHIVAULT_KEYSTORE=$WORK/keys PHIVAULT_STATE_DIR=$WORK/state
export PHIVAULT_PASSWORD_FILE=$WORK/passphrase XDG_CACHE_HOME=$WORK/cache
head -c 32 /dev/urandom | base64 >"$PHIVAULT_PASSWORD_FILE"
chmod 600 "$PHIVAULT_PASSWORD_FILE"
"$PV" init >/dev/null
"$PV" source add corpus "$CORPUS" --critical >/dev/null
"$PV" backup --source corpus >/dev/null

DEST=$WORK  # where the restore target and the sandbox go
LOOP=
fresh_fs_up() {
  [[ -n $FRESH_FS ]] || return 0
  truncate -s "$FRESH_FS" "$WORK/fs.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/fs.img"
  LOOP=$(losetup --direct-io=on --show -f "$WORK/fs.img")
  mkdir -p "$WORK/mnt"
  mount "$LOOP" "$WORK/mnt"
  DEST=$WORK/mnt
}
fresh_fs_down() {
  [[ -n $LOOP ]] || return 0
  umount "$WORK/mnt"
  losetup -d "$LOOP"
  LOOP=
  rm -f "$WORK/fs.img"
}
trap fresh_fs_down EXIT

now() { date +%s.%N; }
steal() { awk '/^cpu /{print $9}' /proc/stat; }
prepare() {
  sync
  sleep "$SETTLE"
  echo 3 >/proc/sys/vm/drop_caches
  find "$PHIVAULT_REPO" -type f -exec cat {} + >/dev/null
}

rows=()
step_restore() {
  local round=$1 s0 t0 t1 t2 t3 t4
  fresh_fs_up
  prepare
  s0=$(steal)
  t0=$(now)
  "$PV" restore latest --target "$DEST/restore" >/dev/null
  t1=$(now)
  sync
  t2=$(now)
  rm -rf "$DEST/restore"
  t3=$(now)
  sync
  t4=$(now)
  rows+=("$(printf '%s\trestore\t%.3f\t%.3f\t%.2f\trm %.3f, its sync %.3f' "$round" \
    "$(bc <<<"$t1 - $t0")" "$(bc <<<"$t2 - $t0")" "$(bc <<<"($(steal) - $s0) / 100")" \
    "$(bc <<<"$t3 - $t2")" "$(bc <<<"$t4 - $t3")")")
  fresh_fs_down
}
step_drill() {
  local round=$1 s0 t0 t1 t2 phases
  fresh_fs_up
  prepare
  s0=$(steal)
  t0=$(now)
  "$PV" --json drill --sandbox "$DEST/sandbox" >"$WORK/drill.json"
  t1=$(now)
  sync
  t2=$(now)
  phases=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["result"] == "pass", d["result"]
print(", ".join("%s %.3f" % (p["name"], p["milliseconds"] / 1000) for p in d["phases"]))' \
    "$WORK/drill.json")
  rows+=("$(printf '%s\tdrill\t%.3f\t%.3f\t%.2f\t%s' "$round" "$(bc <<<"$t1 - $t0")" \
    "$(bc <<<"$t2 - $t0")" "$(bc <<<"($(steal) - $s0) / 100")" "$phases")")
  fresh_fs_down
}

for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then
    step_restore "$round"
    step_drill "$round"
  else
    step_drill "$round"
    step_restore "$round"
  fi
done

{
  printf 'round\tstep\tseconds\tseconds_with_sync\tsteal_s\tdetails\n'
  printf '%s\n' "${rows[@]}"
} | tee "${TSV:-/dev/null}"
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
t = {}
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    t.setdefault(f[1], []).append((float(f[2]), float(f[3])))
m = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in t.items()}
for k, (a, b) in m.items():
    print(f"median {k}: {a:.2f} s, {b:.2f} s with its sync")
r, d = m["restore"], m["drill"]
print(f"drill / restore: {d[0] / r[0]:.3f} alone, {d[1] / r[1]:.3f} with the sync")'
rm -rf "$WORK"
