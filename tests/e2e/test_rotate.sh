#!/usr/bin/env bash
# Key rotation and re-encryption (doc/format/keys.md, "Rotation"):
#   - key rotate starts epoch 2: new packs are sealed under it, old ones stay under epoch 1, no
#     object is rewritten, and every snapshot still restores;
#   - key rotate --reencrypt, SIGKILLed at each kind of step (a pack re-sealed, the new index
#     written, a snapshot re-sealed, an old object removed, everything done but the keystore), leaves
#     a repository that `check --read-data` passes and restores; running it again finishes the job;
#   - afterwards every object's envelope names the new epoch, the epochs before are gone from the
#     keystore, and a saved copy of the old keystore unlocks but decrypts nothing (check exit 12,
#     restore fails); the key-operation log records each step without secrets.
source "$(dirname "$0")/lib.sh" "$@"

# epochs_in DIR [SUBDIR...]: the sorted set of key epochs named by the envelopes of every sealed
# object (in the given subdirectories; default all).
epochs_in() {
  python3 - "$@" <<'PY'
import os, struct, sys
root = sys.argv[1]
seen = set()
for sub in sys.argv[2:] or ("data", "index", "snapshots", "drills", "audit"):
    for dirpath, _, files in os.walk(os.path.join(root, sub)):
        for f in files:
            if ".tmp-" in f:
                continue
            with open(os.path.join(dirpath, f), "rb") as fh:
                head = fh.read(44)
            assert head[:4] == b"PHVO", f
            seen.add(struct.unpack("<I", head[8:12])[0])
print(" ".join(str(e) for e in sorted(seen)))
PY
}

mkdir -p "$T/src/notes"
head -c 6000000 /dev/urandom >"$T/src/scan.dcm"
for i in $(seq 1 300); do printf 'patient %d: follow-up in %d weeks\n' "$i" "$((i % 7))" >"$T/src/notes/n$i.txt"; done
init_repo main
expect_exit 0 "${PVR[@]}" backup "$T/src"
packs_e1=$(pack_files "$REPO" | sort)

# --- key rotate: a new epoch for new data only ------------------------------------------------
# (Only the data: the command's signed audit checkpoint is a new object in audit/.)
before=$(manifest "$REPO" | grep -v -e ' \./audit' -e '  \./audit/')
expect_exit 0 "${PVR[@]}" --json key rotate
[[ $(out_json 'd["epoch"]') == 2 ]] || fail "key rotate should start epoch 2"
[[ $(manifest "$REPO" | grep -v -e ' \./audit' -e '  \./audit/') == "$before" ]] ||
  fail "key rotate changed a repository object"
head -c 300000 /dev/urandom >"$T/src/new-lab.pdf"
expect_exit 0 "${PVR[@]}" backup "$T/src"
[[ $(epochs_in "$REPO") == "1 2" ]] || fail "after rotate + backup the objects should be under epochs 1 and 2, got $(epochs_in "$REPO")"
for p in $packs_e1; do [[ -f $p ]] || fail "key rotate rewrote or removed $p"; done
expect_exit 0 "${PVR[@]}" --json snapshots
first=$(out_json 'd[0]["id"]')
expect_exit 0 "${PVR[@]}" restore "$first" --target "$T/r1"
expect_exit 0 "${PVR[@]}" restore latest --target "$T/r2"
treecmp "$T/src" "$T/r2$T/src"
cp -a "$KS/$REPO_ID.keystore" "$T/old.keystore"
packs_before=$(pack_files "$REPO" | wc -l)

# --- key rotate --reencrypt, killed at each kind of step, then resumed ----------------------------
expect_exit 0 "${PVR[@]}" --json key list
[[ $(out_json 'd["reencryption_in_progress"]') == False ]] || fail "no re-encryption yet"
for crash in pack:1 index:1 snapshot:1 remove:2 done:1; do
  RC=0
  PHIVAULT_TEST_CRASH_AT=$crash "${PVR[@]}" key rotate --reencrypt >"$OUT" 2>"$ERR" </dev/null ||
    RC=$?
  [[ $RC == 137 ]] || { show_output >&2; fail "expected SIGKILL (137) at $crash, got $RC"; }
  expect_exit 0 "${PVR[@]}" --json key list
  [[ $(out_json 'd["reencryption_in_progress"]') == True ]] ||
    fail "after a kill at $crash the keystore should show the re-encryption in progress"
  expect_exit 0 "${PVR[@]}" check --read-data
  rm -rf "$T/r3"
  expect_exit 0 "${PVR[@]}" restore latest --target "$T/r3"
  treecmp "$T/src" "$T/r3$T/src"
  log "killed at $crash: check and restore pass, epochs now $(epochs_in "$REPO")"
done
expect_exit 0 "${PVR[@]}" --json key rotate --reencrypt
[[ $(out_json 'd["resumed"]') == True ]] || fail "the last run should resume"
[[ $(out_json 'd["epoch"]') == 3 ]] || fail "a resumed run must not start another epoch"
[[ $(out_json 'd["retired_epochs"]') == "[1, 2]" ]] || fail "epochs 1 and 2 should be retired"
[[ $(epochs_in "$REPO") == 3 ]] || fail "objects left under older epochs: $(epochs_in "$REPO")"
[[ $(object_files "$REPO" snapshots | wc -l) == 2 ]] || fail "re-encryption duplicated or lost snapshots"
[[ $(pack_files "$REPO" | wc -l) == "$packs_before" ]] ||
  fail "re-encryption should leave $packs_before packs, found $(pack_files "$REPO" | wc -l)"
expect_exit 0 "${PVR[@]}" check --read-data
expect_exit 0 "${PVR[@]}" --json snapshots
[[ $(out_json 'len(d)') == 2 ]] || fail "two snapshots should remain"
new_first=$(out_json 'd[0]["id"]')
[[ $new_first != "$first" ]] || fail "re-sealed snapshots get new ids"
rm -rf "$T/r4" "$T/r5"
expect_exit 0 "${PVR[@]}" restore "$new_first" --target "$T/r4"
treecmp "$T/r1$T/src" "$T/r4$T/src"
expect_exit 0 "${PVR[@]}" restore latest --target "$T/r5"
treecmp "$T/src" "$T/r5$T/src"
expect_exit 0 "${PVR[@]}" --json key list
[[ $(out_json '[e["epoch"] for e in d["epochs"]]') == "[3]" ]] || fail "keystore should hold epoch 3 only"

# --- the old keystore decrypts nothing -----------------------------------------------------------
mkdir -p "$T/oldks"
cp -a "$T/old.keystore" "$T/oldks/$REPO_ID.keystore"
OLD=("$PV" --repo "$REPO" --keystore "$T/oldks" --password-file "$PASSPHRASE_FILE" --cache-dir "$T/oldcache")
expect_exit 12 "${OLD[@]}" check
run "${OLD[@]}" restore "$new_first" --target "$T/r6"
[[ $RC != 0 ]] || fail "a restore with the old keystore succeeded"
[[ ! -e $T/r6 ]] || [[ -z $(find "$T/r6" -type f) ]] || fail "the old keystore restored files"
run "${OLD[@]}" --json snapshots
[[ $RC != 0 || $(out_json 'len(d)') == 0 ]] || fail "the old keystore listed snapshots"

# --- an interrupted run at a random moment, with a backup in between ------------------------------
head -c 4000000 /dev/urandom >"$T/src/scan2.dcm"
expect_exit 0 "${PVR[@]}" backup "$T/src"
"${PVR[@]}" -q key rotate --reencrypt >/dev/null 2>&1 &
pid=$!
BG_PIDS+=("$pid")
sleep 0.05
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
expect_exit 0 "${PVR[@]}" check --read-data
expect_exit 0 "${PVR[@]}" key rotate --reencrypt
# The commands run above with the old keystore stored their audit checkpoints under its epoch 2:
# nothing current can read them, so the re-encryption names them and leaves them alone.
[[ $(epochs_in "$REPO" data index snapshots drills) == 4 ]] ||
  fail "objects left under older epochs: $(epochs_in "$REPO" data index snapshots drills)"
[[ $(epochs_in "$REPO" audit) == "2 4" ]] || fail "audit checkpoints under $(epochs_in "$REPO" audit)"
expect_output_mentions "does not hold" "the old keystore's checkpoints"
rm -rf "$T/r7"
expect_exit 0 "${PVR[@]}" restore latest --target "$T/r7"
treecmp "$T/src" "$T/r7$T/src"

# --- the key-operation log ---------------------------------------------------------------------
log_file=$KS/$REPO_ID.keylog
python3 - "$log_file" <<'PY' || fail "key log: $(cat "$log_file")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ops = [r["operation"] for r in recs]
assert ops[0] == "init", ops
assert ops.count("key rotate") == 3, ops           # epoch 2, epoch 3 (--reencrypt), epoch 4
done = [r for r in recs if r["operation"] == "key reencrypt" and r["outcome"] == "ok"]
assert len(done) == 2, recs
assert done[0]["epoch"] == 3 and done[0]["details"]["retired_epochs"] == [1, 2], done[0]
assert done[0]["details"]["resumed"] is True, done[0]
assert done[1]["details"]["retired_epochs"] == [3], done[1]
PY
grep -q "correct horse" "$log_file" && fail "the passphrase reached the key log"
log "rotation and re-encryption ok"
pass
