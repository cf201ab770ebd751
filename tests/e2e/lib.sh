# Shared helpers for the phivault end-to-end tests.
#
# A test script starts with
#     source "$(dirname "$0")/lib.sh" "$@"
# and is then run as `bash tests/e2e/test_NAME.sh /path/to/phivault`. Sourcing this file
#   - checks the argument and sets PV to the absolute path of the binary;
#   - creates a private temporary directory T under /var/tmp, removed on exit (set KEEP_TMP=1 to
#     keep it for debugging);
#   - points HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME and TMPDIR into T and unsets the PHIVAULT_*
#     variables, so that nothing outside T is read or written;
#   - turns on errexit with an ERR trap that names the failing command, so a broken setup step
#     fails the test instead of silently weakening it.
#
# Commands under test are run with `run` or `expect_exit`, which save stdout and stderr in
# $T/stdout and $T/stderr (also available as OUT and ERR) and put the exit code in RC.

set -Eeuo pipefail
shopt -s nullglob

TEST_NAME=$(basename -- "$0" .sh)
E2E_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
TREECMP=$E2E_DIR/treecmp.py

# Seconds a single phivault command may take before the test fails as hung.
CMD_TIMEOUT=${CMD_TIMEOUT:-300}

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }

# fail MSG...: report a test failure and stop.
fail() {
  printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}

# skip MSG...: the test cannot run on this machine (exit 77, CTest's SKIP_RETURN_CODE).
# In CI (CI=true) a skip is a failure: a green run must mean every test ran.
skip() {
  if [[ ${CI:-} == true ]]; then
    printf 'FAIL: %s: cannot run in CI: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
  fi
  printf 'SKIP: %s: %s\n' "$TEST_NAME" "$*" >&2
  exit 77
}

# pass: the last line of every test.
pass() {
  printf 'PASS: %s\n' "$TEST_NAME" >&2
  exit 0
}

trap 'rc=$?; printf "FAIL: %s: command failed (exit %s) at %s line %s: %s\n" \
  "$TEST_NAME" "$rc" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR

if [[ $# -lt 1 ]]; then
  echo "usage: bash $0 /path/to/phivault" >&2
  exit 2
fi
PV=$(realpath -- "$1")
[[ -x $PV && -f $PV ]] || { echo "$TEST_NAME: not an executable file: $1" >&2; exit 2; }
command -v python3 >/dev/null || skip "python3 is required"

T=$(mktemp -d "/var/tmp/phivault-e2e-$TEST_NAME.XXXXXX")
OUT=$T/stdout
ERR=$T/stderr

# Background processes a test starts register their pid here so that cleanup can stop them.
BG_PIDS=()

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ ${KEEP_TMP:-0} == 1 ]]; then
    log "keeping $T"
  else
    rm -rf -- "$T"
  fi
}
trap cleanup EXIT

unset PHIVAULT_REPO PHIVAULT_KEYSTORE PHIVAULT_PASSWORD_FILE PHIVAULT_STATE_DIR PHIVAULT_POLICY PHIVAULT_NOW PHIVAULT_KEY_FILE PHIVAULT_PKCS11 PHIVAULT_PKCS11_PIN_FILE PHIVAULT_PKCS11_MODULE
export HOME=$T/home
export XDG_CACHE_HOME=$T/home/.cache
export XDG_CONFIG_HOME=$T/home/.config
export TMPDIR=$T/tmpdir
export LC_ALL=C.UTF-8
mkdir -p "$HOME" "$TMPDIR"

PASSPHRASE_FILE=$T/passphrase
printf 'correct horse battery staple 4711\n' >"$PASSPHRASE_FILE"
chmod 600 "$PASSPHRASE_FILE"

need_root() {
  [[ $(id -u) == 0 ]] || skip "must run as root (creates files owned by other users)"
}

# describe ARGS...: the command line, shell-quoted, for messages.
describe() {
  local s
  s=$(printf '%q ' "$@")
  printf '%s' "${s% }"
}

# show_output: the first few KiB of the last command's stdout and stderr.
show_output() {
  printf -- '--- stdout (%s bytes):\n' "$(stat -c %s "$OUT" 2>/dev/null || echo 0)"
  head -c 3000 "$OUT" 2>/dev/null || true
  printf -- '\n--- stderr (%s bytes):\n' "$(stat -c %s "$ERR" 2>/dev/null || echo 0)"
  head -c 3000 "$ERR" 2>/dev/null || true
  printf -- '\n---\n'
}

# run CMD ARGS...: run a command with a timeout; stdout in $OUT, stderr in $ERR, exit code in RC.
run() {
  RC=0
  timeout -k 10 "$CMD_TIMEOUT" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
  if [[ $RC == 124 || $RC == 137 ]]; then
    show_output >&2
    fail "timed out after ${CMD_TIMEOUT}s (exit $RC): $(describe "$@")"
  fi
}

# expect_exit CODE CMD ARGS...: run the command and fail unless it exits with exactly CODE.
expect_exit() {
  local want=$1
  shift
  run "$@"
  if [[ $RC != "$want" ]]; then
    show_output >&2
    fail "expected exit $want, got $RC: $(describe "$@")"
  fi
}

# output_mentions STRING: true if the last command's stdout or stderr contains STRING.
output_mentions() {
  grep -q -a -F -e "$1" -- "$OUT" "$ERR"
}

# expect_output_mentions STRING WHAT: fail unless the last command's output contains STRING.
expect_output_mentions() {
  if ! output_mentions "$1"; then
    show_output >&2
    fail "output of the last command does not mention $2 ($1)"
  fi
}

# use_repo NAME: select (without creating) the repository $T/NAME with keystore directory
# $T/NAME.keys and cache $T/NAME.cache. Sets REPO, KS, CACHE and the command prefix PVR.
use_repo() {
  REPO=$T/$1
  KS=$T/$1.keys
  CACHE=$T/$1.cache
  PVR=("$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE"
       --cache-dir "$CACHE")
}

# init_repo NAME: create and select a repository (see use_repo); sets REPO_ID.
init_repo() {
  use_repo "$1"
  expect_exit 0 "${PVR[@]}" init
  [[ -f $REPO/config ]] || fail "init did not create $REPO/config"
  REPO_ID=$(json_get "$REPO/config" 'd["id"]')
  [[ $REPO_ID =~ ^[0-9a-f]{64}$ ]] || fail "config id is not 64 hex digits: $REPO_ID"
  [[ -f $KS/$REPO_ID.keystore ]] || fail "init did not create the keystore $KS/$REPO_ID.keystore"
}

# json_get FILE EXPR: evaluate a Python expression over the JSON document d in FILE and print it.
json_get() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    with open(sys.argv[1], "rb") as f:
        d = json.load(f)
except ValueError as e:
    sys.exit(f"not valid JSON in {sys.argv[1]}: {e}")
try:
    print(eval(sys.argv[2], {"d": d}))
except (KeyError, IndexError, TypeError) as e:
    sys.exit(f"{sys.argv[2]} not found in {sys.argv[1]}: {e!r}")
EOF
}

# out_json EXPR: json_get over the last command's stdout, failing the test with the output shown
# if it is not JSON or lacks the field.
out_json() {
  local v
  if ! v=$(json_get "$OUT" "$1"); then
    show_output >&2
    fail "could not read $1 from the JSON output of the last command"
  fi
  printf '%s\n' "$v"
}

# pack_files DIR: the complete (non-temporary) pack files of repository DIR, one per line.
pack_files() {
  local f
  for f in "$1"/data/*/*; do
    [[ -f $f && $f != *.tmp-* ]] && printf '%s\n' "$f"
  done
  return 0
}

# object_files DIR SUB: the complete objects in DIR/SUB (index or snapshots), one per line.
object_files() {
  local f
  for f in "$1/$2"/*; do
    [[ -f $f && $f != *.tmp-* ]] && printf '%s\n' "$f"
  done
  return 0
}

# manifest DIR: a listing of every entry under DIR with type, mode, size and the SHA-256 of each
# regular file, to compare a directory before and after a command that must not change it.
manifest() {
  (
    cd -- "$1"
    find . -printf '%y %m %s %p\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  )
}

# treecmp SOURCE RESTORED: fail unless the two trees are identical (see treecmp.py).
treecmp() {
  local rc=0
  python3 "$TREECMP" "$@" >"$T/treecmp.out" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then
    head -n 60 "$T/treecmp.out" >&2
    fail "restored tree $2 differs from $1 (treecmp exit $rc)"
  fi
}

# --- S3 (tests/s3/services.sh) ------------------------------------------------------------------

S3_TOOLS=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../s3" && pwd)

# need_s3: load the endpoints of the running S3 test services (the file PHIVAULT_TEST_S3_ENV
# names, written by services.sh start) or skip; under CI=true a missing service is a failure.
need_s3() {
  [[ -n ${PHIVAULT_TEST_S3_ENV:-} && -f $PHIVAULT_TEST_S3_ENV ]] ||
    skip "no S3 test services: run tests/s3/services.sh start DIR and set PHIVAULT_TEST_S3_ENV"
  # shellcheck source=/dev/null
  source "$PHIVAULT_TEST_S3_ENV"
  unset PHIVAULT_CA_FILE PHIVAULT_S3_TIMEOUT PHIVAULT_S3_CONNECTIONS PHIVAULT_RETRY_SECONDS
  unset AWS_SHARED_CREDENTIALS_FILE AWS_PROFILE AWS_SESSION_TOKEN
  curl -sS --max-time 5 -o /dev/null --cacert "$PHIVAULT_TEST_S3_CA" "$PHIVAULT_TEST_S3_ENDPOINT/" ||
    skip "the S3 test endpoint $PHIVAULT_TEST_S3_ENDPOINT does not answer"
}

# s3cmd_ ARGS...: Debian's s3cmd against the test RGW (see tests/s3/s3cmd.sh).
s3cmd_() { bash "$S3_TOOLS/s3cmd.sh" "$PHIVAULT_TEST_S3_DIR" "$@"; }
# s3curl METHOD PATH [curl args...]: one signed request (see tests/s3/s3curl.sh).
s3curl() { bash "$S3_TOOLS/s3curl.sh" "$PHIVAULT_TEST_S3_DIR" "$@"; }

# use_s3_repo NAME URL: select the S3 repository URL with keystore $T/NAME.keys and cache
# $T/NAME.cache; sets REPO, KS, CACHE and PVR like use_repo.
use_s3_repo() {
  REPO=$2
  KS=$T/$1.keys
  CACHE=$T/$1.cache
  PVR=("$PV" --repo "$REPO" --keystore "$KS" --password-file "$PASSPHRASE_FILE"
       --cache-dir "$CACHE" --ca-file "$PHIVAULT_TEST_S3_CA")
}

# unique_bucket STEM: a bucket name no earlier run used.
unique_bucket() { printf '%s-%s-%s\n' "$1" "$$" "$RANDOM"; }
