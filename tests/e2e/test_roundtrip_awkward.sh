#!/usr/bin/env bash
# Round trip of an awkward tree: back it up, restore it and compare everything treecmp.py compares.
#
# The tree holds empty files and directories, a 3 GiB sparse file, symlinks (dangling, absolute,
# looping, with non-UTF-8 and 4095-byte targets), a group of three hard links, names with spaces,
# newlines, control characters, non-UTF-8 bytes and emoji, a 255-byte name, a path whose restored
# form is close to PATH_MAX, modes 0000, 4755, 2755 and 1777, other owners, nanosecond and
# out-of-range mtimes, and a FIFO. Then:
#   - a restore with --include brings back one subdirectory and nothing else;
#   - a second backup finds every file unchanged and adds next to nothing;
#   - ls and snapshots show what was backed up.
source "$(dirname "$0")/lib.sh" "$@"
need_root

SRC=$T/src
RESTORE=$T/out
mkdir -p "$SRC"

# --- build the tree -------------------------------------------------------------------------------

# Empty things.
: >"$SRC/empty"
mkdir -p "$SRC/empty-dir" "$SRC/nested/empty/deeper/still-empty"

# Awkward names.
printf 'space\n' >"$SRC/with space"
printf 'edges\n' >"$SRC/ leading and trailing "
printf 'newline\n' >"$SRC/new"$'\n'"line"
printf 'tab\n' >"$SRC/tab"$'\t'"name"
printf 'not utf-8\n' >"$SRC/"$'\xff\xfe'
printf 'latin-1\n' >"$SRC/caf"$'\xe9'
printf 'control\n' >"$SRC/ctl"$'\x01\x7f'
printf 'emoji\n' >"$SRC/🦓 zebra 🔐"
printf 'dash\n' >"$SRC/-rf"
printf 'glob\n' >"$SRC/*glob?[x]"
printf 'backslash\n' >"$SRC/back\\slash"
printf 'dots\n' >"$SRC/..."
printf 'max name\n' >"$SRC/$(printf 'N%.0s' {1..255})"
mkdir "$SRC/"$'\xff'"dir"
printf 'inside non-utf-8 dir\n' >"$SRC/"$'\xff'"dir/"$'\n'

# Content: several chunks of random data, compressible text, real zeros that are not a hole.
mkdir "$SRC/data"
head -c 3M /dev/urandom >"$SRC/data/random.bin"
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(40000):
        f.write(f"line {i:06d}: the quick brown fox jumps over the lazy dog\n")
' "$SRC/data/text.txt"
{ head -c 2M /dev/zero; printf 'tail after zeros\n'; } >"$SRC/data/zeros-then-tail"

# Sparse files: 3 GiB with data at the start, in the middle (one unaligned), and at the very end;
# and one that starts and ends with a hole.
SPARSE=$SRC/data/sparse-3g.img
truncate -s 3G "$SPARSE"
dd if=/dev/urandom of="$SPARSE" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$SPARSE" bs=1M count=1 seek=1024 conv=notrunc status=none
dd if=/dev/urandom of="$SPARSE" bs=1000 count=5 seek=2000000007 oflag=seek_bytes conv=notrunc \
  status=none
dd if=/dev/urandom of="$SPARSE" bs=1M count=1 seek=3071 conv=notrunc status=none
truncate -s 100M "$SRC/data/holes-around.img"
dd if=/dev/urandom of="$SRC/data/holes-around.img" bs=64K count=1 seek=800 conv=notrunc \
  status=none
sparse_kib=$(du -k "$SPARSE" | cut -f1)
((sparse_kib < 16384)) || skip "the file system under /var/tmp does not keep $SPARSE sparse"

# Symlinks.
mkdir "$SRC/links"
ln -s does-not-exist "$SRC/links/dangling"
ln -s /nonexistent/absolute/target "$SRC/links/dangling-absolute"
ln -s /etc/hostname "$SRC/links/absolute-outside"
ln -s "$SRC/with space" "$SRC/links/absolute-inside"
ln -s "../with space" "$SRC/links/relative"
ln -s ../nested "$SRC/links/to-dir"
ln -s . "$SRC/links/dot"
ln -s self "$SRC/links/self"
ln -s $'\xff\xfe-target\nwith newline' "$SRC/links/non-utf8-target"
ln -s "$(printf 't%.0s' {1..4095})" "$SRC/links/target-4095-bytes"

# Hard links: a group of three across directories, and one whose other link is outside the tree.
mkdir -p "$SRC/hard/sub" "$SRC/hard/other"
printf 'linked three times\n' >"$SRC/hard/a"
ln "$SRC/hard/a" "$SRC/hard/sub/b"
ln "$SRC/hard/a" "$SRC/hard/other/c"
printf 'linked once inside\n' >"$SRC/hard/half"
ln "$SRC/hard/half" "$T/outside-link"

# Permissions and owners. chown clears setuid and setgid bits, so chmod comes after it.
mkdir "$SRC/perm"
printf 'no access\n' >"$SRC/perm/mode-0000"
chmod 0000 "$SRC/perm/mode-0000"
printf '#!/bin/sh\necho setuid\n' >"$SRC/perm/setuid-4755"
chown 1234:5678 "$SRC/perm/setuid-4755"
chmod 4755 "$SRC/perm/setuid-4755"
printf 'setgid\n' >"$SRC/perm/setgid-2755"
chown 0:5678 "$SRC/perm/setgid-2755"
chmod 2755 "$SRC/perm/setgid-2755"
printf 'other owner\n' >"$SRC/perm/owned-1234-5678"
chown 1234:5678 "$SRC/perm/owned-1234-5678"
chmod 0640 "$SRC/perm/owned-1234-5678"
printf 'large ids\n' >"$SRC/perm/owned-large-ids"
chown 2000000000:2000000001 "$SRC/perm/owned-large-ids"
mkdir "$SRC/perm/sticky-1777"
printf 'in sticky dir\n' >"$SRC/perm/sticky-1777/file"
chown 1234:5678 "$SRC/perm/sticky-1777/file"
chmod 1777 "$SRC/perm/sticky-1777"
mkdir "$SRC/perm/setgid-dir"
chown 1234:5678 "$SRC/perm/setgid-dir"
chmod 2770 "$SRC/perm/setgid-dir"
printf 'group from parent?\n' >"$SRC/perm/setgid-dir/file"
chown 0:0 "$SRC/perm/setgid-dir/file"
mkdir "$SRC/perm/dir-0000"
printf 'inside a 0000 directory\n' >"$SRC/perm/dir-0000/file"
chmod 0000 "$SRC/perm/dir-0000"
ln -s "setuid-4755" "$SRC/perm/symlink-owned"
chown -h 4321:8765 "$SRC/perm/symlink-owned"
mkfifo -m 0640 "$SRC/perm/fifo"
chown 1234:5678 "$SRC/perm/fifo"

# The subdirectory the --include restore brings back (no hard links to elsewhere).
mkdir -p "$SRC/include-me/inner/deeper"
printf 'included 1\n' >"$SRC/include-me/one"
printf 'included 2\n' >"$SRC/include-me/inner/two"
printf 'included 3\n' >"$SRC/include-me/inner/deeper/three"
ln -s ../one "$SRC/include-me/inner/link-to-one"
mkdir -p "$SRC/include-me-not"
printf 'shares a name prefix with include-me\n' >"$SRC/include-me-not/file"

# A path whose restored form ($RESTORE$SRC/deep/...) is a few bytes short of PATH_MAX (4096):
# directories with 200-byte names, then a file name that takes the rest.
deep=$SRC/deep
i=0
while ((${#RESTORE} + ${#deep} + 201 + 256 <= 4090)); do
  deep+=/$(printf '%03d' "$i")$(printf 'd%.0s' {1..197})
  i=$((i + 1))
done
filler=$((4090 - ${#RESTORE} - ${#deep} - 1 - 255 - 1))
((filler > 0)) && deep+=/$(printf 'e%.0s' $(seq "$filler"))
mkdir -p "$deep"
DEEP_FILE=$deep/$(printf 'f%.0s' {1..255})
printf 'deep\n' >"$DEEP_FILE"
log "deepest path: ${#DEEP_FILE} bytes in the source, $((${#RESTORE} + ${#DEEP_FILE})) restored"

# Modification times, set last because creating entries changes their directory's mtime: a
# different time with a distinctive nanosecond part for every entry, plus times before 1970, in
# 2200 (beyond 32-bit seconds), and at whole seconds.
python3 - "$SRC" <<'EOF'
import os, sys
root = os.fsencode(sys.argv[1])
special = {
    b"empty": 0,
    b"with space": -1_500_000_000,
    b"caf\xe9": 7_258_118_400_999_999_999,
    b"-rf": 1_000_000_000_000_000_000,
}
t = 1_600_000_000_123_456_789
for dirpath, dirnames, filenames in os.walk(root, topdown=False):
    for name in dirnames + filenames + [None]:
        path = dirpath if name is None else os.path.join(dirpath, name)
        if name is not None and os.path.isdir(path) and not os.path.islink(path):
            continue  # set when os.walk reaches it as dirpath
        t += 86_400_000_000_007
        mtime = special.get(os.path.relpath(path, root), t)
        os.utime(path, ns=(t, mtime), follow_symlinks=False)
EOF

NFILES=$(find "$SRC" -type f -printf . | wc -c)
log "source tree: $NFILES regular files, $(find "$SRC" -printf . | wc -c) entries"

# --- first backup and full restore ----------------------------------------------------------------

init_repo repo
expect_exit 0 "${PVR[@]}" --json backup "$SRC"
SNAP1=$(out_json 'd["snapshot_id"]')
[[ $SNAP1 =~ ^[0-9a-f]{64}$ ]] || fail "snapshot_id is not 64 hex digits: $SNAP1"
files_new=$(out_json 'd["files_new"]')
[[ $files_new == "$NFILES" ]] || fail "first backup: files_new=$files_new, expected $NFILES"
for field in files_changed files_unchanged files_unreadable; do
  v=$(out_json "d[\"$field\"]")
  [[ $v == 0 ]] || fail "first backup: $field=$v, expected 0"
done
log "first backup: $(tr -d '\n' <"$OUT")"

expect_exit 0 "${PVR[@]}" restore "$SNAP1" --target "$RESTORE"
[[ -d $RESTORE$SRC ]] || fail "restore did not create $RESTORE$SRC"
treecmp "$SRC" "$RESTORE$SRC"
restored_kib=$(du -k "$RESTORE$SPARSE" | cut -f1)
((restored_kib <= 2 * sparse_kib + 1024)) ||
  fail "restored sparse file allocates $restored_kib KiB, the source $sparse_kib KiB"
[[ $(cat "$RESTORE$DEEP_FILE") == deep ]] || fail "deep file not restored"

expect_exit 0 "${PVR[@]}" check --read-data

# --- restore of one subdirectory ------------------------------------------------------------------

expect_exit 0 "${PVR[@]}" restore latest --target "$T/partial" --include "$SRC/include-me"
treecmp "$SRC/include-me" "$T/partial$SRC/include-me"
# Nothing may be restored but include-me and the directories leading to it.
python3 - "$T/partial" "$SRC/include-me" <<'EOF' || fail "--include restored more than asked"
import os, sys
target, included = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
ancestors = set()
p = included
while p != b"/":
    p = os.path.dirname(p)
    ancestors.add(p)
extra = []
for dirpath, dirnames, filenames in os.walk(target):
    for name in dirnames + filenames:
        rel = os.path.join(dirpath, name)[len(target):]
        if rel not in ancestors and rel != included and not rel.startswith(included + b"/"):
            extra.append(rel)
for rel in sorted(extra):
    print(f"unexpected entry restored: {rel!r}")
sys.exit(1 if extra else 0)
EOF

# Part of a hard-link group restored alone is a plain file with the group's content.
expect_exit 0 "${PVR[@]}" restore latest --target "$T/half-group" --include "$SRC/hard/sub"
HALF=$T/half-group$SRC/hard/sub/b
[[ -f $HALF && $(stat -c %h "$HALF") == 1 && $(cat "$HALF") == "linked three times" ]] ||
  fail "restoring one link of a hard-link group alone did not give the file its content"
[[ ! -e $T/half-group$SRC/hard/a ]] || fail "--include $SRC/hard/sub also restored $SRC/hard/a"

# --- second backup: nothing changed ---------------------------------------------------------------

expect_exit 0 "${PVR[@]}" --json backup "$SRC"
log "second backup: $(tr -d '\n' <"$OUT")"
SNAP2=$(out_json 'd["snapshot_id"]')
[[ $SNAP2 != "$SNAP1" ]] || fail "second backup reused the snapshot id $SNAP1"
unchanged=$(out_json 'd["files_unchanged"]')
[[ $unchanged == "$NFILES" ]] || fail "second backup: files_unchanged=$unchanged, expected $NFILES"
for field in files_new files_changed; do
  v=$(out_json "d[\"$field\"]")
  [[ $v == 0 ]] || fail "second backup: $field=$v, expected 0"
done
added=$(out_json 'd["bytes_added"]')
((added < 256 * 1024)) || fail "second backup of an unchanged tree added $added bytes"

# --- listing --------------------------------------------------------------------------------------

expect_exit 0 "${PVR[@]}" ls latest
grep -q -x -F -e "$SRC/data/random.bin" -- "$OUT" || {
  show_output >&2
  fail "ls latest does not list $SRC/data/random.bin on a line of its own"
}
grep -q -x -F -e "$SRC/perm/sticky-1777/file" -- "$OUT" ||
  fail "ls latest does not list $SRC/perm/sticky-1777/file"

expect_exit 0 "${PVR[@]}" --json ls latest
python3 - "$OUT" "$SRC" <<'EOF' || fail "ls --json does not describe the known entries"
import json, os, sys
text = open(sys.argv[1]).read()
try:
    listing = json.loads(text)
except ValueError:  # one object per line
    listing = [json.loads(line) for line in text.splitlines() if line.strip()]
entries = {e["path"]: e for e in listing}
src = sys.argv[2]
expect = {
    f"{src}/data/random.bin": ("file", 3 << 20, 0o644),
    f"{src}/perm/setuid-4755": ("file", os.lstat(f"{src}/perm/setuid-4755").st_size, 0o4755),
    f"{src}/perm/sticky-1777": ("dir", None, 0o1777),
    f"{src}/links/dangling": ("symlink", None, None),
}
ok = True
for path, (kind, size, mode) in expect.items():
    e = entries.get(path)
    if e is None:
        print(f"missing from ls --json: {path}"); ok = False; continue
    if not str(e["type"]).startswith(kind):
        print(f"{path}: type {e['type']!r}, expected {kind}"); ok = False
    if size is not None and e["size"] != size:
        print(f"{path}: size {e['size']}, expected {size}"); ok = False
    if mode is not None and e["mode"] not in (mode, oct(mode), f"{mode:o}", f"{mode:04o}"):
        print(f"{path}: mode {e['mode']!r}, expected {mode:04o}"); ok = False
sys.exit(0 if ok else 1)
EOF

expect_exit 0 "${PVR[@]}" --json snapshots
python3 - "$OUT" "$SRC" "$SNAP1" "$SNAP2" <<'EOF' || fail "snapshots --json is wrong"
import json, sys
snaps = json.load(open(sys.argv[1]))
src, ids = sys.argv[2], set(sys.argv[3:])
ok = {s["id"] for s in snaps} == ids and all(s["paths"] == [src] for s in snaps)
if not ok:
    print(f"expected snapshots {sorted(ids)} of [{src}], got {json.dumps(snaps)[:2000]}")
sys.exit(0 if ok else 1)
EOF

pass
