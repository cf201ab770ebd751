#!/usr/bin/env bash
# Signed S3 request with curl's --aws-sigv4 against the test services started by services.sh.
#
# Usage:  tests/s3/s3curl.sh DIR METHOD PATH[?QUERY] [curl args...]
#   s3curl.sh DIR PUT /bucket                                   create a bucket
#   s3curl.sh DIR PUT /locked -H 'x-amz-bucket-object-lock-enabled: true'   ... with Object Lock
#   s3curl.sh DIR PUT /bucket/key -T file                       upload
#   s3curl.sh DIR GET '/bucket?list-type=2&prefix=dir/'         body goes to stdout
#   s3curl.sh DIR DELETE '/bucket/key?versionId=ID' -o /dev/null -w '%{http_code}\n'
# DIR is the directory given to `services.sh start`; nothing is started or stopped here.
# Env: S3_ENDPOINT (default $PHIVAULT_TEST_S3_ENDPOINT from DIR/env, the RGW HTTPS port),
#      S3_CA (default $PHIVAULT_TEST_S3_CA).
#
# curl 7.88's signer neither sorts nor encodes the query string, sends no x-amz-content-sha256
# and mis-signs a bare "?uploads". So PATH and QUERY are rewritten first: percent-decoded and
# re-encoded per RFC 3986, parameters sorted, every parameter given an "=", and the payload
# declared UNSIGNED-PAYLOAD. Exit status is curl's: HTTP errors are not failures (use -w/-f).
set -euo pipefail

if [[ $# -lt 3 ]]; then
  sed -n '4,9p' "$0" >&2
  exit 2
fi
DIR=$1 METHOD=$2 TARGET=$3
shift 3
[[ -f $DIR/env ]] || { echo "s3curl.sh: no $DIR/env; run services.sh start $DIR" >&2; exit 2; }
# shellcheck source=/dev/null
source "$DIR/env"
EP=${S3_ENDPOINT:-$PHIVAULT_TEST_S3_ENDPOINT}
CA=${S3_CA:-$PHIVAULT_TEST_S3_CA}

TARGET=$(/usr/bin/python3 - "$TARGET" <<'PY'
import sys
from urllib.parse import quote, unquote
path, _, query = sys.argv[1].partition("?")
enc = lambda s, safe="-_.~": quote(unquote(s), safe=safe)
out = enc(path if path.startswith("/") else "/" + path, safe="/-_.~")
params = sorted(tuple(enc(x) for x in (p.split("=", 1) + [""])[:2]) for p in query.split("&") if p)
if params:
    out += "?" + "&".join("%s=%s" % kv for kv in params)
print(out)
PY
)

if [[ $METHOD == HEAD ]]; then
  verb=(-I)            # curl -X HEAD would wait for a body that never comes
else
  verb=(-X "$METHOD")
fi
exec curl -sS --cacert "$CA" --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION}:s3" \
  --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
  "${verb[@]}" "$EP$TARGET" "$@"
