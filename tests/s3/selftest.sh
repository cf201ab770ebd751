#!/usr/bin/env bash
# Self-test of the S3 test services: starts services.sh in a fresh temporary directory, then
# checks S3 basics and Object Lock on RGW's HTTPS port and through nginx, the TLS refusals
# (TLS 1.1 decoy, wrong host name, unrelated CA), retries through the fault proxy, s3cmd, and
# finally that `services.sh stop` leaves no process or listening port behind.
#
# Usage:  tests/s3/selftest.sh          (KEEP=1 keeps the temporary directory for inspection)
# Stops everything it started on exit, also when a check fails or on Ctrl-C.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
W=$(mktemp -d /tmp/phivault-s3-selftest.XXXXXX)
T=$W/work
mkdir -p "$T"
stopped=0
cleanup() {
  local rc=$?
  ((stopped)) || "$HERE/services.sh" stop "$W" || rc=1
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0 fail=0
check() {
  if [[ $2 == "$3" ]]; then
    printf 'ok   %s (%s)\n' "$1" "$2"
    pass=$((pass + 1))
  else
    printf 'FAIL %s (got "%s", want "%s")\n' "$1" "$2" "$3"
    fail=$((fail + 1))
  fi
}
s3() { "$HERE/s3curl.sh" "$W" "$@"; }
code() { s3 "$@" -o "$T/body" -w '%{http_code}'; }   # METHOD PATH [curl args]: HTTP status
header() { tr -d '\r' | sed -n "s/^$1: //Ip"; }
exit_of() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo "$rc"; }
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo missing; fi; }

echo "== start"
out=$("$HERE/services.sh" start "$W")
echo "$out"
# shellcheck source=/dev/null
source "$W/env"
CA=$PHIVAULT_TEST_S3_CA

# smoke ENDPOINT: bucket, objects, conditional PUT and Object Lock through one endpoint.
smoke() {
  local S3_ENDPOINT=$1 b l v
  export S3_ENDPOINT
  echo "== smoke $S3_ENDPOINT"
  b=smoke-$RANDOM$RANDOM
  l=lock-$RANDOM$RANDOM
  echo hello >"$T/o"
  check "create bucket" "$(code PUT "/$b")" 200
  check "PUT object" "$(code PUT "/$b/dir/o.txt" -T "$T/o")" 200
  check "GET object" "$(s3 GET "/$b/dir/o.txt")" hello
  check "HEAD object" "$(s3 HEAD "/$b/dir/o.txt" | head -n 1 | tr -d '\r')" "HTTP/1.1 200 OK"
  check "list prefix dir/" \
    "$(s3 GET "/$b?list-type=2&prefix=dir/" | grep -o '<KeyCount>[0-9]*' | cut -d'>' -f2)" 1
  check "If-None-Match:* existing" "$(code PUT "/$b/dir/o.txt" -T "$T/o" -H 'If-None-Match: *')" 412
  check "If-None-Match:* new" "$(code PUT "/$b/dir/n.txt" -T "$T/o" -H 'If-None-Match: *')" 200
  check "create object-lock bucket" \
    "$(code PUT "/$l" -H 'x-amz-bucket-object-lock-enabled: true')" 200
  printf '%s' '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>' \
    '<DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></Rule>' \
    '</ObjectLockConfiguration>' >"$T/lock.xml"
  check "put lock config" "$(code PUT "/$l?object-lock" --data-binary @"$T/lock.xml" \
    -H "Content-MD5: $(openssl md5 -binary "$T/lock.xml" | base64)")" 200
  v=$(s3 PUT "/$l/chunk" -T "$T/o" -D - -o /dev/null | header x-amz-version-id)
  check "locked object has a version" "$([[ -n $v ]] && echo yes)" yes
  check "retention is COMPLIANCE" \
    "$(s3 GET "/$l/chunk?versionId=$v&retention" | grep -o '<Mode>[A-Z]*' | cut -d'>' -f2)" \
    COMPLIANCE
  check "delete locked version refused" "$(code DELETE "/$l/chunk?versionId=$v")" 403
  check "locked version still there" "$(s3 GET "/$l/chunk?versionId=$v")" hello
}
smoke "$PHIVAULT_TEST_S3_ENDPOINT"
smoke "$PHIVAULT_TEST_S3_NGINX"
check "nginx logged the smoke requests" "$(($(lines "$PHIVAULT_TEST_S3_NGINX_LOG") > 10))" 1

echo "== TLS refusals"
check "TLS1.1 decoy refused by curl --tlsv1.2" \
  "$(exit_of curl -sS --tlsv1.2 --cacert "$CA" "$PHIVAULT_TEST_S3_TLS11/")" 35
check "decoy access log empty" "$(lines "$PHIVAULT_TEST_S3_TLS11_LOG")" 0
check "wrong host name refused" \
  "$(exit_of curl -sS --cacert "$CA" "$PHIVAULT_TEST_S3_MISMATCH/")" 60
check "mismatch access log empty" "$(lines "$PHIVAULT_TEST_S3_MISMATCH_LOG")" 0
check "unrelated CA refused" \
  "$(exit_of curl -sS --cacert "$PHIVAULT_TEST_S3_OTHER_CA" "$PHIVAULT_TEST_S3_ENDPOINT/")" 60
legacy=(--tlsv1.1 --tls-max 1.1 --ciphers 'DEFAULT:@SECLEVEL=0')
for ep in ENDPOINT NGINX FAULTY; do
  url=PHIVAULT_TEST_S3_$ep
  check "$ep refuses a TLS 1.1 client" "$(exit_of curl -sS "${legacy[@]}" --cacert "$CA" \
    "${!url}/")" 35
done
# Controls: the refusals above are about the protocol and the name, not broken servers.
check "decoy does serve a TLS 1.1 client" \
  "$(curl -sS "${legacy[@]}" --cacert "$CA" "$PHIVAULT_TEST_S3_TLS11/" | cut -c1-12)" \
  "TLS 1.1 deco"
port=${PHIVAULT_TEST_S3_MISMATCH##*:}
check "mismatch cert is accepted for wrong.invalid" "$(exit_of curl -sS -o /dev/null \
  --cacert "$CA" --resolve "wrong.invalid:$port:127.0.0.1" "https://wrong.invalid:$port/")" 0

echo "== fault proxy"
fb=faulty-$RANDOM$RANDOM
check "create bucket for fault test" "$(code PUT "/$fb")" 200
retry=(--retry 10 --retry-all-errors --retry-delay 1 --max-time 2)
t0=$(date +%s)
bad=0
for i in $(seq 50); do
  printf 'object %d %s\n' "$i" "$RANDOM" >"$T/f$i"
  # -o to a real file: on a retry curl truncates it, and /dev/null cannot be (exit 23).
  got=$(S3_ENDPOINT=$PHIVAULT_TEST_S3_FAULTY s3 PUT "/$fb/k$i" -T "$T/f$i" "${retry[@]}" \
    -o "$T/put.out" -w '%{http_code}' 2>>"$T/retry.log") || true
  [[ $got == 200 ]] || { echo "PUT k$i through the fault proxy: $got"; bad=$((bad + 1)); }
done
echo "50 PUTs with retries took $(($(date +%s) - t0)) s"
check "50 PUTs succeeded through the fault proxy" "$bad" 0
same=0
for i in $(seq 50); do
  if s3 GET "/$fb/k$i" | cmp -s - "$T/f$i"; then same=$((same + 1)); fi
done
check "50 objects intact (read directly)" "$same" 50
stats=$(cat "$PHIVAULT_TEST_S3_FAULTY_STATS")
echo "fault proxy stats: $stats"
read -r requests faulted < <(/usr/bin/python3 -c \
  'import json,sys; s=json.load(open(sys.argv[1])); print(s["requests"], s["faulted"])' \
  "$PHIVAULT_TEST_S3_FAULTY_STATS")
echo "faulted $faulted of $requests requests ($((100 * faulted / requests))%)"
check "requests counted (>= 50)" "$((requests >= 50))" 1
check "faults were injected" "$((faulted > 0))" 1
check "one log line per request" "$(grep -c ' fault=' "$PHIVAULT_TEST_S3_FAULTY_LOG")" "$requests"

echo "== s3cmd"
check "s3cmd ls --recursive" \
  "$("$HERE/s3cmd.sh" "$W" ls "s3://$fb/" --recursive | grep -c "s3://$fb/k")" 50
check "s3cmd mb" "$("$HERE/s3cmd.sh" "$W" mb "s3://cmd-$RANDOM$RANDOM" >/dev/null && echo ok)" ok

echo "== stop"
"$HERE/services.sh" stop "$W"
stopped=1
left=""
for f in "$W"/pids/*.pid; do
  pid=$(cat "$f")
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  if [[ -n $state && $state != Z ]]; then left+=" $(basename "$f" .pid)=$pid"; fi
done
check "no process from $W/pids alive" "${left:-none}" none
ports=""
for url in "$PHIVAULT_TEST_S3_ENDPOINT" "$PHIVAULT_TEST_S3_HTTP" "$PHIVAULT_TEST_S3_NGINX" \
  "$PHIVAULT_TEST_S3_TLS11" "$PHIVAULT_TEST_S3_MISMATCH" "$PHIVAULT_TEST_S3_FAULTY" \
  "x:${MONPORT:-16789}"; do
  p=${url##*:}
  if [[ -n $(ss -Hltn "sport = :$p") ]]; then ports+=" $p"; fi
done
check "no test port still listening" "${ports:-none}" none
check "second stop is harmless" "$(exit_of "$HERE/services.sh" stop "$W")" 0

echo "$out" | grep -o 'start time [0-9]* ms'
echo "$pass passed, $fail failed"
((fail == 0))
