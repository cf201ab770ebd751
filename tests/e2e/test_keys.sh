#!/usr/bin/env bash
# Key slots: key list, key add, key remove, key passwd, and key-file slots (PKCS#11 slots are in
# test_hsm.sh, recovery kits in test_recovery.sh, rotation in test_rotate.sh).
#   - a second passphrase slot opens the repository; removing the first revokes its passphrase
#     (exit 11); the last slot cannot be removed (exit 13) and the keystore is then unchanged;
#   - key passwd replaces a passphrase; a wrong current passphrase changes nothing (exit 11);
#   - every operation, and every failed unlock, leaves a record in the key-operation log (JSON
#     lines beside the keystore) naming the operation, slot and outcome, and no passphrase appears
#     in it.
source "$(dirname "$0")/lib.sh" "$@"

printf 'deputy passphrase 2207\n' >"$T/p2"
printf 'replacement passphrase 9031\n' >"$T/p3"
printf 'not the passphrase\n' >"$T/wrong"
chmod 600 "$T/p2" "$T/p3" "$T/wrong"
init_repo main
mkdir -p "$T/src"
printf 'x\n' >"$T/src/f"
expect_exit 0 "${PVR[@]}" backup "$T/src"
# with FILE: the command prefix that reads the passphrase from FILE, in W.
with() { W=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" --password-file "$1"); }
KDF=(--kdf-memory-mib 64 --kdf-iterations 1)

expect_exit 0 "${PVR[@]}" --json key list
[[ $(out_json 'len(d["slots"])') == 1 ]] || fail "a new repository should have one slot"
expect_exit 0 "${PVR[@]}" key add --label "deputy admin" --new-password-file "$T/p2" "${KDF[@]}"
with "$T/p2"; expect_exit 0 "${W[@]}" --json key list
[[ $(out_json '[s["label"] for s in d["slots"]]') == "['passphrase', 'deputy admin']" ]] ||
  fail "slots after add: $(cat "$OUT")"
[[ $(out_json '[s["slot"] for s in d["slots"] if s["opened_this_time"]]') == "[2]" ]] ||
  fail "the deputy passphrase should open slot 2"
with "$T/p2"; expect_exit 0 "${W[@]}" snapshots

# A wrong current passphrase changes nothing.
before=$(manifest "$KS" | grep keystore)
with "$T/wrong"; expect_exit 11 "${W[@]}" key add --new-password-file "$T/p3" "${KDF[@]}"
with "$T/wrong"; expect_exit 11 "${W[@]}" key remove 1
[[ $(manifest "$KS" | grep keystore) == "$before" ]] || fail "a refused key command changed the keystore"

with "$T/p2"; expect_exit 0 "${W[@]}" key remove 1
expect_exit 11 "${PVR[@]}" snapshots
with "$T/p2"; expect_exit 15 "${W[@]}" key remove 1
before=$(manifest "$KS" | grep keystore)
with "$T/p2"; expect_exit 13 "${W[@]}" key remove 2
expect_output_mentions "last key slot" "removing the last slot"
[[ $(manifest "$KS" | grep keystore) == "$before" ]] || fail "refusing the last slot changed the keystore"

with "$T/p2"; expect_exit 0 "${W[@]}" key passwd --new-password-file "$T/p3" "${KDF[@]}"
with "$T/p2"; expect_exit 11 "${W[@]}" snapshots
with "$T/p3"; expect_exit 0 "${W[@]}" restore latest --target "$T/out"
treecmp "$T/src" "$T/out$T/src"

# A key file on separate media: it opens the repository without a passphrase; a copy readable by
# others is refused (13); another key file opens nothing (11).
mkdir -m 700 "$T/usb"
with "$T/p3"; expect_exit 0 "${W[@]}" key add --new-key-file "$T/usb/clinic.key" --label "usb stick"
[[ $(stat -c %a "$T/usb/clinic.key") == 600 && $(stat -c %s "$T/usb/clinic.key") == 32 ]] ||
  fail "key file should be 32 bytes, mode 600"
K=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" --key-file "$T/usb/clinic.key")
expect_exit 0 "${K[@]}" snapshots
expect_exit 0 "${K[@]}" --json key list
[[ $(out_json '[s["type"] for s in d["slots"] if s["opened_this_time"]]') == "['key file']" ]] ||
  fail "the key file should open the key-file slot"
chmod 644 "$T/usb/clinic.key"
expect_exit 13 "${K[@]}" snapshots
expect_output_mentions "chmod 600" "key file readable by others"
chmod 600 "$T/usb/clinic.key"
head -c 32 /dev/urandom >"$T/usb/other.key"
chmod 600 "$T/usb/other.key"
expect_exit 11 "$PV" --repo "$REPO" --keystore "$KS" --key-file "$T/usb/other.key" snapshots

log_file=$KS/$REPO_ID.keylog
[[ -f $log_file ]] || fail "no key-operation log at $log_file"
[[ $(stat -c %a "$log_file") == 600 ]] || fail "key log is not mode 600"
python3 - "$log_file" <<'PY' || fail "key log: $(cat "$log_file")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ops = [(r["operation"], r.get("slot"), r["outcome"]) for r in recs]
want = [("init", 1, "ok"), ("key add", 2, "ok"),
        ("unlock", None, "failed"), ("unlock", None, "failed"),  # the wrong passphrase, twice
        ("key remove", 1, "ok"),
        ("unlock", None, "failed"),  # the removed slot's passphrase
        ("key remove", 1, "failed"), ("key remove", 2, "failed"), ("key passwd", 2, "ok"),
        ("unlock", None, "failed"),  # the replaced passphrase
        ("key add", 3, "ok"),
        ("unlock", None, "failed"), ("unlock", None, "failed")]  # key file 0644, other key file
assert ops == want, ops
errors = [r["error"] for r in recs if r["operation"] == "unlock"]
assert errors == ["UNAUTHENTICATED"] * 4 + ["PERMISSION_DENIED", "UNAUTHENTICATED"], errors
for r in recs:
    assert r["actor"] and r["host"] and r["time"].endswith("Z"), r
PY
for secret in "deputy passphrase" "replacement passphrase" "correct horse"; do
  grep -q "$secret" "$log_file" && fail "a passphrase reached the key log"
done
log "key slots and key-operation log ok"
pass
