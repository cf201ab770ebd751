#!/usr/bin/env bash
# No plaintext at rest: file names, directory names, symlink targets and file contents of a backup,
# and the host name and tags of its snapshot, must not appear in the repository, the keystore, the
# files cache, temporary files, or (for names and contents) the diagnostic log at debug level.
#
# Every marker is searched case-insensitively and binary-safe. A positive control first shows that
# the search finds a marker where it is known to be, so the test cannot pass by searching nothing.
source "$(dirname "$0")/lib.sh" "$@"

NAME_MARKER=PATIENT_ZEBRA_7731
DIR_MARKER=WARD_OKAPI_4410
CONTENT_MARKER=DIAGNOSIS-QUOKKA-55
BIG_MARKER=LABRESULT_PANGOLIN_0962
LINK_MARKER=REFERRAL_TAPIR_3308
HOST_MARKER=host-narwhal-6120
TAG_MARKER=tag-axolotl-8845
# Markers that name or fill files: they may reach no file phivault writes, logs included.
DATA_MARKERS=("$NAME_MARKER" "$DIR_MARKER" "$CONTENT_MARKER" "$BIG_MARKER" "$LINK_MARKER")
# Snapshot metadata: encrypted in the repository like everything else.
META_MARKERS=("$HOST_MARKER" "$TAG_MARKER")

SRC=$T/src
mkdir -p "$SRC/$DIR_MARKER/notes"
for i in 1 2 3; do
  python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    f.write(f"Patient record {sys.argv[3]}\n")
    for i in range(int(sys.argv[3]) * 40):
        f.write(f"{sys.argv[2]} line {i}\n")
' "$SRC/$DIR_MARKER/${NAME_MARKER}_$i.txt" "$CONTENT_MARKER" "$i"
done
printf '%s\n' "$CONTENT_MARKER" >"$SRC/$DIR_MARKER/notes/short.txt"
printf 'x' >"$SRC/$DIR_MARKER/notes/$NAME_MARKER"
ln -s "../$LINK_MARKER/target" "$SRC/$DIR_MARKER/notes/referral-link"
# 5 MiB of highly compressible text: in the clear, zstd keeps many literal copies of the marker.
python3 -c '
import sys
line = f"{sys.argv[2]} potassium 4.1 mmol/l sodium 139 mmol/l\n"
with open(sys.argv[1], "w") as f:
    f.write(line * (5 * 1024 * 1024 // len(line) + 1))
' "$SRC/$DIR_MARKER/${NAME_MARKER}_labs.csv" "$BIG_MARKER"

# Positive control: the same searches find the markers in the source.
for m in "$CONTENT_MARKER" "$BIG_MARKER"; do
  grep -a -r -F -i -q -e "$m" -- "$SRC" || fail "positive control: $m not found in the source"
done
for m in "$NAME_MARKER" "$DIR_MARKER"; do
  [[ -n $(find "$SRC" -iname "*$m*") ]] || fail "positive control: no name in the source has $m"
done

init_repo repo
LOGS=$T/logs
mkdir -p "$LOGS"
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/backup.log" --log-level debug --json \
  backup "$SRC" --host "$HOST_MARKER" --tag "$TAG_MARKER"
SNAP=$(out_json 'd["snapshot_id"]')
# A second, incremental backup writes the files cache again and reads it.
printf 'new note %s\n' "$CONTENT_MARKER" >"$SRC/$DIR_MARKER/notes/new.txt"
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/backup2.log" --log-level debug --json \
  backup "$SRC" --host "$HOST_MARKER" --tag "$TAG_MARKER"
# A third without --cache-dir uses the default cache under $XDG_CACHE_HOME, which the search of
# $HOME below covers.
printf 'another note %s\n' "$CONTENT_MARKER" >"$SRC/$DIR_MARKER/notes/another.txt"
expect_exit 0 "$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE" \
  --log-file "$LOGS/backup3.log" --log-level debug backup "$SRC"
[[ -n $(find "$XDG_CACHE_HOME/phivault" -type f 2>/dev/null) ]] ||
  fail "backup without --cache-dir wrote no cache under $XDG_CACHE_HOME/phivault"
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/check.log" --log-level debug check --read-data
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/snapshots.log" --log-level debug snapshots
output_mentions "$HOST_MARKER" || fail "snapshots does not show the host $HOST_MARKER"
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/ls.log" --log-level debug ls latest
output_mentions "$NAME_MARKER" || fail "ls latest does not list $NAME_MARKER (positive control)"
expect_exit 0 "${PVR[@]}" --log-file "$LOGS/restore.log" --log-level debug \
  restore "$SNAP" --target "$T/restored"
LABS=$SRC/$DIR_MARKER/${NAME_MARKER}_labs.csv
cmp -s -- "$LABS" "$T/restored$LABS" ||
  fail "restore did not bring back the 5 MiB file"

[[ -s $LOGS/backup.log ]] || fail "--log-file $LOGS/backup.log at debug level is missing or empty"
[[ -d $CACHE ]] || fail "--cache-dir $CACHE was not created by backup"
[[ -n $(find "$CACHE" -type f) ]] || fail "the files cache under $CACHE holds no file"
grep -q '"version"' "$REPO/config" || fail "config does not look like the repository config"

# search WHERE MARKERS...: fail if any marker occurs in the contents or the names under WHERE.
search() {
  local where=$1 m hits
  shift
  for m in "$@"; do
    if hits=$(grep -a -r -F -i -l -e "$m" -- "$where"); then
      fail "marker $m found in the contents of: $hits"
    fi
    hits=$(find "$where" -iname "*$m*")
    [[ -z $hits ]] || fail "marker $m found in the names of: $hits"
  done
}

# Everything phivault may have written outside the source and the restore target: the repository,
# keystore, cache, the XDG directories under HOME, TMPDIR, and the logs.
for where in "$REPO" "$KS" "$CACHE" "$HOME" "$TMPDIR" "$LOGS"; do
  search "$where" "${DATA_MARKERS[@]}"
done
for where in "$REPO" "$KS" "$CACHE" "$TMPDIR"; do
  search "$where" "${META_MARKERS[@]}"
done
for m in "${DATA_MARKERS[@]}" "${META_MARKERS[@]}" "$SRC"; do
  ! grep -a -F -i -q -e "$m" -- "$REPO/config" || fail "config contains $m"
done

# Nothing but the repository's own objects may sit in it.
stray=$(cd "$REPO" && find . -type f ! -path ./config -regextype posix-extended \
  ! -regex '\./data/[0-9a-f]{2}/[0-9a-f]{64}' ! -regex '\./(index|snapshots|drills|audit)/[0-9a-f]{64}')
[[ -z $stray ]] || fail "unexpected files in the repository: $stray"

pass
