#!/usr/bin/env bash
# PKCS#11 key slots against a real SoftHSM2 token (tests/hsm/token.sh), loaded with dlopen as a
# hardware HSM's module would be:
#   - key add --pkcs11-token/--pkcs11-key adds a slot whose wrapping key stays on the token; the
#     repository then opens with --pkcs11 and the PIN (file or PHIVAULT_PKCS11_* variables), even
#     after the passphrase slot is removed;
#   - a wrong PIN is exit 11 and the PIN is not echoed; a PIN file readable by others is exit 13;
#     a missing module, token or key is exit 21; none of these change the keystore;
#   - the keystore and the key-operation log hold neither the PIN nor key material from the token.
source "$(dirname "$0")/lib.sh" "$@"
HSM_DIR=$T/hsm
bash "$E2E_DIR/../hsm/token.sh" "$HSM_DIR" >"$T/token.log" 2>&1 ||
  { cat "$T/token.log" >&2; fail "could not create the SoftHSM2 token (tests/hsm/token.sh)"; }
# shellcheck disable=SC1091
source "$HSM_DIR/env"
MOD=$PHIVAULT_TEST_PKCS11_MODULE
PIN_FILE=$HSM_DIR/pin
printf '999999' >"$T/wrong.pin"
chmod 600 "$T/wrong.pin"

mkdir -p "$T/src"
for i in $(seq 1 50); do printf 'lab result %d\n' "$i" >"$T/src/r$i.txt"; done
init_repo main
expect_exit 0 "${PVR[@]}" backup "$T/src"
ks_file=$KS/$REPO_ID.keystore

# Refusals change nothing.
before=$(manifest "$KS" | grep '\.keystore')
expect_exit 11 "${PVR[@]}" --pkcs11-module "$MOD" --pkcs11-pin-file "$T/wrong.pin" \
  key add --pkcs11-token phivault-test --pkcs11-key kek-1
grep -q -a 999999 "$OUT" "$ERR" && fail "the wrong PIN was echoed"
expect_exit 21 "${PVR[@]}" --pkcs11-module "$T/no-such-module.so" --pkcs11-pin-file "$PIN_FILE" \
  key add --pkcs11-token phivault-test --pkcs11-key kek-1
expect_exit 21 "${PVR[@]}" --pkcs11-module "$MOD" --pkcs11-pin-file "$PIN_FILE" \
  key add --pkcs11-token no-such-token --pkcs11-key kek-1
expect_output_mentions "no-such-token" "the missing token"
expect_exit 21 "${PVR[@]}" --pkcs11-module "$MOD" --pkcs11-pin-file "$PIN_FILE" \
  key add --pkcs11-token phivault-test --pkcs11-key no-such-key
[[ $(manifest "$KS" | grep '\.keystore') == "$before" ]] || fail "a refused key add changed the keystore"

expect_exit 0 "${PVR[@]}" --pkcs11-module "$MOD" --pkcs11-pin-file "$PIN_FILE" \
  key add --pkcs11-token phivault-test --pkcs11-key kek-1 --label "rack HSM"
expect_exit 0 "${PVR[@]}" --json key list
[[ $(out_json '[(s["type"], s["pkcs11"]["token"], s["pkcs11"]["key"]) for s in d["slots"] if "pkcs11" in s]') == "[('pkcs11', 'phivault-test', 'kek-1')]" ]] ||
  fail "key list should show the PKCS#11 slot: $(cat "$OUT")"

HSM=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" --pkcs11 --pkcs11-pin-file "$PIN_FILE")
expect_exit 0 "${HSM[@]}" --json key list
[[ $(out_json '[s["type"] for s in d["slots"] if s["opened_this_time"]]') == "['pkcs11']" ]] ||
  fail "--pkcs11 should open the PKCS#11 slot"
expect_exit 0 "${HSM[@]}" restore latest --target "$T/out"
treecmp "$T/src" "$T/out$T/src"
# The same through the environment, with the module the slot recorded.
RC=0
PHIVAULT_PKCS11=1 PHIVAULT_PKCS11_PIN_FILE=$PIN_FILE \
  "$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" snapshots >"$OUT" 2>"$ERR" </dev/null || RC=$?
[[ $RC == 0 ]] || { show_output >&2; fail "PHIVAULT_PKCS11=1 did not unlock ($RC)"; }

# Wrong PIN, unsafe PIN file, missing module, missing token: refused, nothing changed.
before=$(manifest "$KS" | grep '\.keystore')
W=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" --pkcs11)
expect_exit 11 "${W[@]}" --pkcs11-pin-file "$T/wrong.pin" snapshots
expect_output_mentions "wrong PIN" "a wrong PIN"
grep -q -a 999999 "$OUT" "$ERR" && fail "the wrong PIN was echoed"
cp "$PIN_FILE" "$T/loose.pin"
chmod 644 "$T/loose.pin"
expect_exit 13 "${W[@]}" --pkcs11-pin-file "$T/loose.pin" snapshots
expect_output_mentions "chmod 600" "a PIN file readable by others"
expect_exit 21 "${W[@]}" --pkcs11-pin-file "$PIN_FILE" --pkcs11-module "$T/no-such-module.so" snapshots
mkdir -p "$T/empty-tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/empty-tokens" >"$T/empty.conf"
RC=0
SOFTHSM2_CONF=$T/empty.conf "${W[@]}" --pkcs11-pin-file "$PIN_FILE" snapshots >"$OUT" 2>"$ERR" </dev/null || RC=$?
[[ $RC == 21 ]] || { show_output >&2; fail "a missing token should be exit 21, got $RC"; }
expect_output_mentions "phivault-test" "the missing token's label"
[[ $(manifest "$KS" | grep '\.keystore') == "$before" ]] || fail "a refused unlock changed the keystore"

# Only the token is left: the passphrase slot goes, the HSM still opens, the passphrase does not.
expect_exit 0 "${HSM[@]}" key remove 1
expect_exit 11 "${PVR[@]}" snapshots
expect_exit 0 "${HSM[@]}" check
# A rotation under the HSM slot works like any other.
expect_exit 0 "${HSM[@]}" key rotate --reencrypt
expect_exit 0 "${HSM[@]}" check --read-data

# No PIN or token key bytes in the keystore or the log.
log_file=$KS/$REPO_ID.keylog
for f in "$ks_file" "$log_file"; do
  grep -q -a "$(cat "$PIN_FILE")" "$f" && fail "the PIN reached $f"
done
python3 - "$log_file" <<'PY' || fail "key log: $(cat "$log_file")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
adds = [r for r in recs if r["operation"] == "key add"]
assert [a["outcome"] for a in adds] == ["failed", "failed", "failed", "failed", "ok"], adds
ok = adds[-1]
assert ok["slot_type"] == "pkcs11" and ok["details"]["token"] == "phivault-test", ok
assert any(r["operation"] == "unlock" and r["outcome"] == "failed" for r in recs), recs
PY
log "PKCS#11 slots ok"
pass
