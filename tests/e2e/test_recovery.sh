#!/usr/bin/env bash
# Recovery kits (doc/format/recovery-kit.md): the administrator who knew the passphrase is gone.
#   - key recovery-kit --shares 5 --threshold 3 prints five text shares with QR codes and writes
#     them as .txt and .png (mode 0600); zbarimg reads each PNG back to exactly its text;
#   - any 3 shares set a new passphrase with key recover, which then opens the repository; the
#     old passphrase keeps working until its slot is removed;
#   - 2 shares fail with a message naming the threshold (exit 11) and change nothing; a share with
#     a typo is named (exit 2); shares of another repository's kit open nothing (exit 11);
#   - a revoked kit opens nothing (exit 11); every step is in the key-operation log, and no share
#     text reaches it.
source "$(dirname "$0")/lib.sh" "$@"
command -v zbarimg >/dev/null || skip "zbarimg (zbar-tools) is needed to read the QR codes back"

printf 'new admin passphrase 5521\n' >"$T/newpass"
chmod 600 "$T/newpass"
mkdir -p "$T/src"
printf 'chart 1\n' >"$T/src/chart.txt"
init_repo main
expect_exit 0 "${PVR[@]}" backup "$T/src"
KDF=(--kdf-memory-mib 64 --kdf-iterations 1)

expect_exit 0 "${PVR[@]}" key recovery-kit --shares 5 --threshold 3 --out-dir "$T/kit"
expect_output_mentions "any 3 of these 5 shares" "the kit's threshold"
[[ $(grep -c '^PHVR1-' "$OUT") == 5 ]] || fail "five share texts should be printed"
grep -q '█' "$OUT" || fail "no QR code drawn on the terminal"
kit=$(grep -o 'recovery kit [0-9a-f]\{16\}' "$OUT" | head -1 | awk '{print $3}')
[[ -n $kit ]] || fail "the kit id is not printed"
n=0
for txt in "$T"/kit/share-"$kit"-*.txt; do
  png=${txt%.txt}.png
  [[ $(stat -c %a "$txt") == 600 && $(stat -c %a "$png") == 600 ]] || fail "share files must be 0600"
  decoded=$(zbarimg --raw -q "$png" 2>/dev/null)
  [[ $decoded == "$(cat "$txt")" ]] || fail "QR code of $png does not read back as its text"
  n=$((n + 1))
done
[[ $n == 5 ]] || fail "expected 5 share files, found $n"
expect_exit 0 "${PVR[@]}" --json key list
[[ $(out_json '[s["recovery_kit"]["threshold"] for s in d["slots"] if s["type"] == "recovery kit"]') == "[3]" ]] ||
  fail "key list should show the kit's slot"
kit_slot=$(out_json '[s["slot"] for s in d["slots"] if s["type"] == "recovery kit"][0]')
shares=("$T"/kit/share-"$kit"-*.txt)

NOPASS=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE")
# Two shares: refused with the threshold named, nothing changed.
before=$(manifest "$KS" | grep '\.keystore')
expect_exit 11 "${NOPASS[@]}" key recover --share-file "${shares[0]}" --share-file "${shares[3]}" \
  --new-password-file "$T/newpass" "${KDF[@]}"
expect_output_mentions "needs 3 shares; got 2" "the threshold"
[[ $(manifest "$KS" | grep '\.keystore') == "$before" ]] || fail "a refused recovery changed the keystore"
# A typo in one share is named.
sed 's/^\(PHVR1-.....-\)./\1Z/' "${shares[1]}" >"$T/typo.txt"
cmp -s "$T/typo.txt" "${shares[1]}" && sed -i 's/^\(PHVR1-.....-\)./\1Y/' "$T/typo.txt"
expect_exit 2 "${NOPASS[@]}" key recover --share-file "${shares[0]}" --share-file "$T/typo.txt" \
  --share-file "${shares[2]}" --new-password-file "$T/newpass" "${KDF[@]}"
expect_output_mentions "typo" "a mistyped share"

# Three shares, in any order, from a file and from standard input: a new passphrase slot.
cat "${shares[4]}" "${shares[1]}" >"$T/two.txt"
RC=0
"${NOPASS[@]}" --json key recover --share-file "$T/two.txt" --share-file - \
  --new-password-file "$T/newpass" "${KDF[@]}" <"${shares[2]}" >"$OUT" 2>"$ERR" || RC=$?
[[ $RC == 0 ]] || { show_output >&2; fail "key recover with 3 shares failed ($RC)"; }
[[ $(out_json 'd["kit_slot"]') == "$kit_slot" ]] || fail "recover should name the kit's slot"
NEW=("$PV" --repo "$REPO" --keystore "$KS" --cache-dir "$CACHE" --password-file "$T/newpass")
expect_exit 0 "${NEW[@]}" restore latest --target "$T/out"
treecmp "$T/src" "$T/out$T/src"

# Shares of another repository's kit open nothing here.
MAIN_ID=$REPO_ID
init_repo other
expect_exit 0 "${PVR[@]}" key recovery-kit --shares 3 --threshold 2 --out-dir "$T/kit2"
other=("$T"/kit2/*.txt)
expect_exit 11 "${NOPASS[@]}" key recover --share-file "${other[0]}" --share-file "${other[1]}" \
  --new-password-file "$T/newpass" "${KDF[@]}"
expect_output_mentions "opens no slot" "a kit of another repository"

# Revoked: the same three shares open nothing.
expect_exit 0 "${NEW[@]}" key recovery-kit --revoke "$kit_slot"
expect_exit 11 "${NOPASS[@]}" key recover --share-file "${shares[0]}" --share-file "${shares[1]}" \
  --share-file "${shares[2]}" --new-password-file "$T/newpass" "${KDF[@]}"
expect_output_mentions "revoked" "a revoked kit"
use_repo main
expect_exit 15 "${NEW[@]}" key recovery-kit --revoke 1
expect_output_mentions "not a recovery kit" "revoking a passphrase slot"

log_file=$KS/$MAIN_ID.keylog
python3 - "$log_file" <<'PY' || fail "key log: $(cat "$log_file")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ops = [(r["operation"], r["outcome"]) for r in recs]
assert ("key recovery-kit", "ok") in ops, ops
kit = [r for r in recs if r["operation"] == "key recovery-kit"][0]
assert kit["details"]["threshold"] == 3 and kit["details"]["shares"] == 5, kit
used = [r for r in recs if r["operation"] == "key recover"]
assert len(used) == 1 and used[0]["outcome"] == "ok", used
assert ("key recovery-kit revoke", "ok") in ops, ops
assert ("key recovery-kit revoke", "failed") in ops, ops
assert sum(1 for o in ops if o == ("unlock", "failed")) >= 3, ops
PY
for txt in "${shares[@]}"; do
  grep -q -F "$(cut -c1-30 "$txt")" "$log_file" && fail "share text reached the key log"
done
log "recovery kit ok"
pass
