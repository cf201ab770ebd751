#!/usr/bin/env bash
# Throw-away S3 test services on 127.0.0.1, everything kept under one directory DIR:
#   - a test CA and certificates                         DIR/tls
#   - Ceph (1 mon + 1 in-memory memstore OSD) + radosgw  DIR/ceph  (HTTP, and HTTPS with TLS 1.2+)
#   - nginx: TLS1.1-only decoy, wrong-hostname cert, good TLS terminator in front of RGW
#   - fault_proxy.py: HTTPS proxy in front of RGW that injects resets, 503s and stalls
# Tests source DIR/env for the endpoints, keys, CA files and log paths.
#
# Usage:  tests/s3/services.sh start DIR     (prints the start-up time in ms when ready)
#         tests/s3/services.sh stop DIR      (kills by the pids in DIR/pids; safe to repeat)
# Env:    RGW_HTTP_PORT (17480) RGW_HTTPS_PORT (17443) MONPORT (16789) DECOY_PORT (18444)
#         MISMATCH_PORT (18445) NGINX_PORT (18446) FAULT_PORT (18447) MEMSTORE_BYTES (6 GiB)
#         S3_ACCESS_KEY S3_SECRET_KEY  FAULT_PROXY_ARGS (extra fault_proxy.py flags, e.g. --seed 1)
# Needs (Debian 12): radosgw ceph-mon ceph-osd nginx curl openssl uuid-runtime python3
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3   # Debian's python, whatever pyenv puts first in PATH

RGW_HTTP_PORT=${RGW_HTTP_PORT:-17480}
RGW_HTTPS_PORT=${RGW_HTTPS_PORT:-17443}
MONPORT=${MONPORT:-16789}
DECOY_PORT=${DECOY_PORT:-18444}
MISMATCH_PORT=${MISMATCH_PORT:-18445}
NGINX_PORT=${NGINX_PORT:-18446}
FAULT_PORT=${FAULT_PORT:-18447}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-6442450944}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-AKIATESTKEY0000001}
S3_SECRET_KEY=${S3_SECRET_KEY:-testsecret0123456789abcdefghijklmnopqrstu}
FAULT_PROXY_ARGS=${FAULT_PROXY_ARGS:-}

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

die() {
  echo "services.sh: $*" >&2
  exit 1
}

now_ms() { date +%s%3N; }

# alive PID: PID is a running (not zombie) process whose command line mentions $DIR. Every
# process we start has DIR in its arguments, so a recycled pid is never mistaken for ours.
alive() {
  local pid=$1 state cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]] || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$DIR"* ]]
}

# pids_in FILE...: the live pids of ours named by those pid files.
pids_in() {
  local f pid
  for f in "$@"; do
    [[ -f $f ]] || continue
    pid=$(tr -dc '0-9' <"$f")
    if [[ -n $pid ]] && alive "$pid"; then echo "$pid"; fi
  done | sort -u
}

our_pids() { pids_in "$DIR"/pids/*.pid "$DIR"/ceph/run/*.pid "$DIR"/nginx/nginx.pid; }

# stop_group PID...: SIGTERM, up to 5 s for them to exit, then SIGKILL.
stop_group() {
  local pids=$* pid _
  [[ -n $pids ]] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do
    pids=$(for pid in $pids; do if alive "$pid"; then echo "$pid"; fi; done)
    [[ -n $pids ]] || return 0
    sleep 0.1
  done
  echo "services.sh: still running after 5 s, sending SIGKILL: ${pids//$'\n'/ }" >&2
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  for _ in $(seq 30); do
    pids=$(for pid in $pids; do if alive "$pid"; then echo "$pid"; fi; done)
    [[ -n $pids ]] || return 0
    sleep 0.1
  done
  die "could not stop: ${pids//$'\n'/ }"
}

# Front to back (proxies and radosgw, then the OSD, then the mon and anything left), so no daemon
# spends its shutdown waiting for one that is already gone.
do_stop() {
  local r=$DIR/ceph/run p=$DIR/pids
  stop_group "$(pids_in "$p/fault-proxy.pid" "$p/nginx.pid" "$DIR/nginx/nginx.pid" \
    "$p/rgw.pid" "$r/client.rgw.a.pid")"
  stop_group "$(pids_in "$p/osd.pid" "$r/osd.0.pid")"
  stop_group "$(our_pids)"
}

port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# wait_for SECONDS COMMAND...: retry COMMAND every 0.1 s until it succeeds; 1 on time-out.
wait_for() {
  local secs=$1 _
  shift
  for _ in $(seq $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# record NAME PIDFILE: wait for a daemon's own pid file and copy the pid to DIR/pids/NAME.pid.
record() {
  local name=$1 src=$2 _
  for _ in $(seq 100); do
    if [[ -s $src ]]; then
      printf '%s\n' "$(tr -dc '0-9' <"$src")" >"$DIR/pids/$name.pid"
      return 0
    fi
    sleep 0.1
  done
  die "$name wrote no pid file ($src)"
}

make_certs() {
  local t=$DIR/tls
  mkdir -p "$t"
  # ssl: quiet openssl, which prints progress dots and "Certificate request self-signature ok".
  ssl() { openssl "$@" 2>>"$t/openssl.log" || die "openssl $1 failed, see $t/openssl.log"; }
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  ca_ext=(-addext "basicConstraints=critical,CA:TRUE"
    -addext "keyUsage=critical,keyCertSign,cRLSign")
  ssl req -x509 "${ec[@]}" -keyout "$t/ca.key" -out "$t/ca.crt" -days 7 \
    -subj "/CN=phivault test CA" "${ca_ext[@]}"
  ssl req -x509 "${ec[@]}" -keyout "$t/other-ca.key" -out "$t/other-ca.crt" -days 7 \
    -subj "/CN=phivault unrelated CA" "${ca_ext[@]}"
  leaf_ext() {
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,%s\n' "$2"
    printf 'extendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$1"
  }
  leaf_ext DNS:localhost,IP:127.0.0.1 digitalSignature >"$t/server.ext"
  leaf_ext DNS:localhost,IP:127.0.0.1 digitalSignature,keyEncipherment >"$t/old.ext"
  leaf_ext DNS:wrong.invalid digitalSignature >"$t/wrong.ext"
  # sign NAME CN KEYOPTS...: key + CSR, then a certificate from the test CA.
  sign() {
    local name=$1 cn=$2
    shift 2
    ssl req "$@" -keyout "$t/$name.key" -out "$t/$name.csr" -subj "/CN=$cn"
    ssl x509 -req -in "$t/$name.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
      -out "$t/$name.crt" -days 7 -extfile "$t/$name.ext"
  }
  sign server localhost "${ec[@]}"                  # the real servers (RGW, nginx, fault proxy)
  sign old localhost -newkey rsa:2048 -nodes        # TLS1.1 decoy: RSA works with old clients
  sign wrong wrong.invalid "${ec[@]}"               # valid chain, wrong name
  chmod 600 "$t"/*.key
}

start_ceph() {
  local c=$DIR/ceph fsid osd_uuid front kr conf
  mkdir -p "$c"/{run,log,mon,osd0,rgw}
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)
  conf=$c/ceph.conf
  kr=$c/keyring
  front="beast endpoint=127.0.0.1:$RGW_HTTP_PORT ssl_endpoint=127.0.0.1:$RGW_HTTPS_PORT"
  front+=" ssl_certificate=$DIR/tls/server.crt ssl_private_key=$DIR/tls/server.key"
  front+=" ssl_options=no_sslv2:no_sslv3:no_tlsv1:no_tlsv1_1"
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$MONPORT
public_network = 127.0.0.0/8
ms_bind_ipv6 = false
# Keep cephx: with auth "none", Pacific clients now and then send fsid 0 and get EPERM.
keyring = $kr
run_dir = $c/run
pid_file = $c/run/\$name.pid
admin_socket = $c/run/\$name.asok
log_file = $c/log/\$name.log
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1

[mon]
mon_data = $c/mon
# radosgw creates its pools one osdmap epoch at a time; 0.1 s epochs make that take ~1 s, not ~10.
paxos_propose_interval = 0.1

[osd]
osd_data = $c/osd0
osd_objectstore = memstore
memstore_device_bytes = $MEMSTORE_BYTES

[client.rgw.a]
rgw_data = $c/rgw
rgw_frontends = $front
rgw_dns_name = localhost
# The lifecycle thread sleeps in 5 s steps and radosgw waits for it on SIGTERM. Tests never
# wait for lifecycle expiry (lifecycle configurations are still stored), so leave it off.
rgw_enable_lc_threads = false
EOF
  export CEPH_CONF=$conf
  local -a ceph=(ceph -c "$conf" --connect-timeout 30)
  ceph-authtool --create-keyring "$kr" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$kr" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$kr" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$kr" --gen-key -n client.rgw.a \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$MONPORT]" \
    "$c/monmap" >/dev/null
  # mkfs seeds the mon's auth database with every key in the keyring.
  ceph-mon -c "$conf" --mkfs -i a --monmap "$c/monmap" --keyring "$kr" \
    >>"$c/log/mkfs.log" 2>&1 || die "ceph-mon --mkfs failed, see $c/log/mkfs.log"
  # The daemons fork into the background and write $c/run/NAME.pid themselves.
  ceph-mon -c "$conf" -i a </dev/null >>"$c/log/start.log" 2>&1 || die "ceph-mon did not start"
  record mon "$c/run/mon.a.pid"
  timeout 60 "${ceph[@]}" osd create "$osd_uuid" >/dev/null 2>>"$c/log/start.log" \
    || die "mon not answering on 127.0.0.1:$MONPORT (see $c/log/mon.a.log)"
  # --osd-uuid must match the id registered above, or the mon refuses the OSD's boot.
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$c/log/mkfs.log" 2>&1 \
    || die "ceph-osd --mkfs failed, see $c/log/mkfs.log"
  timeout 60 "${ceph[@]}" osd crush add osd.0 1.0 host=localhost root=default \
    >/dev/null 2>>"$c/log/start.log" || die "ceph osd crush add failed"
  ceph-osd -c "$conf" -i 0 </dev/null >>"$c/log/start.log" 2>&1 || die "ceph-osd did not start"
  record osd "$c/run/osd.0.pid"
  osd_up() { "${ceph[@]}" osd stat 2>/dev/null | grep -q " 1 up"; }
  wait_for 30 osd_up || die "osd.0 not up after 30 s, see $c/log/osd.0.log"
  radosgw -c "$conf" -n client.rgw.a </dev/null >>"$c/log/start.log" 2>&1 \
    || die "radosgw did not start, see $c/log/client.rgw.a.log"
  record rgw "$c/run/client.rgw.a.pid"
  wait_for 60 curl -sf -o /dev/null "http://127.0.0.1:$RGW_HTTP_PORT/" \
    || die "radosgw not answering on :$RGW_HTTP_PORT, see $c/log/client.rgw.a.log"
  wait_for 20 curl -sf -o /dev/null --tlsv1.2 --cacert "$DIR/tls/ca.crt" \
    "https://127.0.0.1:$RGW_HTTPS_PORT/" \
    || die "radosgw HTTPS not answering on :$RGW_HTTPS_PORT, see $c/log/client.rgw.a.log"
  timeout 60 radosgw-admin -c "$conf" user create --uid=tester --display-name="phivault tests" \
    --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" \
    >/dev/null 2>>"$c/log/start.log" || die "radosgw-admin user create failed"
}

start_nginx() {
  local n=$DIR/nginx t=$DIR/tls user=""
  mkdir -p "$n/tmp"
  # As root, workers would run as nobody and could not enter a private (0700) DIR.
  if [[ $EUID -eq 0 ]]; then user="user root;"; fi
  # proxy_tls PORT CERT LOG: a TLS 1.2+ server relaying to RGW's HTTP port.
  proxy_tls() {
    cat <<EOF
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate     $t/$2.crt;
    ssl_certificate_key $t/$2.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log $n/$3;
    client_max_body_size 0;
    location / {
      proxy_pass http://127.0.0.1:$RGW_HTTP_PORT;
      proxy_set_header Host \$http_host;     # SigV4 signs Host: pass it on untouched
      proxy_http_version 1.1;
      proxy_request_buffering off;          # stream large PUTs instead of spooling them
      proxy_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
EOF
  }
  cat >"$n/nginx.conf" <<EOF
$user
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log;
events { worker_connections 256; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  # Decoy: speaks only TLS 1.1 (OpenSSL 3 needs seclevel 0 for that); a client that insists on
  # TLS 1.2+ must fail the handshake, so no request ever reaches decoy-access.log.
  server {
    listen 127.0.0.1:$DECOY_PORT ssl;
    ssl_certificate     $t/old.crt;
    ssl_certificate_key $t/old.key;
    ssl_protocols TLSv1.1;
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    access_log $n/decoy-access.log;
    location / { return 200 "TLS 1.1 decoy: a client that got here accepted TLS 1.1\n"; }
  }
$(proxy_tls "$MISMATCH_PORT" wrong mismatch-access.log)
$(proxy_tls "$NGINX_PORT" server good-access.log)
}
EOF
  touch "$n/decoy-access.log" "$n/mismatch-access.log" "$n/good-access.log"
  nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" </dev/null >>"$n/start.log" 2>&1 \
    || die "nginx did not start: $(tail -n 3 "$n/start.log" "$n/error.log" 2>/dev/null)"
  record nginx "$n/nginx.pid"
  # Only look at the listening sockets: a probe request would land in the access logs.
  nginx_listening() { port_busy "$DECOY_PORT" && port_busy "$MISMATCH_PORT" \
    && port_busy "$NGINX_PORT"; }
  wait_for 10 nginx_listening || die "nginx is not listening, see $n/error.log"
}

start_fault_proxy() {
  local p=$DIR/proxy
  mkdir -p "$p"
  # shellcheck disable=SC2086
  "$PY" "$HERE/fault_proxy.py" --port "$FAULT_PORT" --upstream "127.0.0.1:$RGW_HTTP_PORT" \
    --cert "$DIR/tls/server.crt" --key "$DIR/tls/server.key" \
    --log "$p/fault-proxy.log" --stats "$p/stats.json" $FAULT_PROXY_ARGS \
    </dev/null >>"$p/stderr.log" 2>&1 &
  echo $! >"$DIR/pids/fault-proxy.pid"
  # The stats file is first written once the socket is listening.
  proxy_ready() { [[ -s $p/stats.json ]] && alive "$(cat "$DIR/pids/fault-proxy.pid")"; }
  wait_for 10 proxy_ready || die "fault proxy not up on :$FAULT_PORT: $(tail -n 5 "$p/stderr.log")"
}

write_env() {
  local tmp=$DIR/env.tmp
  {
    echo "# Written by tests/s3/services.sh start; stop with: tests/s3/services.sh stop $DIR"
    kv() { printf 'export %s=%q\n' "$1" "$2"; }
    kv PHIVAULT_TEST_S3_DIR "$DIR"
    kv PHIVAULT_TEST_S3_ENDPOINT "https://127.0.0.1:$RGW_HTTPS_PORT"
    kv PHIVAULT_TEST_S3_HTTP "http://127.0.0.1:$RGW_HTTP_PORT"
    kv PHIVAULT_TEST_S3_NGINX "https://127.0.0.1:$NGINX_PORT"
    kv PHIVAULT_TEST_S3_TLS11 "https://127.0.0.1:$DECOY_PORT"
    kv PHIVAULT_TEST_S3_MISMATCH "https://127.0.0.1:$MISMATCH_PORT"
    kv PHIVAULT_TEST_S3_FAULTY "https://127.0.0.1:$FAULT_PORT"
    kv PHIVAULT_TEST_S3_CA "$DIR/tls/ca.crt"
    kv PHIVAULT_TEST_S3_OTHER_CA "$DIR/tls/other-ca.crt"
    kv PHIVAULT_TEST_S3_TLS11_LOG "$DIR/nginx/decoy-access.log"
    kv PHIVAULT_TEST_S3_MISMATCH_LOG "$DIR/nginx/mismatch-access.log"
    kv PHIVAULT_TEST_S3_NGINX_LOG "$DIR/nginx/good-access.log"
    kv PHIVAULT_TEST_S3_FAULTY_LOG "$DIR/proxy/fault-proxy.log"
    kv PHIVAULT_TEST_S3_FAULTY_STATS "$DIR/proxy/stats.json"
    kv AWS_ACCESS_KEY_ID "$S3_ACCESS_KEY"
    kv AWS_SECRET_ACCESS_KEY "$S3_SECRET_KEY"
    kv AWS_DEFAULT_REGION us-east-1
  } >"$tmp"
  mv "$tmp" "$DIR/env"
}

do_start() {
  local t0 port
  t0=$(now_ms)
  [[ -z $(our_pids) ]] || die "services are already running in $DIR; stop them first"
  for port in "$RGW_HTTP_PORT" "$RGW_HTTPS_PORT" "$MONPORT" "$DECOY_PORT" "$MISMATCH_PORT" \
    "$NGINX_PORT" "$FAULT_PORT"; do
    [[ $port =~ ^[0-9]+$ ]] || die "bad port number '$port'"
    # Ceph's OSD binds somewhere in 6800-7300 (ms_bind_port_min/max).
    ((port < 6800 || port > 7300)) || die "port $port is inside Ceph's OSD range 6800-7300"
    if port_busy "$port"; then die "port $port is already in use"; fi
  done
  for cmd in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool nginx \
    openssl uuidgen curl ss "$PY"; do
    command -v "$cmd" >/dev/null || die "$cmd not found (see the header of $0)"
  done

  # From here on, any failure tears down whatever did start.
  trap 'rc=$?; if ((rc != 0)); then
          echo "services.sh: start failed, stopping what was started" >&2; do_stop || true
        fi' EXIT
  rm -rf "${DIR:?}"/{tls,ceph,nginx,proxy,pids,env,env.tmp,s3cmd.cfg}
  mkdir -p "$DIR/pids"
  make_certs
  start_ceph
  start_nginx
  start_fault_proxy
  write_env
  trap - EXIT
  echo "services up in $DIR (env: $DIR/env); start time $(($(now_ms) - t0)) ms"
}

[[ $# -eq 2 ]] || usage
case $1 in
  start)
    mkdir -p -- "$2"
    DIR=$(realpath -- "$2")
    do_start
    ;;
  stop)
    [[ -d $2 ]] || exit 0   # nothing was ever started there
    DIR=$(realpath -- "$2")
    do_stop
    ;;
  *) usage ;;
esac
