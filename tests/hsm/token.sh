#!/usr/bin/env bash
# A throw-away SoftHSM2 token store for the PKCS#11 tests, everything kept under one directory
# DIR (mode 0700). SoftHSM is a library, not a daemon: nothing keeps running afterwards.
#
#   token phivault-test   user PIN 123456, SO PIN 12345678
#     kek-1 (id 01), kek-2 (id 02)   AES-256, sensitive, private, never extractable, wrap+unwrap
#     no-wrap (id 03)                the same, but CKA_WRAP and CKA_UNWRAP false
#     twin (ids 04 and 05)           two keys sharing one label
#     known-kek (id 06)              AES-256 with the value 00 01 .. 1f (DIR/known-kek.value),
#                                    sensitive, private, not extractable: for known answers
#     dek-1 (id 10)                  a 32-byte generic secret, extractable: DIR/dek-1.value holds
#                                    its value, DIR/dek-1.wrapped the same wrapped under kek-1
#                                    with CKM_AES_KEY_WRAP_PAD by pkcs11-tool
#   token other-token     user PIN 654321, SO PIN 12345678
#     kek-1 (id 01)                  a different key under the same label as on phivault-test
#
# Writes DIR/softhsm2.conf, DIR/tokens/, DIR/env (export lines for SOFTHSM2_CONF,
# PHIVAULT_TEST_PKCS11_MODULE and PHIVAULT_TEST_PKCS11_PIN; tests source or parse it) and DIR/pin
# (mode 0600, the phivault-test user PIN without a newline).
#
# Usage:  tests/hsm/token.sh DIR   DIR must be absent, empty, or an earlier run's DIR (whose
#                                  tokens are then recreated from scratch).
# Env:    SOFTHSM2_MODULE (default /usr/lib/softhsm/libsofthsm2.so)
# Needs (Debian 12): softhsm2 (softhsm2-util), opensc (pkcs11-tool), python3 (for no-wrap).
set -euo pipefail

MODULE=${SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PY=/usr/bin/python3 # Debian's python, whatever pyenv puts first in PATH
USER_PIN=123456
SO_PIN=12345678
OTHER_PIN=654321
MARKER="# phivault test token store (tests/hsm/token.sh)"

die() {
  echo "token.sh: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || {
  echo "usage: $0 DIR" >&2
  exit 2
}
DIR=$1

command -v softhsm2-util >/dev/null || die "softhsm2-util not found: install the softhsm2 package"
command -v pkcs11-tool >/dev/null || die "pkcs11-tool not found: install the opensc package"
[[ -x $PY ]] || die "$PY not found: install the python3 package"
[[ -r $MODULE ]] || die "PKCS#11 module $MODULE not found: install softhsm2 or set SOFTHSM2_MODULE"

# Only ever delete a token store this script made; any other non-empty directory is refused.
mkdir -p -- "$DIR"
DIR=$(cd -- "$DIR" && pwd)
if [[ -f $DIR/softhsm2.conf ]] && [[ $(head -n 1 "$DIR/softhsm2.conf") == "$MARKER" ]]; then
  rm -rf -- "$DIR/tokens"
elif [[ -n $(ls -A -- "$DIR") ]]; then
  die "$DIR is not empty and holds no earlier token store; refusing to touch it"
fi
chmod 0700 "$DIR"
mkdir -m 0700 "$DIR/tokens"
umask 077

cat >"$DIR/softhsm2.conf" <<EOF
$MARKER
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$DIR/softhsm2.conf

# Runs a command quietly; on failure shows everything it printed and stops.
run() {
  local out
  if ! out=$("$@" 2>&1); then
    echo "$out" >&2
    die "failed: $*"
  fi
}

init_token() { # LABEL PIN
  run softhsm2-util --init-token --free --label "$1" --pin "$2" --so-pin "$SO_PIN"
}

# An AES-256 key that wraps and unwraps and never leaves the token. opensc 0.23's --usage-wrap
# sets both CKA_WRAP and CKA_UNWRAP; leaving out --extractable makes CKA_EXTRACTABLE false.
keygen() { # TOKEN PIN LABEL ID
  run pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$2" --keygen \
    --key-type AES:32 --label "$3" --id "$4" --sensitive --private --usage-wrap
}

# pkcs11-tool can only switch usages on, and SoftHSM defaults CKA_WRAP and CKA_UNWRAP to true,
# so `--usage-decrypt` alone still yields a wrapping key. This key is made with C_GenerateKey
# directly (through ctypes), with both attributes false in the template.
keygen_no_wrap() { # TOKEN PIN LABEL ID
  run "$PY" - "$MODULE" "$@" <<'EOF'
import ctypes
import sys

module, token, pin, label, key_id = sys.argv[1:]
ulong = ctypes.c_ulong


class Attribute(ctypes.Structure):
    _fields_ = [("type", ulong), ("value", ctypes.c_void_p), ("value_len", ulong)]


class Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", ulong), ("parameter", ctypes.c_void_p), ("parameter_len", ulong)]


lib = ctypes.CDLL(module)


def call(name, *args):
    fn = getattr(lib, name)
    fn.restype = ulong
    rv = fn(*args)
    if rv != 0:
        sys.exit(f"{name} failed: CKR 0x{rv:x}")


def attr(kind, raw):
    buf = ctypes.create_string_buffer(raw, len(raw))
    keep.append(buf)
    return Attribute(kind, ctypes.cast(buf, ctypes.c_void_p), len(raw))


def ul(v):
    return bytes(ulong(v))


keep = []
call("C_Initialize", None)
count = ulong(0)
call("C_GetSlotList", 1, None, ctypes.byref(count))
slots = (ulong * count.value)()
call("C_GetSlotList", 1, slots, ctypes.byref(count))
slot = None
for s in slots[: count.value]:
    info = ctypes.create_string_buffer(512)  # CK_TOKEN_INFO is smaller; its label comes first
    call("C_GetTokenInfo", ulong(s), info)
    if info.raw[:32].decode(errors="replace").rstrip(" ") == token:
        slot = s
if slot is None:
    sys.exit(f"token {token} not found")
session = ulong(0)
call("C_OpenSession", ulong(slot), ulong(0x4 | 0x2), None, None, ctypes.byref(session))
call("C_Login", session, ulong(1), pin.encode(), ulong(len(pin)))
T, F = b"\x01", b"\x00"
template = (Attribute * 13)(
    attr(0x000, ul(0x4)),  # CKA_CLASS = CKO_SECRET_KEY
    attr(0x100, ul(0x1F)),  # CKA_KEY_TYPE = CKK_AES
    attr(0x161, ul(32)),  # CKA_VALUE_LEN
    attr(0x003, label.encode()),  # CKA_LABEL
    attr(0x102, bytes.fromhex(key_id)),  # CKA_ID
    attr(0x001, T),  # CKA_TOKEN
    attr(0x002, T),  # CKA_PRIVATE
    attr(0x103, T),  # CKA_SENSITIVE
    attr(0x162, F),  # CKA_EXTRACTABLE
    attr(0x104, T),  # CKA_ENCRYPT
    attr(0x105, T),  # CKA_DECRYPT
    attr(0x106, F),  # CKA_WRAP
    attr(0x107, F),  # CKA_UNWRAP
)
mechanism = Mechanism(0x1080, None, 0)  # CKM_AES_KEY_GEN
key = ulong(0)
call("C_GenerateKey", session, ctypes.byref(mechanism), template, ulong(13), ctypes.byref(key))
call("C_Logout", session)
call("C_CloseSession", session)
call("C_Finalize", None)
EOF
}

# Prints one line "label|usage|access" per secret key on TOKEN, as pkcs11-tool shows them.
list_keys() { # TOKEN PIN
  local out
  # pkcs11-tool warns on stderr for every key whose CKA_VALUE it may not read: that is the point.
  out=$(pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$2" --list-objects \
    --type secrkey 2>/dev/null) || die "pkcs11-tool could not list the keys on $1"
  awk -F': *' '
    /^Secret Key Object/ { if (label != "") print label "|" usage "|" access; label = "" }
    $1 ~ /^ +label$/ { label = $2 }
    $1 ~ /^ +Usage$/ { usage = $2 }
    $1 ~ /^ +Access$/ { access = $2 }
    END { if (label != "") print label "|" usage "|" access }' <<<"$out"
}

# Stops unless the keys labelled KEY in KEYS (list_keys output for TOKEN) are COUNT many and
# have the usages and access flags the tests rely on.
expect_key() { # KEYS TOKEN KEY WRAP(yes|no) COUNT
  local lines
  lines=$(grep -c "^$3|" <<<"$1" || true)
  [[ $lines -eq $5 ]] || die "$2 holds $lines keys labelled $3, expected $5"
  while IFS='|' read -r _ usage access; do
    [[ $access == *"never extractable"* ]] || die "$2/$3 is extractable (access: $access)"
    if [[ $4 == yes ]]; then
      [[ $usage == *"wrap, unwrap"* ]] || die "$2/$3 lacks wrap or unwrap (usage: $usage)"
    else
      [[ $usage != *wrap* ]] || die "$2/$3 may wrap or unwrap (usage: $usage)"
    fi
  done < <(grep "^$3|" <<<"$1")
}

init_token phivault-test "$USER_PIN"
keygen phivault-test "$USER_PIN" kek-1 01
keygen phivault-test "$USER_PIN" kek-2 02
keygen_no_wrap phivault-test "$USER_PIN" no-wrap 03
keygen phivault-test "$USER_PIN" twin 04
keygen phivault-test "$USER_PIN" twin 05

P11=(pkcs11-tool --module "$MODULE" --token-label phivault-test --login --pin "$USER_PIN")
# known-kek: a wrapping key whose value the test knows, so that it can compare phivault's blob
# with one computed by another RFC 5649 implementation.
printf '%b' "$(printf '\\x%02x' {0..31})" >"$DIR/known-kek.value"
run "${P11[@]}" --write-object "$DIR/known-kek.value" --type secrkey --key-type AES:32 \
  --label known-kek --id 06 --sensitive --private --usage-wrap
# dek-1: an extractable data key, wrapped under kek-1 by pkcs11-tool, so that the tests can check
# that phivault unwraps what another program wrapped.
run "${P11[@]}" --keygen --key-type GENERIC:32 --label dek-1 --id 10 --extractable --private
run "${P11[@]}" --read-object --type secrkey --id 10 --output-file "$DIR/dek-1.value"
run "${P11[@]}" --wrap -m 0x210A --id 01 --application-id 10 --output-file "$DIR/dek-1.wrapped"

init_token other-token "$OTHER_PIN"
keygen other-token "$OTHER_PIN" kek-1 01

keys=$(list_keys phivault-test "$USER_PIN")
expect_key "$keys" phivault-test kek-1 yes 1
expect_key "$keys" phivault-test kek-2 yes 1
expect_key "$keys" phivault-test no-wrap no 1
expect_key "$keys" phivault-test twin yes 2
[[ $(grep -c "^known-kek|" <<<"$keys") -eq 1 ]] || die "known-kek is missing on phivault-test"
keys=$(list_keys other-token "$OTHER_PIN")
expect_key "$keys" other-token kek-1 yes 1

cat >"$DIR/env" <<EOF
export SOFTHSM2_CONF=$DIR/softhsm2.conf
export PHIVAULT_TEST_PKCS11_MODULE=$MODULE
export PHIVAULT_TEST_PKCS11_PIN=$USER_PIN
EOF
printf '%s' "$USER_PIN" >"$DIR/pin"
