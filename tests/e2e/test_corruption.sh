#!/usr/bin/env bash
# Corrupted repositories: every damage is found, reported as a data-integrity error (exit 12)
# naming the damaged object, and never turned into wrong restored data.
#
#   1. One bit flipped in the middle of a data pack: check --read-data exits 12 naming the pack;
#      plain check (which does not read pack data) exits 0; restore exits 12 naming the pack, and
#      every restored file either has exactly the source's content or is absent or named in the
#      output, and no stray file is left in the target.
#   2. An index truncated by 10 bytes: check exits 12 naming the index.
#   3. A pack deleted: check exits 12 naming the pack.
#   4. One bit flipped in a tree pack: check (without --read-data, as it reads every tree) and
#      restore exit 12 naming the tree pack.
#   5. Two snapshot objects swapped (each under the other's name): snapshots and check exit 12
#      naming a swapped snapshot.
source "$(dirname "$0")/lib.sh" "$@"

SRC=$T/src
mkdir -p "$SRC/scans" "$SRC/notes"
for i in 1 2 3 4; do head -c 1536K /dev/urandom >"$SRC/scans/scan-$i.bin"; done
for i in $(seq 1 20); do printf 'note %d\n%s\n' "$i" "$(head -c 300 /dev/urandom | base64)" \
  >"$SRC/notes/note-$i.txt"; done

# largest_pack DIR: the biggest complete pack, which for this data is a data pack.
largest_pack() {
  pack_files "$1" | xargs -r -d '\n' stat -c '%s %n' | sort -n | tail -n 1 | cut -d' ' -f2-
}

# --- 1. a flipped bit in a data pack --------------------------------------------------------------

init_repo flipped
expect_exit 0 "${PVR[@]}" backup "$SRC"
PACK=$(largest_pack "$REPO")
[[ -n $PACK ]] || fail "no pack in $REPO/data after backup"
PACK_ID=$(basename -- "$PACK")
PACK_SIZE=$(stat -c %s "$PACK")
((PACK_SIZE > 1 << 20)) || fail "largest pack is only $PACK_SIZE bytes; expected MiBs of scans"
# Flip one bit in the middle of the blob frames: after the 44-byte envelope header and before the
# header frame, whose length the trailer (u32 length, "PHVP") gives (pack.md).
FLIPPED=$(python3 - "$PACK" <<'EOF'
import os, struct, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    envelope = f.read(44)
    if envelope[:4] != b"PHVO" or envelope[5] != 1:
        sys.exit(f"{sys.argv[1]} is not a data pack: envelope {envelope[:8]!r}")
    f.seek(size - 8)
    header_len, magic = struct.unpack("<I4s", f.read(8))
    if magic != b"PHVP" or header_len + 8 + 44 >= size:
        sys.exit(f"unexpected pack trailer {magic!r}, header frame {header_len} of {size} bytes")
    at = (44 + size - 8 - header_len) // 2
    f.seek(at)
    byte = f.read(1)[0]
    f.seek(at)
    f.write(bytes([byte ^ 0x10]))
    print(at)
EOF
)
log "flipped bit 4 of byte $FLIPPED of pack $PACK_ID ($PACK_SIZE bytes)"

run "${PVR[@]}" check
case $RC in
  0) log "plain check after the bit flip: exit 0 (it does not read blob frames)" ;;
  12) log "plain check after the bit flip: exit 12 (it read the damaged frame)" ;;
  *) show_output >&2; fail "plain check after a bit flip in a blob frame exited $RC, not 0 or 12" ;;
esac
# The flipped byte sits in a blob frame (the pack header is a few hundred bytes at the end), which
# a check without --read-data has no reason to read.
[[ $RC == 0 ]] || fail "plain check read blob data: exit $RC"

expect_exit 12 "${PVR[@]}" check --read-data
expect_output_mentions "$PACK_ID" "the damaged pack's id"

expect_exit 12 "${PVR[@]}" restore latest --target "$T/restored"
expect_output_mentions "$PACK_ID" "the damaged pack's id"
cp -- "$OUT" "$T/restore.stdout"
cp -- "$ERR" "$T/restore.stderr"
python3 - "$SRC" "$T/restored" "$T/restore.stdout" "$T/restore.stderr" <<'EOF' ||
import os, sys
src, target = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
output = b"".join(open(p, "rb").read() for p in sys.argv[3:])
restored_src = target + src
problems, damaged = [], []
for dirpath, _, filenames in os.walk(src):
    for name in filenames:
        path = os.path.join(dirpath, name)
        copy = target + path
        if not os.path.lexists(copy):
            damaged.append(path)
            continue
        with open(path, "rb") as a, open(copy, "rb") as b:
            same = a.read() == b.read()
        if not same:
            damaged.append(path)
            if path not in output:
                problems.append(f"{copy!r} restored with wrong content and not reported")
# A restore may leave ancestors and the files it got right, but nothing that is not in the source.
for dirpath, dirnames, filenames in os.walk(target):
    for name in dirnames + filenames:
        copy = os.path.join(dirpath, name)
        rel = copy[len(target):]
        if not os.path.lexists(rel) or not (src.startswith(rel + b"/") or rel == src
                                            or rel.startswith(src + b"/")):
            problems.append(f"stray entry in the restore target: {copy!r}")
if not damaged:
    problems.append("restore exited 12 but every file was restored with the right content")
for p in problems:
    print(p)
print(f"files absent or differing after the failed restore: {[os.fsdecode(d) for d in damaged]}")
sys.exit(1 if problems else 0)
EOF
  fail "restore of a damaged pack left wrong data behind"

# --- 2. a truncated index, 3. a missing pack ------------------------------------------------------

init_repo truncated
expect_exit 0 "${PVR[@]}" backup "$SRC"
cp -a -- "$REPO" "$T/missing-pack"
cp -a -- "$REPO" "$T/tree-flip"
INDEX=$(object_files "$REPO" index | head -n 1)
[[ -n $INDEX ]] || fail "no index in $REPO/index after backup"
INDEX_ID=$(basename -- "$INDEX")
truncate -s -10 -- "$INDEX"
expect_exit 12 "${PVR[@]}" check
expect_output_mentions "$INDEX_ID" "the truncated index's id"

REPO=$T/missing-pack
PVR=("$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE" --cache-dir "$CACHE")
expect_exit 0 "${PVR[@]}" check
PACK=$(largest_pack "$REPO")
PACK_ID=$(basename -- "$PACK")
rm -- "$PACK"
expect_exit 12 "${PVR[@]}" check
expect_output_mentions "$PACK_ID" "the missing pack's id"

# --- 4. a flipped bit in a tree pack --------------------------------------------------------------

# check reads every tree even without --read-data, so it finds this one.
REPO=$T/tree-flip
PVR=("$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE" --cache-dir "$CACHE")
TREE_PACK=$(python3 - "$REPO" <<'EOF'
import glob, os, struct, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "data", "*", "*"))):
    if ".tmp-" in path:
        continue
    with open(path, "r+b") as f:
        if f.read(6)[5] != 2:
            continue
        size = os.fstat(f.fileno()).st_size
        f.seek(size - 8)
        header_len, = struct.unpack("<I", f.read(4))
        at = (44 + size - 8 - header_len) // 2
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x01]))
        print(os.path.basename(path))
        break
EOF
)
[[ -n $TREE_PACK ]] || fail "no tree pack (envelope type 2) in $REPO/data"
expect_exit 12 "${PVR[@]}" check
expect_output_mentions "$TREE_PACK" "the damaged tree pack's id"
expect_exit 12 "${PVR[@]}" restore latest --target "$T/tree-flip-restore"
expect_output_mentions "$TREE_PACK" "the damaged tree pack's id"

# --- 5. swapped snapshots -------------------------------------------------------------------------

init_repo swapped
expect_exit 0 "${PVR[@]}" --json backup "$SRC"
SNAP_A=$(out_json 'd["snapshot_id"]')
printf 'changed\n' >>"$SRC/notes/note-1.txt"
expect_exit 0 "${PVR[@]}" --json backup "$SRC"
SNAP_B=$(out_json 'd["snapshot_id"]')
[[ -f $REPO/snapshots/$SNAP_A && -f $REPO/snapshots/$SNAP_B ]] ||
  fail "snapshot files $SNAP_A and $SNAP_B not found in $REPO/snapshots"
expect_exit 0 "${PVR[@]}" check
mv -- "$REPO/snapshots/$SNAP_A" "$T/snapshot-a"
mv -- "$REPO/snapshots/$SNAP_B" "$REPO/snapshots/$SNAP_A"
mv -- "$T/snapshot-a" "$REPO/snapshots/$SNAP_B"
expect_exit 12 "${PVR[@]}" snapshots
output_mentions "$SNAP_A" || output_mentions "$SNAP_B" || {
  show_output >&2
  fail "snapshots does not name either swapped snapshot ($SNAP_A, $SNAP_B)"
}
expect_exit 12 "${PVR[@]}" check
output_mentions "$SNAP_A" || output_mentions "$SNAP_B" || {
  show_output >&2
  fail "check does not name either swapped snapshot ($SNAP_A, $SNAP_B)"
}

pass
