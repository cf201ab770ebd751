#!/usr/bin/env bash
# s3.sh -- backup and restore through a real Ceph RGW S3 endpoint: phivault against restic, same
# RGW, same run. Starts its own throw-away services (tests/s3/services.sh) on ports of their own,
# and stops them on exit, also on failure or Ctrl-C.
#
# Usage:  bench/s3.sh                                  (242 MB corpus, 3 rounds; not timed yet)
#         CORPUS=/tmp/tiny-20m ROUNDS=1 PROBE_N=4 bench/s3.sh     (~35 s end to end)
#
# 1. RGW capacity probe through the benchmarked endpoint, with curl (tests/s3/s3curl.sh):
#    PUT then GET of PROBE_N objects of PROBE_MIB MiB by PROBE_PAR parallel curl processes
#    (MB/s), then GETs of one 16 KiB object over keep-alive: PROBE_REQS one after the other
#    (median ms per request) and PROBE_REQS*4 with PROBE_PAR in flight (requests/s).
# 2. ROUNDS rounds; the tool order alternates (odd rounds phivault first, even rounds restic).
#    Per round: fresh copy of CORPUS; per tool a new bucket, init, backup (timed); then every
#    100th file (sorted) gets a line appended (INCR=1) and each tool makes an incremental
#    backup (timed); then each tool restores the latest snapshot into a new directory (timed,
#    including the sync after it) and the tree is compared to the source with diff -r
#    (untimed). Every timed step follows sync, a page-cache drop (DROP=1) and, for backups, a
#    pre-read of the corpus (warm input, as in ../shared/bench/peers.sh). Buckets are deleted
#    at the end of each round (RGW keeps its data in RAM: memstore).
#
# Settings (environment):
#   CORPUS=DIR            corpus (default /var/tmp/bench/base-small-s42; never modified)
#   ROUNDS=3              rounds
#   ENDPOINT=nginx|rgw    nginx: TLS terminator in front of RGW's HTTP port (default); rgw: RGW's
#                         own HTTPS (beast), which adds ~40 ms to every request on this setup
#   PHIVAULT=PATH         phivault binary (default build/src/phivault/cli/phivault)
#   PHIVAULT_S3_CONNECTIONS=N   phivault's parallel requests (phivault's default: 16)
#   PHIVAULT_COMPRESSION=default  phivault backup --compression (fast|default|small|off)
#   RESTIC_CONNECTIONS=N  restic -o s3.connections=N (unset: restic's default, 5)
#   RESTIC_COMPRESSION=auto     restic backup --compression (auto|max|off)
#   RESTIC_CACHE=dir|none dir: --cache-dir, fresh per round (default); none: --no-cache
#   INCR=1                0 skips the incremental backup
#   DROP=1|0              drop the page cache before timed steps (default 1 when writable)
#   PROBE_N=16 PROBE_MIB=32 PROBE_PAR=8 PROBE_REQS=50   capacity probe (PROBE_N=0 skips it)
#   WORK=DIR              scratch (default /var/tmp/phivault-s3bench-STAMP); logs stay in
#                         WORK/logs, the rest is deleted at the end unless KEEP=1
#   RESULTS=DIR           output folder (default bench/results)
#   MONPORT RGW_HTTP_PORT RGW_HTTPS_PORT DECOY_PORT MISMATCH_PORT NGINX_PORT FAULT_PORT
#                         service ports (default 26789 27480 27443 28444 28445 28446 28447,
#                         away from the default ports of another services.sh instance)
#   MEMSTORE_BYTES        RGW's in-memory OSD size (services.sh default: 6 GiB)
#
# Output: RESULTS/s3-<corpus name>-<stamp>.tsv, one row per step: round, tool, phase, seconds
# (wall), peak_rss_kb, repo_bytes and repo_objects (bucket after the step, s3cmd du), cpu_s (the
# tool's user+sys), rgw_cpu_s (radosgw + ceph-osd + ceph-mon), nginx_cpu_s, other_cpu_s (all
# other CPU on the machine: the noise), steal_s, requests (served by the endpoint: nginx's
# access log, or RGW's log for ENDPOINT=rgw), rc. Probe rows are round 0, tool curl: repo_bytes
# is the payload moved, repo_objects the number of requests and, for probe_get16k_seq, seconds
# is the median per request. Verify rows: rc 0 = identical trees (diff -r).
# WORK/logs keeps each step's output, /usr/bin/time -v report and (ENDPOINT=nginx) access-log
# lines, and rgw-requests.log: every request as RGW logged it, with its Range and latency.
# RESULTS/s3-<corpus>-<stamp>.md holds the tables of medians and restic/phivault ratios, the
# probe, and the settings (also printed on stdout).
set -euo pipefail

SELF=$(readlink -f "$0")
BENCH=$(dirname "$SELF")
ROOT=$(dirname "$BENCH")
SERVICES=$ROOT/tests/s3/services.sh
S3CURL=$ROOT/tests/s3/s3curl.sh
S3CMD=$ROOT/tests/s3/s3cmd.sh

CORPUS_SRC=$(readlink -f "${CORPUS:-/var/tmp/bench/base-small-s42}")
ROUNDS=${ROUNDS:-3}
ENDPOINT=${ENDPOINT:-nginx}
PHIVAULT=${PHIVAULT:-$ROOT/build/src/phivault/cli/phivault}
PHIVAULT_COMPRESSION=${PHIVAULT_COMPRESSION:-default}
RESTIC_CONNECTIONS=${RESTIC_CONNECTIONS:-}
RESTIC_COMPRESSION=${RESTIC_COMPRESSION:-auto}
RESTIC_CACHE=${RESTIC_CACHE:-dir}
INCR=${INCR:-1}
DROP=${DROP:-$([[ -w /proc/sys/vm/drop_caches ]] && echo 1 || echo 0)}
PROBE_N=${PROBE_N:-16}
PROBE_MIB=${PROBE_MIB:-32}
PROBE_PAR=${PROBE_PAR:-8}
PROBE_REQS=${PROBE_REQS:-50}
KEEP=${KEEP:-0}
STAMP=$(date +%Y%m%d-%H%M%S)
WORK=${WORK:-/var/tmp/phivault-s3bench-$STAMP}
RESULTS=${RESULTS:-$BENCH/results}
export MONPORT=${MONPORT:-26789} RGW_HTTP_PORT=${RGW_HTTP_PORT:-27480}
export RGW_HTTPS_PORT=${RGW_HTTPS_PORT:-27443} DECOY_PORT=${DECOY_PORT:-28444}
export MISMATCH_PORT=${MISMATCH_PORT:-28445} NGINX_PORT=${NGINX_PORT:-28446}
export FAULT_PORT=${FAULT_PORT:-28447}
PASS=correct-horse-battery-staple-s3bench

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { echo "s3.sh: $*" >&2; exit 1; }

[[ -d $CORPUS_SRC ]] || die "no corpus at $CORPUS_SRC"
[[ -x $PHIVAULT ]] || die "no phivault binary at $PHIVAULT (set PHIVAULT)"
[[ $ENDPOINT == nginx || $ENDPOINT == rgw ]] || die "ENDPOINT must be nginx or rgw"
[[ $RESTIC_CACHE == dir || $RESTIC_CACHE == none ]] || die "RESTIC_CACHE must be dir or none"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
for cmd in restic curl python3 /usr/bin/time /usr/bin/s3cmd radosgw-admin xargs diff tar; do
  command -v "$cmd" >/dev/null || die "missing: $cmd"
done
[[ ! -e $WORK ]] || die "WORK=$WORK exists; give a new directory"

NAME=$(basename "$CORPUS_SRC")
TSV=$RESULTS/s3-$NAME-$STAMP.tsv
MD=$RESULTS/s3-$NAME-$STAMP.md
S3DIR=$WORK/s3
LOGS=$WORK/logs
CORPUS=$WORK/corpus   # the copy that is backed up: the same path in every round
mkdir -p "$WORK" "$LOGS" "$RESULTS"
WORK=$(readlink -f "$WORK")
S3DIR=$WORK/s3 LOGS=$WORK/logs CORPUS=$WORK/corpus

services_up=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((services_up)); then
    # RGW's own request log (method, path, status, bytes, Range header, latency) of the run.
    if [[ -n ${RGW_LOG:-} ]]; then grep 'beast: ' "$RGW_LOG" >"$LOGS/rgw-requests.log" || true; fi
    "$SERVICES" stop "$S3DIR" || { echo "s3.sh: services.sh stop failed" >&2; rc=1; }
  fi
  if [[ $KEEP == 1 ]]; then
    log "kept $WORK"
  else
    # Everything but the logs (small, and what to read when a number looks wrong).
    rm -rf "${WORK:?}"/{corpus,rounds,s3,probe,pass} 2>/dev/null || true
    log "logs: $LOGS"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ services
log "starting S3 services in $S3DIR (mon $MONPORT, rgw $RGW_HTTP_PORT/$RGW_HTTPS_PORT," \
  "nginx $NGINX_PORT)"
services_up=1
"$SERVICES" start "$S3DIR" >"$LOGS/services.log" 2>&1 \
  || die "services.sh start failed: $(tail -n 5 "$LOGS/services.log")"
# shellcheck source=/dev/null
source "$S3DIR/env"
if [[ $ENDPOINT == nginx ]]; then EP=$PHIVAULT_TEST_S3_NGINX; else EP=$PHIVAULT_TEST_S3_ENDPOINT; fi
CA=$PHIVAULT_TEST_S3_CA
ACCESS_LOG=$PHIVAULT_TEST_S3_NGINX_LOG
RGW_LOG=$S3DIR/ceph/log/client.rgw.a.log
export S3_ENDPOINT=$EP S3_CA=$CA   # for s3curl.sh
export CEPH_CONF=$S3DIR/ceph/ceph.conf
RGW_PIDS=$(cat "$S3DIR"/pids/{rgw,osd,mon}.pid)
NGINX_MASTER=$(cat "$S3DIR/pids/nginx.pid")
NGINX_PIDS="$NGINX_MASTER $(ps -o pid= --ppid "$NGINX_MASTER" | tr '\n' ' ')"

# ------------------------------------------------------------------ measuring helpers
HZ=$(getconf CLK_TCK)
busy_jiffies() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }
steal_jiffies() { awk '/^cpu /{print $9; exit}' /proc/stat; }
# proc_jiffies PID...: utime+stime of those processes (all threads). The command name in
# /proc/PID/stat is cut off first: it is in parentheses and could hold spaces.
proc_jiffies() {
  local p
  for p in "$@"; do
    sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{s += $12 + $13} END {print s + 0}'
}
# requests: how many requests the endpoint has served so far: lines in nginx's access log, or
# RGW's "req done" log lines for ENDPOINT=rgw (its log thread writes them a little later: wait
# until the count stops moving).
requests() {
  local a=-1 b
  if [[ $ENDPOINT == nginx ]]; then wc -l <"$ACCESS_LOG"; return; fi
  b=$(grep -c 'req done' "$RGW_LOG" || true)
  while ((a != b)); do
    sleep 0.2
    a=$b b=$(grep -c 'req done' "$RGW_LOG" || true)
  done
  echo "$b"
}
# bucket_du BUCKET: "bytes<TAB>objects" from a listing (s3cmd du); "0<TAB>0" if it is absent.
bucket_du() {
  local out
  out=$("$S3CMD" "$S3DIR" du "s3://$1" 2>>"$LOGS/s3cmd.log") || { printf '0\t0\n'; return; }
  awk '{printf "%s\t%s\n", $1, $2; exit}' <<<"$out"
}
bucket_rm() {
  radosgw-admin bucket rm --bucket="$1" --purge-objects --bypass-gc \
    >>"$LOGS/radosgw-admin.log" 2>&1 || log "  (could not delete bucket $1)"
}
# prep PHASE DIR...: the same memory state before every timed step: sync, drop the page cache,
# then read DIRs (the step's local input) so that they start out cached.
prep() {
  local d
  shift
  sync
  if [[ $DROP == 1 ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
  for d in "$@"; do
    # Through cat: GNU tar does not read file data when it writes to /dev/null itself.
    if [[ -d $d ]]; then tar cf - -C "$(dirname "$d")" "$(basename "$d")" | cat >/dev/null; fi
  done
}

printf '%s\n' round tool phase seconds peak_rss_kb repo_bytes repo_objects cpu_s rgw_cpu_s \
  nginx_cpu_s other_cpu_s steal_s requests rc | paste -s - >"$TSV"
# row ROUND TOOL PHASE SECONDS RSS BYTES OBJECTS CPU RGW NGINX OTHER STEAL REQUESTS RC
row() { local IFS=$'\t'; echo "$*" >>"$TSV"; }

# timed ROUND TOOL PHASE BUCKET SYNC CMD...: run CMD under /usr/bin/time -v (with a sync after
# it, counted in the wall time, if SYNC is 1), then append its row; BUCKET ("-": none) is
# measured afterwards. Sets LAST_LOG. A failing step ends the run.
timed() {
  local round=$1 tool=$2 phase=$3 bucket=$4 dosync=$5
  shift 5
  local tag=r$round-$tool-$phase
  local tf=$LOGS/$tag.time lf=$LOGS/$tag.log rc=0
  local b0 b1 st0 st1 r0 r1 n0 n1 q0 q1 t0 t1 du=$'0\t0' cpu rss
  LAST_LOG=$lf
  b0=$(busy_jiffies) st0=$(steal_jiffies) q0=$(requests)
  # shellcheck disable=SC2086
  r0=$(proc_jiffies $RGW_PIDS) n0=$(proc_jiffies $NGINX_PIDS)
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$tf" "$@" >"$lf" 2>&1 || rc=$?
  if [[ $dosync == 1 ]]; then sync; fi
  t1=$(date +%s%N)
  # shellcheck disable=SC2086
  r1=$(proc_jiffies $RGW_PIDS) n1=$(proc_jiffies $NGINX_PIDS)
  b1=$(busy_jiffies) st1=$(steal_jiffies) q1=$(requests)
  ((rc == 0)) || die "$tool $phase exited $rc; see $lf: $(tail -n 5 "$lf")"
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$tf")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")
  if [[ $bucket != - ]]; then du=$(bucket_du "$bucket"); fi
  # The step's requests (method, path, status, bytes sent), for a closer look later.
  if [[ $ENDPOINT == nginx ]]; then
    sed -n "$((q0 + 1)),${q1}p" "$ACCESS_LOG" >"$LOGS/$tag.access"
  fi
  local secs rgw ngx other steal req=$((q1 - q0)) size=
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  rgw=$(awk -v a="$r0" -v b="$r1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
  ngx=$(awk -v a="$n0" -v b="$n1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
  other=$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" -v c="$cpu" -v r="$rgw" -v n="$ngx" \
    'BEGIN {o = (b - a) / hz - c - r - n; if (o < 0) o = 0; printf "%.2f", o}')
  steal=$(awk -v a="$st0" -v b="$st1" -v hz="$HZ" 'BEGIN {printf "%.2f", (b - a) / hz}')
  row "$round" "$tool" "$phase" "$secs" "$rss" "$du" "$cpu" "$rgw" "$ngx" "$other" "$steal" \
    "$req" 0
  if [[ $bucket != - ]]; then size=", bucket ${du%%$'\t'*} B"; fi
  log "  $tool $phase: $secs s, cpu $cpu s, rgw $rgw s, nginx $ngx s, other $other s," \
    "requests $req$size"
}

# ------------------------------------------------------------------ the tools
# tool_cmd TOOL ROUND: set CMD (the tool's command line up to the subcommand) and LOCAL (its
# local state: keystore, cache) for this round's bucket TOOL-rROUND.
tool_cmd() {
  local tool=$1 round=$2
  BUCKET=$tool-r$round
  LOCAL=$WORK/rounds/r$round/$tool/local
  mkdir -p "$LOCAL"
  case $tool in
    phivault)
      CMD=("$PHIVAULT" --repo "s3:$EP/$BUCKET" --ca-file "$CA" --keystore "$LOCAL/keystore"
        --password-file "$WORK/pass" --cache-dir "$LOCAL/cache" --quiet)
      ;;
    restic)
      CMD=(restic -r "s3:$EP/$BUCKET" --cacert "$CA" -o s3.bucket-lookup=path)
      if [[ -n $RESTIC_CONNECTIONS ]]; then CMD+=(-o "s3.connections=$RESTIC_CONNECTIONS"); fi
      if [[ $RESTIC_CACHE == dir ]]; then
        CMD+=(--cache-dir "$LOCAL/cache")
      else
        CMD+=(--no-cache)
      fi
      ;;
  esac
}
tool_init() {
  case $1 in
    phivault) timed "$2" "$1" init "$BUCKET" 0 "${CMD[@]}" init --kdf-memory-mib 64 \
                --kdf-iterations 1 ;;
    restic) timed "$2" "$1" init "$BUCKET" 0 "${CMD[@]}" init ;;
  esac
}
tool_backup() {  # tool_backup TOOL ROUND PHASE
  prep "$3" "$CORPUS" "$LOCAL"
  case $1 in
    phivault) timed "$2" "$1" "$3" "$BUCKET" 0 "${CMD[@]}" backup \
                --compression "$PHIVAULT_COMPRESSION" "$CORPUS" ;;
    restic) timed "$2" "$1" "$3" "$BUCKET" 0 "${CMD[@]}" backup \
              --compression "$RESTIC_COMPRESSION" "$CORPUS" ;;
  esac
}
tool_restore() {  # tool_restore TOOL ROUND TARGET (both tools restore TARGET/<absolute path>)
  prep restore "$LOCAL"
  timed "$2" "$1" restore "$BUCKET" 1 "${CMD[@]}" restore latest --target "$3"
}

# ------------------------------------------------------------------ capacity probe
probe() {
  local p=$WORK/probe i codes urls=() n_seq n_par
  mkdir -p "$p"
  log "RGW capacity probe: $PROBE_N x $PROBE_MIB MiB, $PROBE_PAR parallel curl, via $EP"
  [[ $("$S3CURL" "$S3DIR" PUT /probe -o /dev/null -w '%{http_code}') == 200 ]] \
    || die "could not create the probe bucket"
  head -c $((PROBE_MIB << 20)) /dev/urandom >"$p/obj"
  head -c 16384 /dev/urandom >"$p/small"
  seq "$PROBE_N" >"$p/list"
  # The curl processes print their status codes; timed keeps them in its log.
  timed 0 curl probe_put - 0 xargs -a "$p/list" -P "$PROBE_PAR" -I{} \
    "$S3CURL" "$S3DIR" PUT /probe/obj-{} -T "$p/obj" -o /dev/null -w '%{http_code}\n'
  codes=$(grep -c '^200$' "$LAST_LOG" || true)
  ((codes == PROBE_N)) || die "probe PUT: $codes of $PROBE_N succeeded, see $LAST_LOG"
  probe_fix_row $((PROBE_N * (PROBE_MIB << 20))) "$PROBE_N"
  timed 0 curl probe_get - 0 xargs -a "$p/list" -P "$PROBE_PAR" -I{} \
    "$S3CURL" "$S3DIR" GET /probe/obj-{} -o /dev/null -w '%{http_code}\n'
  codes=$(grep -c '^200$' "$LAST_LOG" || true)
  ((codes == PROBE_N)) || die "probe GET: $codes of $PROBE_N succeeded, see $LAST_LOG"
  probe_fix_row $((PROBE_N * (PROBE_MIB << 20))) "$PROBE_N"

  # Small GETs over keep-alive connections, signed by one curl: per-request latency, then
  # PROBE_PAR in flight at once (does RGW serve them in parallel?).
  [[ $("$S3CURL" "$S3DIR" PUT /probe/small -T "$p/small" -o /dev/null -w '%{http_code}') == 200 ]] \
    || die "probe: could not upload the small object"
  n_seq=$PROBE_REQS n_par=$((PROBE_REQS * 4))
  urls=()
  for ((i = 1; i < n_par; i++)); do urls+=(-o /dev/null "$EP/probe/small"); done
  timed 0 curl probe_get16k_seq - 0 "$S3CURL" "$S3DIR" GET /probe/small -o /dev/null \
    "${urls[@]:0:$((3 * (n_seq - 1)))}" -w 'T %{http_code} %{num_connects} %{time_total}\n'
  codes=$(grep -c '^T 200 ' "$LAST_LOG" || true)
  ((codes == n_seq)) || die "probe small GETs: $codes of $n_seq succeeded, see $LAST_LOG"
  # Median over the requests that reused the connection (the first one also did the handshake).
  local lat
  lat=$(awk '$1 == "T" && $3 == 0 {print $4}' "$LAST_LOG" | sort -g | awk '{a[NR] = $1}
    END {printf "%.6f", NR ? (a[int((NR + 1) / 2)] + a[int(NR / 2) + 1]) / 2 : 0}')
  probe_fix_row $((n_seq * 16384)) "$n_seq" "$lat"
  timed 0 curl probe_get16k_par - 0 "$S3CURL" "$S3DIR" GET /probe/small -o /dev/null \
    "${urls[@]}" --parallel --parallel-max "$PROBE_PAR" --no-progress-meter -w 'T %{http_code}\n'
  codes=$(grep -c '^T 200$' "$LAST_LOG" || true)
  ((codes == n_par)) || die "probe parallel GETs: $codes of $n_par succeeded, see $LAST_LOG"
  probe_fix_row $((n_par * 16384)) "$n_par"
  bucket_rm probe
  rm -rf "$p"
}
# probe_fix_row BYTES REQUESTS [SECONDS]: put the payload and request count (and the median
# latency) into the last row, in place of the bucket size.
probe_fix_row() {
  python3 - "$TSV" "$@" <<'EOF'
import sys
path, nbytes, nreq = sys.argv[1:4]
lines = open(path).read().splitlines()
f = lines[-1].split("\t")
f[5], f[6] = nbytes, nreq
if len(sys.argv) > 4:
    f[3] = sys.argv[4]
lines[-1] = "\t".join(f)
open(path, "w").write("\n".join(lines) + "\n")
EOF
}

# ------------------------------------------------------------------ the run
(umask 077 && printf '%s\n' "$PASS" >"$WORK/pass")
export RESTIC_PASSWORD=$PASS
META=$WORK/meta.txt
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cpus, $(free -g | awk '/Mem:/{print $2}') GiB RAM," \
    "load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "phivault: $("$PHIVAULT" --version 2>&1 | head -n1), $PHIVAULT" \
    "(built $(date -u -r "$PHIVAULT" +%Y-%m-%dT%H:%M:%SZ), sha256" \
    "$(sha256sum "$PHIVAULT" | cut -c1-12); source tree at git" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo ?)$(
      [[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && echo ", dirty"))"
  echo "restic: $(restic version 2>&1 | head -n1)"
  echo "ceph: $(radosgw --version 2>&1 | head -n1) (memstore OSD, 1 replica)"
  echo "endpoint: $ENDPOINT ($EP)$([[ $ENDPOINT == nginx ]] && echo \
    ", nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') TLS in front of RGW's plain HTTP")"
  echo "phivault settings: ${PHIVAULT_S3_CONNECTIONS:-16} connections, --compression" \
    "$PHIVAULT_COMPRESSION, files cache in a fresh --cache-dir per round," \
    "init --kdf-memory-mib 64 --kdf-iterations 1 (restic: its own KDF calibration)"
  echo "restic settings: ${RESTIC_CONNECTIONS:-5 (default)} connections, --compression" \
    "$RESTIC_COMPRESSION, cache: $([[ $RESTIC_CACHE == dir ]] && echo \
    'fresh --cache-dir per round' || echo '--no-cache'), -o s3.bucket-lookup=path"
  echo "corpus: $CORPUS_SRC, $(find "$CORPUS_SRC" -type f | wc -l) files," \
    "$(find "$CORPUS_SRC" -type f -printf '%s\n' | awk '{s += $1} END {print s}') bytes"
  echo "rounds=$ROUNDS incr=$INCR drop=$DROP"
} >"$META"
cat "$META" >&2

if ((PROBE_N > 0)); then probe; fi

TOOLS=(phivault restic)
for round in $(seq "$ROUNDS"); do
  if ((round % 2)); then ORDER=("${TOOLS[@]}"); else ORDER=(restic phivault); fi
  log "round $round/$ROUNDS (order: ${ORDER[*]}): fresh corpus copy"
  rm -rf "$CORPUS" "$WORK/rounds"
  cp -a "$CORPUS_SRC" "$CORPUS"
  rm -f "$CORPUS/.complete"   # gen_corpus.py's marker, not part of the data
  for t in "${ORDER[@]}"; do
    tool_cmd "$t" "$round"
    tool_init "$t" "$round"
    tool_backup "$t" "$round" backup
  done
  if [[ $INCR == 1 ]]; then
    n=$(find "$CORPUS" -type f | LC_ALL=C sort | awk 'NR % 100 == 0' \
      | while IFS= read -r f; do printf 'changed in round %s\n' "$round" >>"$f"; echo; done | wc -l)
    log "appended a line to $n files"
    for t in "${ORDER[@]}"; do
      tool_cmd "$t" "$round"
      tool_backup "$t" "$round" incr
    done
  fi
  for t in "${ORDER[@]}"; do
    tool_cmd "$t" "$round"
    target=$WORK/rounds/r$round/$t/restore
    mkdir -p "$target"
    tool_restore "$t" "$round" "$target"
    s=$(date +%s%N) rc=0
    diff -r -q "$CORPUS" "$target$CORPUS" >"$LOGS/r$round-$t-verify.log" 2>&1 || rc=1
    row "$round" "$t" verify "$(awk -v a="$s" -v b="$(date +%s%N)" \
      'BEGIN {printf "%.3f", (b - a) / 1e9}')" 0 0 0 0 0 0 0 0 NA "$rc"
    ((rc == 0)) || log "  !! $t: restored tree differs (see $LOGS/r$round-$t-verify.log)"
  done
  for t in "${ORDER[@]}"; do bucket_rm "$t-r$round"; done
  rm -rf "$WORK/rounds"
done

# ------------------------------------------------------------------ report
python3 - "$TSV" "$META" >"$MD" <<'EOF'
import csv
import statistics
import sys

tsv, meta = sys.argv[1:3]
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
MB, MiB = 1e6, 1 << 20
out = []
p = out.append


def med(tool, phase, key):
    xs = [float(r[key]) for r in rows if r["tool"] == tool and r["phase"] == phase
          and r[key] not in ("", "NA")]
    return statistics.median(xs) if xs else None


def f(x, nd=2):
    return "-" if x is None else "%.*f" % (nd, x)


corpus_bytes = 0
for line in open(meta):
    if line.startswith("corpus:"):
        corpus_bytes = int(line.split()[-2])
rounds = sorted({r["round"] for r in rows if r["round"] != "0"}, key=int)
p("# S3 backup benchmark: phivault vs restic through Ceph RGW")
p("")
for line in open(meta):
    p("- " + line.rstrip())
p("")

probe = {r["phase"]: r for r in rows if r["tool"] == "curl"}
if probe:
    p("## RGW capacity probe (curl, same endpoint)")
    p("")
    p("| probe | requests | seconds | throughput | client CPU s | RGW CPU s | nginx CPU s |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for ph, what in (("probe_put", "PUT %d MiB objects"), ("probe_get", "GET %d MiB objects")):
        if ph in probe:
            r = probe[ph]
            n, b, s = int(r["repo_objects"]), int(r["repo_bytes"]), float(r["seconds"])
            p("| %s | %d | %.2f | %.0f MB/s | %s | %s | %s |" % (
                what % (b // n // MiB), n, s, b / MB / s, r["cpu_s"], r["rgw_cpu_s"],
                r["nginx_cpu_s"]))
    if "probe_get16k_seq" in probe:
        r = probe["probe_get16k_seq"]
        p("| GET 16 KiB, one at a time, keep-alive | %s | - | %.1f ms/request (median) "
          "| %s | %s | %s |" % (r["repo_objects"], float(r["seconds"]) * 1000, r["cpu_s"],
                                r["rgw_cpu_s"], r["nginx_cpu_s"]))
    if "probe_get16k_par" in probe:
        r = probe["probe_get16k_par"]
        n, s = int(r["repo_objects"]), float(r["seconds"])
        p("| GET 16 KiB, parallel, keep-alive | %d | %.2f | %.0f requests/s | %s | %s | %s |"
          % (n, s, n / s, r["cpu_s"], r["rgw_cpu_s"], r["nginx_cpu_s"]))
    p("")
    p("MB = 10^6 bytes. Parallelism: see PROBE_PAR in the settings; curl processes include "
      "their own start-up and TLS handshakes.")
    p("")

phases = [ph for ph in ("init", "backup", "incr", "restore")
          if any(r["phase"] == ph for r in rows)]
p("## Wall time, medians over %d round(s)" % len(rounds))
p("")
p("| phase | phivault s | restic s | restic/phivault | phivault MB/s | restic MB/s |")
p("|---|---:|---:|---:|---:|---:|")
for ph in phases:
    a, b = med("phivault", ph, "seconds"), med("restic", ph, "seconds")
    ratio = "%.2fx" % (b / a) if a and b else "-"
    tp = lambda s: f(corpus_bytes / MB / s, 1) if s and ph in ("backup", "restore") else "-"
    p("| %s | %s | %s | %s | %s | %s |" % (ph, f(a), f(b), ratio, tp(a), tp(b)))
p("")
p("Restore includes the `sync` after it. MB/s: corpus bytes (%d) / wall time." % corpus_bytes)
p("")
p("## Resources, medians")
p("")
p("| phase | tool | tool CPU s | RGW CPU s | nginx CPU s | other CPU s | peak RSS MiB "
  "| requests | bucket MiB | objects |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for ph in phases:
    for t in ("phivault", "restic"):
        rss = med(t, ph, "peak_rss_kb")
        size = med(t, ph, "repo_bytes")
        p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            ph, t, f(med(t, ph, "cpu_s")), f(med(t, ph, "rgw_cpu_s")),
            f(med(t, ph, "nginx_cpu_s")), f(med(t, ph, "other_cpu_s")),
            f(rss / 1024 if rss is not None else None, 0), f(med(t, ph, "requests"), 0),
            f(size / MiB if size is not None else None, 1), f(med(t, ph, "repo_objects"), 0)))
p("")
p("RGW CPU: radosgw + ceph-osd + ceph-mon. Other CPU: everything else on the machine during "
  "the step (noise from other users). Bucket: size after the step (s3cmd du).")
p("")
p("## Per round (wall s)")
p("")
p("| round | first | " + " | ".join("%s %s" % (t, ph) for ph in phases
                                     for t in ("phivault", "restic")) + " | verify |")
p("|---|---|" + "---:|" * (2 * len(phases)) + "---|")
for rd in rounds:
    rr = [r for r in rows if r["round"] == rd]
    first = next(r["tool"] for r in rr)
    cells = []
    for ph in phases:
        for t in ("phivault", "restic"):
            v = [r["seconds"] for r in rr if r["tool"] == t and r["phase"] == ph]
            cells.append(v[0] if v else "-")
    ver = ["%s %s" % (r["tool"], "ok" if r["rc"] == "0" else "DIFFERS") for r in rr
           if r["phase"] == "verify"]
    p("| %s | %s | %s | %s |" % (rd, first, " | ".join(cells), ", ".join(ver)))
print("\n".join(out))
EOF
cat "$MD"
log "results: $TSV and $MD"
if grep -q $'\tverify\t.*\t1$' "$TSV"; then die "a restored tree differs from the source"; fi
