#!/usr/bin/env bash
# Debian's s3cmd against the RGW HTTPS endpoint of the services started by services.sh,
# verifying the server with the test CA. Writes its config to DIR/s3cmd.cfg (never ~/.s3cfg).
#
# Usage:  tests/s3/s3cmd.sh DIR S3CMD-ARGS...
#   s3cmd.sh DIR mb s3://bucket
#   s3cmd.sh DIR ls s3://bucket/ --recursive
#   s3cmd.sh DIR put file s3://bucket/key
# Nothing is started or stopped here (see services.sh). Exit status is s3cmd's.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '5,8p' "$0" >&2
  exit 2
fi
DIR=$1
shift
[[ -f $DIR/env ]] || { echo "s3cmd.sh: no $DIR/env; run services.sh start $DIR" >&2; exit 2; }
# shellcheck source=/dev/null
source "$DIR/env"
hostport=${PHIVAULT_TEST_S3_ENDPOINT#https://}
cfg=$DIR/s3cmd.cfg
# A host_bucket without %(bucket)s makes s3cmd use path-style URLs.
cat >"$cfg.tmp" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
bucket_location = $AWS_DEFAULT_REGION
host_base = $hostport
host_bucket = $hostport
use_https = True
ca_certs_file = $PHIVAULT_TEST_S3_CA
check_ssl_certificate = True
check_ssl_hostname = True
signature_v2 = False
CFG
mv "$cfg.tmp" "$cfg"
exec /usr/bin/s3cmd -c "$cfg" "$@"
