#!/usr/bin/env bash
# Bad input gets its documented exit code and changes nothing:
#   - wrong passphrase: 11, and the repository, keystore and cache are unchanged;
#   - no repository at the location: 10;
#   - keystore inside the repository at init: 13, and nothing is created;
#   - keystore missing, of another repository, tampered, truncated or empty: 13;
#   - config version 2: 14, the message names the version, nothing is written;
#   - config otherwise edited: refused as corrupt, 12, nothing is written;
#   - unreadable file or directory during backup: 3, reported, the rest backed up;
#   - unknown snapshot prefix or path: 15;
#   - a passphrase on the command line, an unknown command, an invalid option value: 2.
source "$(dirname "$0")/lib.sh" "$@"
need_root

SRC=$T/src
mkdir -p "$SRC/docs"
for i in 1 2 3; do printf 'document %d\n' "$i" >"$SRC/docs/doc-$i.txt"; done
head -c 300K /dev/urandom >"$SRC/docs/image.bin"

init_repo repo
expect_exit 0 "${PVR[@]}" --json backup "$SRC"
SNAP=$(out_json 'd["snapshot_id"]')

# state: a manifest of the repository, the keystore directory and the cache.
state() {
  local d
  # The key-operation log beside the keystore records the failed unlocks: that is its job.
  for d in "$REPO" "$KS" "$CACHE"; do
    printf '== %s\n' "$d"
    manifest "$d" | grep -v '\.keylog'
  done
}

# --- wrong passphrase: 11, nothing changes --------------------------------------------------------

printf 'not the passphrase\n' >"$T/wrong"
WRONG=("$PV" --repo "$REPO" --keystore "$KS" --password-file "$T/wrong" --cache-dir "$CACHE")
state >"$T/state.before"
expect_exit 11 "${WRONG[@]}" backup "$SRC"
expect_exit 11 "${WRONG[@]}" snapshots
expect_exit 11 "${WRONG[@]}" check
expect_exit 11 "${WRONG[@]}" restore latest --target "$T/wrong-restore"
[[ ! -e $T/wrong-restore ]] || [[ -z $(ls -A "$T/wrong-restore") ]] ||
  fail "restore with a wrong passphrase wrote into its target"
state >"$T/state.after"
diff -u "$T/state.before" "$T/state.after" >&2 ||
  fail "a command with a wrong passphrase changed the repository, keystore or cache"
# The passphrase file used everywhere ends in a newline; without it, it is the same passphrase.
printf 'correct horse battery staple 4711' >"$T/no-newline"
PHIVAULT_PASSWORD_FILE=$T/no-newline expect_exit 0 "$PV" --repo "$REPO" --keystore "$KS" \
  --cache-dir "$CACHE" snapshots

# --- no repository: 10 ----------------------------------------------------------------------------

mkdir "$T/empty-dir"
expect_exit 10 "$PV" --repo "$T/does-not-exist" --keystore "$KS" \
  --password-file "$PASSPHRASE_FILE" snapshots
expect_exit 10 "$PV" --repo "$T/empty-dir" --keystore "$KS" --password-file "$PASSPHRASE_FILE" \
  snapshots
PHIVAULT_REPO=$T/does-not-exist expect_exit 10 "$PV" --keystore "$KS" \
  --password-file "$PASSPHRASE_FILE" backup "$SRC"
[[ ! -e $T/does-not-exist ]] || fail "backup to a missing repository created $T/does-not-exist"
[[ -z $(ls -A "$T/empty-dir") ]] || fail "snapshots wrote into the empty directory $T/empty-dir"

# --- keystore problems: 13 ------------------------------------------------------------------------

expect_exit 13 "$PV" --repo "$T/inside" --keystore "$T/inside/keys" \
  --password-file "$PASSPHRASE_FILE" init
[[ ! -e $T/inside/config ]] || fail "init with the keystore inside the repository wrote a config"
[[ -z $(find "$T/inside" -name '*.keystore' 2>/dev/null) ]] ||
  fail "init with the keystore inside the repository wrote a keystore"
expect_exit 13 "$PV" --repo "$T/same" --keystore "$T/same" --password-file "$PASSPHRASE_FILE" init
[[ ! -e $T/same/config ]] || fail "init with the keystore in the repository root wrote a config"

mkdir "$T/no-keys"
expect_exit 13 "$PV" --repo "$REPO" --keystore "$T/no-keys" --password-file "$PASSPHRASE_FILE" \
  --cache-dir "$CACHE" snapshots

# --- config version 2: 14, nothing written --------------------------------------------------------

# edited_copy NAME PATTERN REPLACEMENT: copy the repository to $T/NAME and apply the Python
# re.sub to its config, which must match exactly once; sets EDITED to the command prefix.
edited_copy() {
  cp -a -- "$REPO" "$T/$1"
  python3 - "$T/$1/config" "$2" "$3" <<'EOF'
import re, sys
path, pattern, replacement = sys.argv[1:]
text = open(path).read()
new, n = re.subn(pattern, replacement, text)
if n != 1:
    sys.exit(f"expected one match of {pattern} in {path}, found {n}: {text}")
open(path, "w").write(new)
EOF
  EDITED=("$PV" --repo "$T/$1" --keystore "$KS" --password-file "$PASSPHRASE_FILE"
          --cache-dir "$T/$1.cache")
}

edited_copy v2 '"version"(\s*):(\s*)1\b' '"version"\1:\g<2>2'
manifest "$T/v2" >"$T/v2.before"
expect_exit 14 "${EDITED[@]}" snapshots
grep -q -h -i -E 'version.*\<2\>|\<2\>.*version' -- "$ERR" "$OUT" || {
  show_output >&2
  fail "the refusal of a version 2 repository does not name the version found"
}
expect_exit 14 "${EDITED[@]}" backup "$SRC"
manifest "$T/v2" >"$T/v2.after"
diff -u "$T/v2.before" "$T/v2.after" >&2 || fail "backup wrote to a version 2 repository"

# --- config otherwise edited: refused as corrupt --------------------------------------------------

edited_copy pack-size '"pack_size"(\s*):(\s*)33554432\b' '"pack_size"\1:\g<2>1048576'
manifest "$T/pack-size" >"$T/pack-size.before"
# repository.md: "a config that was edited ... is refused as corrupt", a data-integrity error.
expect_exit 12 "${EDITED[@]}" snapshots
expect_exit 12 "${EDITED[@]}" backup "$SRC"
manifest "$T/pack-size" >"$T/pack-size.after"
diff -u "$T/pack-size.before" "$T/pack-size.after" >&2 ||
  fail "backup wrote to a repository with an edited config"

edited_copy chunker '"min"(\s*):(\s*)65536\b' '"min"\1:\g<2>4096'
expect_exit 12 "${EDITED[@]}" check

# --- unreadable file and directory during backup: 3 -----------------------------------------------

DROP=(setpriv --bounding-set=-dac_override,-dac_read_search --)
printf 'secret\n' >"$SRC/docs/locked.txt"
chmod 000 "$SRC/docs/locked.txt"
cat "$SRC/docs/locked.txt" >/dev/null || fail "root cannot read a mode 000 file?"
if "${DROP[@]}" cat "$SRC/docs/locked.txt" >/dev/null 2>&1; then
  skip "setpriv cannot drop CAP_DAC_OVERRIDE here; cannot make a file unreadable for root"
fi

expect_exit 3 "${DROP[@]}" "${PVR[@]}" --json backup "$SRC"
grep -q -F -e "$SRC/docs/locked.txt" -- "$ERR" || {
  show_output >&2
  fail "backup exited 3 but does not report $SRC/docs/locked.txt on stderr"
}
unreadable=$(out_json 'd["files_unreadable"]')
[[ $unreadable == 1 ]] || fail "files_unreadable=$unreadable, expected 1"
PARTIAL=$(out_json 'd["snapshot_id"]')
expect_exit 0 "${PVR[@]}" ls "$PARTIAL"
for f in doc-1.txt doc-2.txt doc-3.txt image.bin; do
  grep -q -x -F -e "$SRC/docs/$f" -- "$OUT" || fail "partial snapshot does not list $SRC/docs/$f"
done
! grep -q -x -F -e "$SRC/docs/locked.txt" -- "$OUT" ||
  fail "partial snapshot lists the unreadable $SRC/docs/locked.txt"
expect_exit 0 "${PVR[@]}" restore "$PARTIAL" --target "$T/partial"
for f in doc-1.txt doc-2.txt doc-3.txt image.bin; do
  cmp -- "$SRC/docs/$f" "$T/partial$SRC/docs/$f" || fail "$f not restored from the partial snapshot"
done
rm -- "$SRC/docs/locked.txt"

mkdir -p "$SRC/locked-dir/inner"
printf 'hidden\n' >"$SRC/locked-dir/inner/file"
chmod 000 "$SRC/locked-dir"
expect_exit 3 "${DROP[@]}" "${PVR[@]}" --json backup "$SRC"
grep -q -F -e "$SRC/locked-dir" -- "$ERR" || {
  show_output >&2
  fail "backup exited 3 but does not report $SRC/locked-dir on stderr"
}
expect_exit 0 "${PVR[@]}" ls latest
grep -q -x -F -e "$SRC/docs/image.bin" -- "$OUT" ||
  fail "backup with an unreadable directory did not back up $SRC/docs/image.bin"
chmod 755 "$SRC/locked-dir"

# --- unknown snapshot or path: 15 -----------------------------------------------------------------

absent=0000000000000000
while [[ $SNAP == "$absent"* || $PARTIAL == "$absent"* ]]; do absent=ffffffffffffffff; done
expect_exit 15 "${PVR[@]}" restore "$absent" --target "$T/absent"
expect_exit 15 "${PVR[@]}" ls "$absent"
expect_exit 15 "${PVR[@]}" ls "$SNAP" "$SRC/no/such/path"
expect_exit 0 "${PVR[@]}" ls "${SNAP:0:12}" "$SRC/docs"

# --- usage errors: 2 ------------------------------------------------------------------------------

expect_exit 2 "$PV" --repo "$REPO" --keystore "$KS" --password "x" snapshots
expect_exit 2 "$PV" --repo "$REPO" --keystore "$KS" --password=x snapshots
expect_exit 2 "$PV" --repo "$REPO" --keystore "$KS" snapshots --password x
expect_exit 2 "${PVR[@]}" frobnicate
expect_exit 2 "${PVR[@]}" backup "$SRC" --compression bogus
expect_exit 2 "${PVR[@]}" --log-level verbose snapshots
expect_exit 2 "${PVR[@]}" restore latest

# --- damaged keystores: 13 ------------------------------------------------------------------------
# Last, so that a failure here does not hide the results above.

# keystore_variant NAME: a copy of the keystore directory as $T/NAME, its file in KSFILE.
keystore_variant() {
  cp -a -- "$KS" "$T/$1"
  KSFILE=$T/$1/$REPO_ID.keystore
}
expect_keystore_refused() {
  expect_exit 13 "$PV" --repo "$REPO" --keystore "$1" --password-file "$PASSPHRASE_FILE" \
    --cache-dir "$CACHE" snapshots
}

# The keystore of another repository under this repository's name.
init_repo other
OTHER_KS=$T/other.keys/$REPO_ID.keystore
use_repo repo
REPO_ID=$(json_get "$REPO/config" 'd["id"]')
keystore_variant foreign-keys
cp -- "$OTHER_KS" "$KSFILE"
expect_keystore_refused "$T/foreign-keys"

# One bit of the MAC over the whole file flipped: the slot opens, the MAC does not match.
keystore_variant tampered-keys
python3 - "$KSFILE" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-1, 2)
    b = f.read(1)[0]
    f.seek(-1, 2)
    f.write(bytes([b ^ 0x01]))
EOF
expect_keystore_refused "$T/tampered-keys"

# Truncated, and empty.
keystore_variant truncated-keys
truncate -s 100 -- "$KSFILE"
expect_keystore_refused "$T/truncated-keys"
keystore_variant empty-keys
: >"$KSFILE"
expect_keystore_refused "$T/empty-keys"

pass
