#!/usr/bin/env bash
# S3 repositories on a real Ceph RGW over HTTPS (tests/s3/services.sh), checked as a user would:
#   - init, backup, restore (byte for byte) and check --read-data on RGW's own HTTPS endpoint;
#   - s3cmd lists the bucket: every key is an id, no file name appears, and no object holds
#     plaintext of the source;
#   - wrong or missing credentials exit 17 naming the endpoint, never the secret; a credentials
#     file readable by others is refused (17), the same file at 0600 works; plain http:// exits 2;
#   - TLS 1.1 only, a certificate for another host name, and an untrusted CA each exit 18, and
#     the refusing servers' access logs show that no request was sent;
#   - object lock: a repository initialised with --object-lock-days 1 locks every object in
#     COMPLIANCE mode, the server refuses to delete a locked version, later backups ask the
#     server only about objects they do not know and extend nothing that is not due (when locks
#     fall due is tested with a clock in repo/repository_test.cc); --object-lock-days on a bucket without
#     Object Lock, or on a local repository, exits 19 and writes nothing;
#   - copy: local to S3, S3 to S3 and S3 to local, each restore identical; copying again finds
#     the snapshot present; copying a new snapshot stores only what changed.
source "$(dirname "$0")/lib.sh" "$@"
need_s3

CA=$PHIVAULT_TEST_S3_CA
SRC=$T/src
mkdir -p "$SRC/notes" "$SRC/images"
head -c 40M /dev/urandom >"$SRC/images/scan-0001.dcm"   # packs large enough for multipart
for i in $(seq 1 60); do
  printf 'PATIENT-MARKER-%04d Jane Roe, DOB 1961-02-03, MRN 7788%04d: follow-up in 2 weeks\n' \
    "$i" "$i" >"$SRC/notes/visit-note-$i.txt"
done
printf 'hello' >"$SRC/notes/tiny name with spaces.txt"

# --- round trip through RGW's own HTTPS endpoint ---------------------------------------------
BUCKET=$(unique_bucket e2e)
use_s3_repo main "s3:$PHIVAULT_TEST_S3_ENDPOINT/$BUCKET/clinic-a"
MAIN=("${PVR[@]}")
expect_exit 0 "${MAIN[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
expect_output_mentions "created repository" "init"
expect_exit 0 "${MAIN[@]}" backup "$SRC"
expect_exit 0 "${MAIN[@]}" --json snapshots
[[ $(out_json 'len(d)') == 1 ]] || fail "expected one snapshot"
expect_exit 0 "${MAIN[@]}" restore latest --target "$T/restored"
treecmp "$SRC" "$T/restored$SRC"
expect_exit 0 "${MAIN[@]}" check --read-data
log "round trip over https ok"

# --- what the bucket shows to someone who can list it ----------------------------------------
s3cmd_ ls --recursive "s3://$BUCKET/" >"$T/listing" || fail "s3cmd ls failed"
keys=$(awk '{print $4}' "$T/listing" | sed "s|^s3://$BUCKET/||")
[[ $(wc -l <<<"$keys") -ge 4 ]] || fail "listing too short: $keys"
while read -r k; do
  [[ $k =~ ^clinic-a/(config|data/[0-9a-f]{2}/[0-9a-f]{64}|(index|snapshots|drills|audit)/[0-9a-f]{64})$ ]] ||
    fail "object name reveals more than an id: $k"
done <<<"$keys"
grep -qiE 'visit|note|scan|dcm|patient|tiny' "$T/listing" && fail "a file name shows in the listing"
mkdir "$T/download"
s3cmd_ get --recursive "s3://$BUCKET/" "$T/download/" >/dev/null || fail "s3cmd get failed"
if grep -rqa -e 'PATIENT-MARKER' -e 'Jane Roe' -e 'visit-note' "$T/download"; then
  fail "plaintext of the source is stored in the bucket"
fi
log "names are ids only, no plaintext in $(wc -l <<<"$keys") objects"

# --- credentials ----------------------------------------------------------------------------
REAL_SECRET=$AWS_SECRET_ACCESS_KEY
AWS_SECRET_ACCESS_KEY=not-the-secret-9f3a expect_exit 17 "${MAIN[@]}" snapshots
expect_output_mentions "127.0.0.1" "wrong-credentials error"
output_mentions "not-the-secret-9f3a" && fail "the wrong secret was echoed"
output_mentions "$REAL_SECRET" && fail "the secret was echoed"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; export AWS_SHARED_CREDENTIALS_FILE=$T/none
 expect_exit 17 "${MAIN[@]}" snapshots)
expect_output_mentions "AWS_ACCESS_KEY_ID" "missing-credentials error"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$AWS_ACCESS_KEY_ID" "$REAL_SECRET" >"$T/credentials"
chmod 644 "$T/credentials"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; export AWS_SHARED_CREDENTIALS_FILE=$T/credentials
 expect_exit 17 "${MAIN[@]}" snapshots
 expect_output_mentions "chmod 600" "unsafe credentials file"
 output_mentions "$REAL_SECRET" && fail "the secret was echoed"
 chmod 600 "$T/credentials"
 expect_exit 0 "${MAIN[@]}" snapshots)
use_s3_repo plain "s3:${PHIVAULT_TEST_S3_HTTP}/$BUCKET/clinic-a"
expect_exit 2 "${PVR[@]}" snapshots
expect_output_mentions "HTTPS only" "plain http refusal"
log "credentials and http refusal ok"

# --- TLS policy -----------------------------------------------------------------------------
tls_refused() {  # tls_refused ENDPOINT CA ACCESS_LOG WHAT
  local before=0
  [[ -n $3 ]] && before=$(stat -c %s "$3")
  use_s3_repo tls "s3:$1/$BUCKET/clinic-a"
  PVR[${#PVR[@]}-1]=$2
  expect_exit 18 "${PVR[@]}" snapshots
  expect_output_mentions "TLS" "$4"
  if [[ -n $3 && $(stat -c %s "$3") != "$before" ]]; then
    fail "$4: the server logged a request: the refusal came after the handshake"
  fi
}
tls_refused "$PHIVAULT_TEST_S3_TLS11" "$CA" "$PHIVAULT_TEST_S3_TLS11_LOG" "TLS 1.1 server"
tls_refused "$PHIVAULT_TEST_S3_MISMATCH" "$CA" "$PHIVAULT_TEST_S3_MISMATCH_LOG" "wrong host name"
tls_refused "$PHIVAULT_TEST_S3_ENDPOINT" "$PHIVAULT_TEST_S3_OTHER_CA" "" "untrusted CA"
# Without --ca-file only the system store is trusted, which does not know the test CA.
use_s3_repo sys "s3:$PHIVAULT_TEST_S3_ENDPOINT/$BUCKET/clinic-a"
expect_exit 18 "${PVR[@]:0:${#PVR[@]}-2}" snapshots
log "TLS refusals ok"

# --- object lock ----------------------------------------------------------------------------
LOCKED=$(unique_bucket locked)
use_s3_repo locked "s3:$PHIVAULT_TEST_S3_NGINX/$LOCKED"
LOCK=("${PVR[@]}")
expect_exit 0 "${LOCK[@]}" init --kdf-memory-mib 64 --kdf-iterations 1 --object-lock-days 1
expect_output_mentions "object lock" "locked init"
expect_exit 0 "${LOCK[@]}" backup "$SRC" --log-level info --log-file "$T/lock1.log"
S3_ENDPOINT=$PHIVAULT_TEST_S3_NGINX s3curl GET "/$LOCKED?list-type=2&prefix=data/" >"$T/locked.xml"
pack=$(grep -o '<Key>data/[^<]*' "$T/locked.xml" | head -1 | cut -d'>' -f2)
[[ -n $pack ]] || fail "no pack listed in the locked bucket"
S3_ENDPOINT=$PHIVAULT_TEST_S3_NGINX s3curl GET "/$LOCKED/$pack?retention=" >"$T/retention.xml"
grep -q '<Mode>COMPLIANCE</Mode>' "$T/retention.xml" || fail "pack is not locked: $(cat "$T/retention.xml")"
S3_ENDPOINT=$PHIVAULT_TEST_S3_NGINX s3curl HEAD "/$LOCKED/$pack" >"$T/head.txt"
version=$(tr -d '\r' <"$T/head.txt" | sed -n 's/^x-amz-version-id: //Ip')
[[ -n $version ]] || fail "no version id for $pack"
code=$(S3_ENDPOINT=$PHIVAULT_TEST_S3_NGINX s3curl DELETE "/$LOCKED/$pack?versionId=$version" \
       -o "$T/delete.xml" -w '%{http_code}')
[[ $code == 403 ]] || fail "deleting a locked version gave HTTP $code, not 403"
printf 'changed\n' >>"$SRC/notes/visit-note-1.txt"
expect_exit 0 "${LOCK[@]}" backup "$SRC" --log-level info --log-file "$T/lock2.log"
grep -Eq 'object lock: [0-9]+ objects, [1-9][0-9]* asked for their lock, 0 extended' \
  "$T/lock2.log" || fail "second backup: $(grep 'object lock' "$T/lock2.log")"
expect_exit 0 "${LOCK[@]}" backup "$SRC" --log-level info --log-file "$T/lock3.log"
# The ledger in the cache answers for every object it saw: only new objects are asked about.
lock_numbers() { grep -o 'object lock: [0-9]* objects, [0-9]* asked for their lock, [0-9]* extended' "$1" |
  tr -dc '0-9 \n' | awk '{print $1, $2, $3}'; }
read -r n2 _ _ < <(lock_numbers "$T/lock2.log")
read -r n3 asked3 ext3 < <(lock_numbers "$T/lock3.log")
[[ $asked3 == $((n3 - n2)) && $ext3 == 0 ]] ||
  fail "third backup: $n3 objects, asked $asked3 (expected $((n3 - n2))), extended $ext3"
expect_exit 0 "${LOCK[@]}" check --read-data
log "object lock: $(grep -o 'object lock: .*' "$T/lock2.log")"
use_s3_repo nolock "s3:$PHIVAULT_TEST_S3_ENDPOINT/$BUCKET/other-prefix"
expect_exit 19 "${PVR[@]}" init --kdf-memory-mib 64 --kdf-iterations 1 --object-lock-days 7
expect_output_mentions "Object Lock" "lock on unlocked bucket"
[[ -z $(ls -A "$KS" 2>/dev/null) ]] || fail "a refused init left a keystore"
s3cmd_ ls --recursive "s3://$BUCKET/other-prefix/" | grep -q . && fail "a refused init wrote objects"
use_repo localrepo
expect_exit 19 "${PVR[@]}" init --object-lock-days 7
log "object lock ok"

# --- copy: local -> S3 -> S3 -> local --------------------------------------------------------
use_repo local1
L1=("${PVR[@]}")
expect_exit 0 "${L1[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
expect_exit 0 "${L1[@]}" backup "$SRC"
OFF1="s3:$PHIVAULT_TEST_S3_NGINX/$(unique_bucket offsite)/copy"
OFF2="s3:$PHIVAULT_TEST_S3_NGINX/$(unique_bucket offsite2)"
printf 'another passphrase for the off-site copy\n' >"$T/pass2"
chmod 600 "$T/pass2"
use_s3_repo off1 "$OFF1"
expect_exit 0 "${PVR[@]/$PASSPHRASE_FILE/$T/pass2}" init --kdf-memory-mib 64 --kdf-iterations 1
expect_exit 0 "${L1[@]}" --ca-file "$CA" copy latest --to "$OFF1" --to-keystore "$T/off1.keys" \
  --to-password-file "$T/pass2"
expect_exit 0 "${L1[@]}" --ca-file "$CA" --json copy latest --to "$OFF1" \
  --to-keystore "$T/off1.keys" --to-password-file "$T/pass2"
[[ $(out_json 'd[0]["already_present"]') == True ]] || fail "second copy did not find the snapshot"
use_s3_repo off1 "$OFF1"
OFF1_CMD=("${PVR[@]/$PASSPHRASE_FILE/$T/pass2}")
expect_exit 0 "${OFF1_CMD[@]}" restore latest --target "$T/from-off1"
treecmp "$SRC" "$T/from-off1$SRC"
# A new snapshot: only the changed file's data is stored again.
printf 'one more line\n' >>"$SRC/notes/visit-note-2.txt"
expect_exit 0 "${L1[@]}" backup "$SRC"
expect_exit 0 "${L1[@]}" --ca-file "$CA" --json copy latest --to "$OFF1" \
  --to-keystore "$T/off1.keys" --to-password-file "$T/pass2"
read_n=$(out_json 'd[0]["blobs_read"]')
stored=$(out_json 'd[0]["blobs_stored"]')
[[ $stored -ge 1 && $stored -le 2 && $read_n -gt 10 ]] ||
  fail "incremental copy stored $stored of $read_n blobs; expected only the changed file's"
# S3 to S3, then S3 to local.
use_s3_repo off2 "$OFF2"
expect_exit 0 "${PVR[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
expect_exit 0 "${OFF1_CMD[@]}" copy latest --to "$OFF2" --to-keystore "$T/off2.keys" \
  --to-password-file "$PASSPHRASE_FILE"
use_repo local2
expect_exit 0 "${PVR[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
use_s3_repo off2 "$OFF2"
expect_exit 0 "${PVR[@]}" copy latest --to "$T/local2" --to-keystore "$T/local2.keys" \
  --to-password-file "$PASSPHRASE_FILE"
use_repo local2
expect_exit 0 "${PVR[@]}" restore latest --target "$T/from-local2"
treecmp "$SRC" "$T/from-local2$SRC"
expect_exit 0 "${PVR[@]}" check --read-data
log "copy local -> s3 -> s3 -> local ok"

pass
