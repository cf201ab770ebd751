#!/usr/bin/env bash
# The main job on the embedded default, a local repository: installs what is needed, builds,
# backs up a sample tree, restores it elsewhere, verifies the restore byte for byte and the
# repository in full, and says so. Everything it writes is under $DEMO_DIR
# (default /var/tmp/phivault-demo), which it recreates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
phivault=$PWD/build/src/phivault/cli/phivault

demo=${DEMO_DIR:-/var/tmp/phivault-demo}
rm -rf "$demo"
mkdir -p "$demo/sample/charts" "$demo/sample/imaging" "$demo/sample/empty-dir"
export PHIVAULT_REPO=$demo/repository          # the backup data
export PHIVAULT_KEYSTORE=$demo/keys            # the keys, kept apart from the data
export PHIVAULT_PASSWORD_FILE=$demo/passphrase
export XDG_CACHE_HOME=$demo/cache
export PHIVAULT_STATE_DIR=$demo/state          # catalog, audit trail, drill records
(umask 077 && head -c 24 /dev/urandom | base64 > "$PHIVAULT_PASSWORD_FILE")

# A small stand-in for a practice's file share: notes, a database-like file, images, a sparse
# file, links and an empty directory.
for i in $(seq 1 300); do
  printf 'patient %05d\nvisit note: follow-up in %d weeks\n' "$i" "$((i % 9))" \
    > "$demo/sample/charts/note-$i.txt"
done
head -c $((8 << 20)) /dev/urandom > "$demo/sample/imaging/scan-0001.dcm"
cp "$demo/sample/imaging/scan-0001.dcm" "$demo/sample/imaging/scan-0001-copy.dcm"
seq 1 200000 > "$demo/sample/ehr-export.csv"
truncate -s 1G "$demo/sample/sparse.img"
ln -s charts/note-1.txt "$demo/sample/latest-note"
ln "$demo/sample/ehr-export.csv" "$demo/sample/ehr-export-link.csv"

"$phivault" init
"$phivault" source add sample "$demo/sample" --critical
"$phivault" backup --source sample --tag demo
echo "one more note" >> "$demo/sample/charts/note-1.txt"
"$phivault" backup --source sample --tag demo
"$phivault" snapshots
"$phivault" restore latest --target "$demo/restored"
diff -r --no-dereference "$demo/sample" "$demo/restored$demo/sample"
"$phivault" check --read-data
"$phivault" drill --source sample
"$phivault" status
"$phivault" audit verify
echo "demo: OK - backed up, restored, verified and drilled $demo/sample (repository" \
  "$PHIVAULT_REPO, keystore in $PHIVAULT_KEYSTORE, evidence in $PHIVAULT_STATE_DIR)"
