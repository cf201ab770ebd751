#!/usr/bin/env bash
# Restore drills (doc/format/drill-record.md):
#   - drill --source restores the source's newest backup into a sandbox, verifies every byte,
#     projects the restore time against the RTO, signs the record, and removes the sandbox;
#   - the record file verifies offline with only the public key (drill verify), and fails with
#     one changed figure, a changed signature, or another repository's key (exit 12);
#   - a sealed copy is in the repository, nothing in the state directory or the repository holds
#     a file name or file content in plaintext;
#   - a repository with one flipped bit fails the drill (exit 12) and the output says where;
#   - so does a disk that stores one wrong bit (tests/e2e/lying_disk.c), which only reading the
#     restored bytes back can notice: every blob it was given was authentic;
#   - --sample restores a part; a sandbox a killed drill left is removed by the next drill.
source "$(dirname "$0")/lib.sh" "$@"

STATE=$T/state
MARK=ZQXW-drill-marker-7731
mkdir -p "$T/src/ehr/db" "$T/src/ehr/notes"
head -c 3000000 /dev/urandom >"$T/src/ehr/db/records.db"
for i in $(seq 1 120); do printf '%s patient %d: chart entry\n' "$MARK" "$i" >"$T/src/ehr/notes/$MARK-$i.txt"; done
init_repo main
P=("${PVR[@]}" --state-dir "$STATE")
expect_exit 0 "${P[@]}" source add ehr "$T/src/ehr" --critical --rto 72h
expect_exit 0 "${P[@]}" backup --source ehr

expect_exit 0 "${P[@]}" --json drill --source ehr
[[ $(out_json 'd["result"]') == pass ]] || fail "the drill of an intact repository should pass"
[[ $(out_json 'd["files"] == d["files_verified"] == 121') == True ]] || fail "every file should be verified: $(cat "$OUT")"
[[ $(out_json 'd["bytes_verified"]') -ge 3000000 ]] || fail "bytes verified too low"
[[ $(out_json 'd["projections"][0]["source"]') == ehr ]] || fail "the critical source should be projected"
[[ $(out_json 'd["projections"][0]["within_target"]') == True ]] || fail "a small source restores within 72h"
[[ $(out_json '[p["name"] for p in d["phases"]]') == "['open', 'restore', 'cleanup']" ]] ||
  fail "phases: $(out_json 'd["phases"]')"
out_json 'd["assumptions"]' | grep -q throughput || fail "the record should state its assumptions"
id=$(out_json 'd["id"]')
record=$(out_json 'd["record_file"]')
[[ -f $record && $(stat -c %a "$record") == 600 ]] || fail "drill record file missing or not 0600"
[[ -z $(find "$STATE/sandbox" -mindepth 1 2>/dev/null) ]] || fail "the sandbox was left behind"

expect_exit 0 "${P[@]}" --json drill list
[[ $(out_json 'd[0]["id"]') == "$id" && $(out_json 'd[0]["passed"]') == True ]] || fail "drill list"
expect_exit 0 "${P[@]}" --json drill show "${id:0:6}"
[[ $(out_json 'd["snapshot"]') =~ ^[0-9a-f]{64}$ ]] || fail "drill show"

# Offline verification with the public key only.
expect_exit 0 "${P[@]}" drill public-key --out "$T/pub.pem"
grep -q "BEGIN PUBLIC KEY" "$T/pub.pem" || fail "public key is not PEM"
mkdir "$T/auditor"
cp "$record" "$T/auditor/record.drill"
expect_exit 0 "$PV" drill verify "$T/auditor/record.drill" --public-key "$T/pub.pem"
expect_output_mentions "intact" "an intact record"
# openssl, independently, agrees with the signature.
python3 - "$T/auditor/record.drill" "$T" <<'PY'
import json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
open(sys.argv[2] + "/rec.bin", "wb").write(lines[0])
open(sys.argv[2] + "/sig.bin", "wb").write(bytes.fromhex(json.loads(lines[1])["signature"]))
PY
openssl pkeyutl -verify -pubin -inkey "$T/pub.pem" -rawin -in "$T/rec.bin" -sigfile "$T/sig.bin" >/dev/null ||
  fail "openssl does not verify the drill record's signature"
# One changed figure, one changed signature digit, another key: refused.
python3 - "$T/auditor/record.drill" "$T/auditor/figure.drill" <<'PY'
import sys
t = open(sys.argv[1]).read()
i = t.index('"bytes_verified":') + len('"bytes_verified":')
d = t[i]
t = t[:i] + ("1" if d != "1" else "2") + t[i + 1:]
open(sys.argv[2], "w").write(t)
PY
expect_exit 12 "$PV" drill verify "$T/auditor/figure.drill" --public-key "$T/pub.pem"
expect_output_mentions "does not verify" "a changed figure"
python3 - "$T/auditor/record.drill" "$T/auditor/sig.drill" <<'PY'
import sys
t = open(sys.argv[1]).read()
i = t.index('"signature":"') + len('"signature":"')
t = t[:i] + ("0" if t[i] != "0" else "1") + t[i + 1:]
open(sys.argv[2], "w").write(t)
PY
expect_exit 12 "$PV" drill verify "$T/auditor/sig.drill" --public-key "$T/pub.pem"
init_repo other
expect_exit 0 "${PVR[@]}" --state-dir "$T/state2" drill public-key --out "$T/other.pem"
expect_exit 12 "$PV" drill verify "$T/auditor/record.drill" --public-key "$T/other.pem"
use_repo main

# The sealed copy in the repository, and no plaintext anywhere at rest.
[[ $(find "$REPO/drills" -type f | wc -l) == 1 ]] || fail "the repository should hold one drill record"
if grep -r -a -q -e "$MARK" -e "records.db" "$REPO" "$STATE" "$KS"; then
  grep -r -a -l -e "$MARK" -e "records.db" "$REPO" "$STATE" "$KS" >&2
  fail "a file name or content reached the repository, the state directory or the keystore"
fi

# A sample restores part of the files.
expect_exit 0 "${P[@]}" --json drill --source ehr --sample 20
files=$(out_json 'd["files"]')
[[ $files -gt 0 && $files -lt 121 ]] || fail "a 20% sample verified $files of 121 files"

# A sandbox left by a killed drill is removed by the next one.
mkdir -p "$STATE/sandbox/drill-sandbox-stale1/srv"
printf '%s\n' "$MARK" >"$STATE/sandbox/drill-sandbox-stale1/srv/leftover"
expect_exit 0 "${P[@]}" drill --source ehr
expect_output_mentions "removed 1 sandbox" "the stale sandbox"
[[ ! -e $STATE/sandbox/drill-sandbox-stale1 ]] || fail "the stale sandbox is still there"

# A disk that stores one wrong bit of records.db. A plain restore authenticates every blob and
# cannot notice; the drill reads the bytes back, fails, and names the blob and the offset.
cc -shared -fPIC -o "$T/lying_disk.so" "$(dirname "$0")/lying_disk.c" -ldl ||
  fail "cannot build the lying-disk library"
# A binary built with AddressSanitizer refuses to start when a preloaded library comes before
# its runtime; the lying disk only forwards calls, so that check is turned off.
LIE=(env LD_PRELOAD="$T/lying_disk.so" LYING_DISK_NAME=records.db
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
expect_exit 0 "${LIE[@]}" "${P[@]}" restore latest --target "$T/lied"
cmp -s "$T/src/ehr/db/records.db" "$T/lied$T/src/ehr/db/records.db" &&
  fail "the lying disk did not change records.db: this test proves nothing"
expect_exit 12 "${LIE[@]}" "${P[@]}" --json drill --source ehr
[[ $(out_json 'd["result"]') == fail ]] || fail "the drill on a lying disk should fail"
[[ $(out_json 'd["files_verified"]') == 120 ]] || fail "the other 120 files should verify"
out_json 'd["mismatches"][0]' | grep -q "read back: bytes .* differ from blob [0-9a-f]\{64\}" ||
  fail "the mismatch should name the bytes and the blob: $(out_json 'd["mismatches"]')"
out_json 'd["mismatches"]' | grep -q records.db && fail "the record names the file"
[[ -z $(find "$STATE/sandbox" -mindepth 1 2>/dev/null) ]] || fail "the failed drill left its sandbox"

# A sparse file: its holes are checked through SEEK_DATA rather than by reading 254 MiB of
# zeros, and a stray byte where the hole should be (the lying disk's hole mode) is still caught.
mkdir -p "$T/vm"
head -c 1048576 /dev/urandom >"$T/vm/disk.img"
truncate -s 256M "$T/vm/disk.img"
dd if=/dev/urandom of="$T/vm/disk.img" bs=1M count=1 seek=192 conv=notrunc status=none
init_repo sparse
S=("${PVR[@]}" --state-dir "$T/state-sparse")
expect_exit 0 "${S[@]}" source add vm "$T/vm" --critical
expect_exit 0 "${S[@]}" backup --source vm
expect_exit 0 "${S[@]}" --json drill --source vm
[[ $(out_json 'd["bytes_verified"]') == 268435456 ]] || fail "the whole sparse file should verify"
[[ $(out_json '2097152 <= d["data_bytes_restored"] < 4194304') == True ]] ||
  fail "only the 2 MiB of data should count as data: $(out_json 'd["data_bytes_restored"]')"
expect_exit 12 env LD_PRELOAD="$T/lying_disk.so" LYING_DISK_NAME=disk.img LYING_DISK_HOLE=1 \
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "${S[@]}" --json drill --source vm
out_json 'd["mismatches"][0]' | grep -q "differ from the hole there" ||
  fail "data in a hole should be caught: $(out_json 'd["mismatches"]')"
use_repo main

# One flipped bit in a data pack: the drill fails and names the place.
pack=$(for f in $(pack_files "$REPO"); do echo "$(stat -c %s "$f") $f"; done | sort -n | tail -1 | cut -d' ' -f2)
python3 - "$pack" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[100] ^= 0x04
open(p, "wb").write(b)
PY
expect_exit 12 "${P[@]}" drill --source ehr
expect_output_mentions "FAIL" "the failed drill"
expect_output_mentions "MISMATCH" "the mismatch"
expect_output_mentions "$(basename "$pack")" "the damaged pack"
expect_exit 0 "${P[@]}" --json drill list
[[ $(out_json 'd[0]["passed"]') == False ]] || fail "the failed drill should be recorded as failed"
[[ -z $(find "$STATE/sandbox" -mindepth 1 2>/dev/null) ]] || fail "the failed drill left its sandbox"
log "drills ok"
pass
