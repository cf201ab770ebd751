#!/usr/bin/env bash
# S3 under faults (tests/s3/services.sh):
#   - through the fault-injecting proxy (connection resets, 503 SlowDown before and after the
#     request took effect, stalls), with a 3 s stall timeout: init, backup, check --read-data and
#     restore all succeed and the restore is identical; the proxy's counters must show that at
#     least 5 % of the requests were faulted, or the test proves nothing;
#   - a backup to RGW killed with SIGKILL while uploading (at several moments): no partial object
#     is listed or read as valid (check passes), the next backup completes, and the restore is
#     identical.
source "$(dirname "$0")/lib.sh" "$@"
need_s3

SRC=$T/src
mkdir -p "$SRC/a" "$SRC/b"
for i in 1 2 3; do head -c 24M /dev/urandom >"$SRC/a/image-$i.bin"; done
for i in $(seq 1 200); do head -c $((RANDOM * 3)) /dev/urandom >"$SRC/b/doc-$i.bin"; done

# --- faults --------------------------------------------------------------------------------
stats() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])' \
  "$PHIVAULT_TEST_S3_FAULTY_STATS" "$1"; }
req0=$(stats requests)
fault0=$(stats faulted)
export PHIVAULT_S3_TIMEOUT=3 PHIVAULT_RETRY_SECONDS=120
use_s3_repo faulty "s3:$PHIVAULT_TEST_S3_FAULTY/$(unique_bucket faults)/repo"
F=("${PVR[@]}")
expect_exit 0 "${F[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
expect_exit 0 "${F[@]}" backup "$SRC" --log-level info --log-file "$T/faults.log"
expect_exit 0 "${F[@]}" check --read-data --log-level info --log-file "$T/faults.log"
expect_exit 0 "${F[@]}" restore latest --target "$T/restored" --log-level info \
  --log-file "$T/faults.log"
treecmp "$SRC" "$T/restored$SRC"
requests=$(( $(stats requests) - req0 ))
faulted=$(( $(stats faulted) - fault0 ))
log "fault proxy: $faulted of $requests requests faulted; $(grep -c 'retrying in' "$T/faults.log") retries"
(( requests > 50 )) || fail "only $requests requests went through the proxy"
(( faulted * 100 >= requests * 5 )) || fail "only $faulted of $requests requests were faulted"
grep -q 'retrying in' "$T/faults.log" || fail "no retry was logged"
unset PHIVAULT_S3_TIMEOUT PHIVAULT_RETRY_SECONDS

# --- killed mid-upload ---------------------------------------------------------------------
for delay in 0.3 0.8 1.5; do
  use_s3_repo "kill$delay" "s3:$PHIVAULT_TEST_S3_NGINX/$(unique_bucket killed)/r"
  K=("${PVR[@]}")
  expect_exit 0 "${K[@]}" init --kdf-memory-mib 64 --kdf-iterations 1
  "${K[@]}" backup "$SRC" --quiet >"$T/killed.out" 2>&1 &
  pid=$!
  BG_PIDS+=("$pid")
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  expect_exit 0 "${K[@]}" check
  expect_exit 0 "${K[@]}" backup "$SRC"
  expect_exit 0 "${K[@]}" check --read-data
  rm -rf "$T/restored"
  expect_exit 0 "${K[@]}" restore latest --target "$T/restored"
  treecmp "$SRC" "$T/restored$SRC"
  log "killed after ${delay}s: check, backup, check --read-data and restore ok"
done

pass
