# phivault adapter for ../shared/bench/peers.sh (see bench/README.md).
#
#   PHIVAULT=/path/to/phivault PLUGINS=$PWD/bench/ours.sh \
#     TOOLS="restic-auto ours ours-fast borg-aes-lz4" SIZE=small ../shared/bench/peers.sh
#
# Tool names: `ours` (default compression, zstd 2), `ours-fast` (zstd 1), `ours-small` (zstd 6),
# `ours-off`. The keystore and the files cache live beside the repository, outside it, so the
# repository size that peers.sh reports is the repository alone, like restic's without its cache.
ours_env() {
  export PHIVAULT_REPO="$1"
  export PHIVAULT_KEYSTORE="$WORK/keys/$TOOL"
  export PHIVAULT_PASSWORD_FILE="$WORK/keys/$TOOL.pass"
  export XDG_CACHE_HOME="$WORK/cache/$TOOL"
  mkdir -p "$WORK/keys"
  (umask 077 && printf '%s\n' "$PASS" > "$PHIVAULT_PASSWORD_FILE")
  OURS_COMPRESSION=${VARIANT:-default}
  OURS_BIN=${PHIVAULT:-phivault}
}
ours_init()     { rm -rf "$PHIVAULT_KEYSTORE"; "$OURS_BIN" init; }
ours_backup()   { "$OURS_BIN" backup --compression "$OURS_COMPRESSION" "$CORPUS"; }
ours_restore()  { "$OURS_BIN" restore latest --target "$1"; }
ours_restored() { echo "$1$CORPUS"; }
ours_check()    { "$OURS_BIN" check --read-data; }
