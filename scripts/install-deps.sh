#!/usr/bin/env bash
# Installs everything phivault needs to build and test, from Debian 12 packages only.
# Run as root on a fresh machine; running it again is cheap.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libssl-dev libzstd-dev libargon2-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libcurl4-openssl-dev
  clang-format python3 util-linux
  # S3 tests: a throw-away Ceph cluster with radosgw, nginx as TLS decoy, curl and s3cmd as
  # independent S3 clients, openssl for the test CA.
  ceph-mon ceph-osd radosgw uuid-runtime nginx curl s3cmd openssl
  # Key custody: SoftHSM2 tokens and pkcs11-tool for the PKCS#11 tests, the p11-kit header;
  # libqrencode and libpng for recovery-kit QR codes, zbarimg to read them back in tests.
  softhsm2 opensc libp11-kit-dev libqrencode-dev libpng-dev zbar-tools
  # The local catalog (sources, backups, drills, audit checkpoints).
  libsqlite3-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
