#!/usr/bin/env bash
# Crash safety: a backup killed with SIGKILL at any point leaves a repository that checks clean,
# a later backup completes, the data reads back intact and restores exactly, and the next backup
# adopts the packs the killed one had completed instead of storing their data again.
#
# About 150 MiB of source data (random and compressible). A reference backup into a fresh
# repository gives the stored size of the whole data set. Then, each in a fresh repository (so
# that the killed run always does the full work), a backup is killed:
#   - after 0.05 s, 0.3 s and 1 s;
#   - half-way through the reference backup's duration;
#   - as soon as its first pack is complete;
#   - as soon as its first index appears, which for this data set (fewer than 16 packs) is the
#     final index, written right before the snapshot;
# and once interrupted with SIGINT instead, which must exit 130.
# After each: check exits 0; no snapshot exists unless an index does; a complete backup
# succeeds; check --read-data exits 0; the restore matches the source. When the killed run left
# complete packs, the completing backup must add less than the reference backup minus half of
# what those packs hold, and less than the source size.
source "$(dirname "$0")/lib.sh" "$@"

SRC=$T/src
mkdir -p "$SRC/random" "$SRC/text" "$SRC/small"
for i in 1 2 3 4 5 6 7 8; do head -c 8M /dev/urandom >"$SRC/random/big-$i.bin"; done
for i in $(seq 1 36); do head -c 1M /dev/urandom >"$SRC/random/mid-$i.bin"; done
python3 - "$SRC" <<'EOF'
import os, random, sys
src = sys.argv[1]
rng = random.Random(7731)
words = ("patient visit blood pressure follow up referral prescription dosage allergy "
         "history imaging result normal abnormal review").split()
for n in range(6):
    with open(os.path.join(src, "text", f"notes-{n}.txt"), "w") as f:
        size = 0
        while size < 8 * 1024 * 1024:
            line = f"{rng.randrange(10**8):08d} " + " ".join(rng.choices(words, k=12)) + "\n"
            f.write(line)
            size += len(line)
for n in range(400):
    with open(os.path.join(src, "small", f"letter-{n:03d}.txt"), "wb") as f:
        f.write(os.urandom(rng.randrange(100, 6000)))
EOF
SRC_BYTES=$(du -s -b "$SRC" | cut -f1)
log "source: $((SRC_BYTES >> 20)) MiB in $(find "$SRC" -type f | wc -l) files"

# --- reference backup -----------------------------------------------------------------------------

init_repo reference
start=$(date +%s.%N)
expect_exit 0 "${PVR[@]}" --json backup "$SRC"
REF_SECONDS=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 3))")
REF_ADDED=$(out_json 'd["bytes_added"]')
log "reference backup: $REF_SECONDS s, bytes_added $REF_ADDED, $(pack_files "$REPO" | wc -l) packs"
((REF_ADDED < SRC_BYTES)) || fail "reference backup added $REF_ADDED bytes for $SRC_BYTES"
rm -rf -- "$REPO" "$KS" "$CACHE"

# --- helpers --------------------------------------------------------------------------------------

# alive PID: the process exists and is not a zombie.
alive() {
  local state
  { read -r _ _ state _ <"/proc/$1/stat"; } 2>/dev/null || return 1
  [[ $state != Z ]]
}

# wait_until PID CONDITION...: poll every 5 ms until CONDITION succeeds (0) or PID has exited (1).
wait_until() {
  local pid=$1
  shift
  while alive "$pid"; do
    "$@" && return 0
    sleep 0.005
  done
  return 1
}

has_pack() { [[ -n $(pack_files "$REPO") ]]; }
has_index() { [[ -n $(object_files "$REPO" index) ]]; }

sum_sizes() {
  local total=0 f
  while IFS= read -r f; do total=$((total + $(stat -c %s "$f"))); done
  echo "$total"
}

ADOPTION_CHECKED=0

# interrupted_backup NAME SIGNAL WHEN ARG: start a backup into a fresh repository, send SIGNAL
# after ARG seconds (WHEN=delay) or once a complete pack (WHEN=pack) or an index (WHEN=index)
# exists, then verify the repository as described at the top.
interrupted_backup() {
  local name=$1 signal=$2 when=$3 arg=${4:-} pid status=0 hit=1
  init_repo "$name"
  "$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE" --cache-dir "$CACHE" \
    --json backup "$SRC" >"$T/$name.killed.out" 2>"$T/$name.killed.err" </dev/null &
  pid=$!
  BG_PIDS+=("$pid")
  case $when in
    delay) sleep "$arg" ;;
    pack) wait_until "$pid" has_pack || hit=0 ;;
    index) wait_until "$pid" has_index || hit=0 ;;
  esac
  kill "-$signal" "$pid" 2>/dev/null || true
  { wait "$pid"; } 2>/dev/null || status=$?  # quietly: bash would announce "Killed"
  BG_PIDS=()

  local packs indexes snapshots tmps
  packs=$(pack_files "$REPO" | wc -l)
  indexes=$(object_files "$REPO" index | wc -l)
  snapshots=$(object_files "$REPO" snapshots | wc -l)
  tmps=$(find "$REPO" -name '*.tmp-*' | wc -l)
  local left_bytes
  left_bytes=$(pack_files "$REPO" | sum_sizes)
  log "$name: SIG$signal at $when $arg -> exit $status; left $packs packs ($left_bytes bytes)," \
    "$indexes indexes, $snapshots snapshots, $tmps temporary files"
  ((hit)) || log "$name: the backup ended before the $when point was reached"

  case $signal in
    KILL) [[ $status == 137 || $status == 0 ]] || {
        cat "$T/$name.killed.err" >&2
        fail "$name: killed backup exited $status"
      } ;;
    # bash reports 130 both for exit(130) and for death by SIGINT; either is accepted.
    INT) [[ $status == 130 || $status == 0 ]] || {
        cat "$T/$name.killed.err" >&2
        fail "$name: backup interrupted with SIGINT exited $status, expected 130"
      } ;;
  esac
  if [[ $status != 0 ]] && ((snapshots > 0 && indexes == 0)); then
    fail "$name: a snapshot exists without any index (commit order broken)"
  fi

  expect_exit 0 "${PVR[@]}" check
  expect_exit 0 "${PVR[@]}" --json snapshots
  [[ $(out_json 'len(d)') == "$snapshots" ]] ||
    fail "$name: snapshots lists $(out_json 'len(d)') snapshots, $snapshots snapshot files exist"

  expect_exit 0 "${PVR[@]}" --json backup "$SRC"
  local added
  added=$(out_json 'd["bytes_added"]')
  log "$name: completing backup added $added bytes"
  if [[ $status != 0 ]] && ((packs > 0)); then
    ADOPTION_CHECKED=1
    ((added < SRC_BYTES)) ||
      fail "$name: completing backup added $added bytes, more than the source ($SRC_BYTES)"
    ((added <= REF_ADDED - left_bytes / 2)) ||
      fail "$name: completing backup added $added bytes although $packs complete packs" \
        "($left_bytes bytes) were left; a full backup adds $REF_ADDED: leftover packs not adopted"
  fi

  expect_exit 0 "${PVR[@]}" check --read-data
  expect_exit 0 "${PVR[@]}" restore latest --target "$T/restore-$name"
  treecmp "$SRC" "$T/restore-$name$SRC"
  rm -rf -- "$REPO" "$KS" "$CACHE" "$T/restore-$name"
}

# --- the interruption points ----------------------------------------------------------------------

interrupted_backup kill-0.05s KILL delay 0.05
interrupted_backup kill-0.3s KILL delay 0.3
interrupted_backup kill-1s KILL delay 1
interrupted_backup kill-halfway KILL delay "$(python3 -c "print(max(0.1, $REF_SECONDS / 2))")"
interrupted_backup kill-first-pack KILL pack
interrupted_backup kill-at-index KILL index
interrupted_backup sigint-first-pack INT pack

((ADOPTION_CHECKED)) ||
  fail "no killed backup left a complete pack behind, so adoption was never checked"

pass
