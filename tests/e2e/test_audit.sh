#!/usr/bin/env bash
# The audit trail (doc/format/audit-log.md):
#   - every command on the repository appends a record (actor, host, command, object ids,
#     outcome) and, when it unlocked the keystore, a signed checkpoint, also sealed in the
#     repository; no file name and no secret appears in the log;
#   - audit verify exits 0 on the untouched trail, offline too (--public-key);
#   - editing, deleting, reordering or duplicating any record, or cutting the log mid-line, makes
#     audit verify exit 12 and name that line; deleting or rolling back the whole log is caught
#     against the checkpoints in the repository;
#   - audit export writes JSON lines;
#   - copy records its start and end in the trails of both repositories;
#   - an append cut short (a crash) stops every command from recording, until audit repair
#     moves the incomplete record to a side file and records that it did; a repair is refused
#     on a log with any other damage.
source "$(dirname "$0")/lib.sh" "$@"

export PHIVAULT_STATE_DIR=$T/state
STATE=$PHIVAULT_STATE_DIR
MARK=QJXZ-audit-marker-5120
mkdir -p "$T/src"
printf 'secret chart\n' >"$T/src/$MARK.txt"
init_repo main
P=("${PVR[@]}")
expect_exit 0 "${P[@]}" backup "$T/src"
expect_exit 0 "${P[@]}" snapshots
expect_exit 0 "${P[@]}" restore latest --target "$T/out"
expect_exit 0 "${P[@]}" check --read-data
expect_exit 0 "${P[@]}" key list
printf 'not the passphrase\n' >"$T/wrong"
chmod 600 "$T/wrong"
expect_exit 11 "$PV" --repo "$REPO" --keystore "$KS" --state-dir "$STATE" --password-file "$T/wrong" snapshots
expect_exit 0 "${P[@]}" source add ehr "$T/src"
expect_exit 0 "${P[@]}" drill
LOG=$STATE/$REPO_ID.audit
[[ -f $LOG && $(stat -c %a "$LOG") == 600 ]] || fail "no audit log at $LOG (mode 600)"

expect_exit 0 "${P[@]}" --json audit show
python3 - "$OUT" <<'PY' || fail "audit records: $(cat "$OUT")"
import json, sys
recs = json.load(open(sys.argv[1]))
events = [r for r in recs if r["kind"] == "event" and r["outcome"] != "started"]
cmds = [r["command"] for r in events]
want = ["init", "backup", "snapshots", "restore", "check", "key list", "snapshots", "source add",
        "drill"]
assert cmds == want, cmds
assert all(r["actor"] and r["host"] and r["time"].endswith("Z") for r in events), events
assert events[6]["outcome"] == "failed" and events[6]["error"] == "UNAUTHENTICATED", events[6]
assert any(o.startswith("snapshot:") for o in events[1]["objects"]), events[1]
assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1)), recs
assert sum(1 for r in recs if r["kind"] == "checkpoint") >= 6, recs
# Every command that unlocked the keystore recorded its start first, and its end names it.
starts = {r["seq"]: r for r in recs if r.get("outcome") == "started"}
assert {r["command"] for r in starts.values()} >= {"backup", "restore", "check", "drill"}, starts
for r in events:
    s = r["details"].get("started_seq")
    if s is not None:
        assert starts.pop(s)["command"] == r["command"], (r, s)
assert not starts, "starts without an end: %s" % starts
assert "started_seq" not in events[6]["details"], "a failed unlock cannot have started"
PY
grep -q -a -e "$MARK" -e "correct horse" "$LOG" && fail "a file name or the passphrase reached the audit log"
[[ $(find "$REPO/audit" -type f | wc -l) -ge 6 ]] || fail "checkpoints should be sealed in the repository"

expect_exit 0 "${P[@]}" audit verify
expect_output_mentions "intact" "an intact trail"
expect_exit 0 "${P[@]}" drill public-key --out "$T/pub.pem"
expect_exit 0 "${P[@]}" audit verify --public-key "$T/pub.pem"
expect_exit 0 "${P[@]}" audit export --output "$T/siem.jsonl"
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$T/siem.jsonl" ||
  fail "audit export is not JSON lines"

# A command killed with SIGKILL after it unlocked: its start is in the trail, with no end.
PHIVAULT_TEST_CRASH_AT=pack:1 "${P[@]}" key rotate --reencrypt >/dev/null 2>&1 && fail "the crash hook did not fire"
expect_exit 0 "${P[@]}" --json audit show
[[ $(out_json '[(r["command"], r["outcome"]) for r in d if r["kind"] == "event"][-1]') == "('key rotate', 'started')" ]] ||
  fail "a killed command should leave its start: $(out_json 'd[-3:]')"
expect_exit 0 "${P[@]}" audit verify
expect_exit 0 "${P[@]}" key rotate --reencrypt

# An append cut short by a crash: commands still work but cannot record, and exit 1 saying so.
printf '%s' '{"seq":999,"time":"2026-12-04T' >>"$LOG"
expect_exit 1 "${P[@]}" snapshots
expect_output_mentions "audit repair" "the way out of a torn trail"
expect_exit 12 "${P[@]}" audit verify
expect_output_mentions "incomplete" "the torn record"
# Damage elsewhere as well: the repair refuses and changes nothing.
cp -a "$LOG" "$T/torn.audit"
sed -i '2s/"actor":"[^"]*"/"actor":"mallory"/' "$LOG"
cp -a "$LOG" "$T/torn-and-edited.audit"
expect_exit 12 "${P[@]}" audit repair
expect_output_mentions "nothing was changed" "a refused repair"
cmp -s "$LOG" "$T/torn-and-edited.audit" || fail "a refused repair changed the log"
cp -a "$T/torn.audit" "$LOG"
expect_exit 0 "${P[@]}" --json audit repair
[[ $(out_json 'd["torn_bytes"]') == 30 ]] || fail "the repair should cut 30 bytes: $(cat "$OUT")"
kept=$(out_json 'd["kept_in"]')
[[ $(cat "$kept") == '{"seq":999,"time":"2026-12-04T' && $(stat -c %a "$kept") == 600 ]] ||
  fail "the torn bytes should be kept, mode 0600, in $kept"
expect_exit 0 "${P[@]}" audit verify
expect_exit 0 "${P[@]}" --json audit show
[[ $(out_json '[r for r in d if r["kind"] == "event" and r["outcome"] != "started"][-2]["command"]') == "audit repair" ]] ||
  fail "the repair should be recorded"
[[ $(out_json '[r for r in d if r["kind"] == "event" and r["outcome"] != "started"][-2]["details"]["torn_bytes"]') == 30 ]] ||
  fail "the repair's record should give the bytes cut"
expect_exit 0 "${P[@]}" --json audit repair
[[ $(out_json 'd["repaired"]') == False ]] || fail "a second repair has nothing to do"

# copy reads this repository and writes another: both trails record it, each with its start,
# its end and a checkpoint sealed in its own repository.
MAIN=("$REPO" "$KS" "$REPO_ID")
init_repo offsite
OFF=("${PVR[@]}")
OFF_ID=$REPO_ID
expect_exit 0 "${P[@]}" --json copy latest --to "$T/offsite" --to-keystore "$T/offsite.keys" \
  --to-password-file "$PASSPHRASE_FILE"
copied=$(out_json 'd[0]["target_snapshot"]')
REPO=${MAIN[0]} KS=${MAIN[1]} REPO_ID=${MAIN[2]}
expect_exit 0 "${OFF[@]}" --json audit show
python3 - "$OUT" "$copied" <<'PY' || fail "the target's trail should record the copy: $(cat "$OUT")"
import json, sys
recs, copied = json.load(open(sys.argv[1])), sys.argv[2]
events = [r for r in recs if r["kind"] == "event"]
copy = [r for r in events if r["command"] == "copy"]
assert [r["outcome"] for r in copy] == ["started", "ok"], copy
assert all(r["details"]["role"] == "target" for r in copy), copy
assert copy[1]["details"]["started_seq"] == copy[0]["seq"], copy
assert "target-snapshot:" + copied in copy[1]["objects"], copy[1]
assert recs[-1]["kind"] == "checkpoint" and recs[-2] is copy[1], recs[-2:]
PY
expect_exit 0 "${OFF[@]}" audit verify
[[ $(find "$T/offsite/audit" -type f | wc -l) -ge 2 ]] ||
  fail "the copy's checkpoint should be sealed in the target repository"
expect_exit 0 "${P[@]}" --json audit show
[[ $(out_json '[(r["outcome"], "role" in r["details"]) for r in d if r.get("command") == "copy"]') == "[('started', False), ('ok', False)]" ]] ||
  fail "the source's trail should record the copy as its own: $(out_json 'd[-4:]')"
expect_exit 0 "${P[@]}" audit verify
grep -q -a -e "$MARK" "$STATE/$OFF_ID.audit" && fail "a file name reached the target's audit log"

# Tampering. Each case starts from a pristine copy and is checked offline (--public-key), which
# stores no checkpoint in the repository; verification names the line.
cp -a "$LOG" "$T/pristine.audit"
n=$(wc -l <"$T/pristine.audit")
# expect_bad LINE DESCRIPTION: audit verify fails and names LINE as the first bad record.
expect_bad() {
  expect_exit 12 "${P[@]}" --json audit verify --public-key "$T/pub.pem"
  [[ $(out_json 'd["problems"][0]["line"]') == "$1" ]] ||
    fail "$2: first problem should be line $1, got $(out_json 'd["problems"][0]')"
  cp -a "$T/pristine.audit" "$LOG"
}
for line in 2 5 $((n - 1)); do
  python3 - "$LOG" "$line" <<'PY'
import sys
p, i = sys.argv[1], int(sys.argv[2]) - 1
lines = open(p).read().split("\n")
t = lines[i]
k = t.index('"time":"') + 8
lines[i] = t[:k] + ("0" if t[k] != "0" else "1") + t[k + 1:]
open(p, "w").write("\n".join(lines))
PY
  expect_bad "$line" "edit of line $line"
  sed -i "${line}d" "$LOG"
  expect_bad "$line" "deletion of line $line"
  python3 - "$LOG" "$line" <<'PY'
import sys
p, i = sys.argv[1], int(sys.argv[2]) - 1
lines = open(p).read().split("\n")
lines[i], lines[i + 1] = lines[i + 1], lines[i]
open(p, "w").write("\n".join(lines))
PY
  expect_bad "$line" "swap of lines $line and $((line + 1))"
  sed -i "${line}p" "$LOG"
  expect_bad "$((line + 1))" "duplicate of line $line"
done
# Cut in the middle of the last line.
head -c $(($(stat -c %s "$LOG") - 20)) "$T/pristine.audit" >"$LOG"
expect_bad "$n" "a log cut mid-line"
# Cut after a complete record: invisible offline, caught against the repository's checkpoints.
head -n $((n - 4)) "$T/pristine.audit" >"$LOG"
expect_exit 0 "${P[@]}" audit verify --public-key "$T/pub.pem"
head -n $((n - 4)) "$T/pristine.audit" >"$LOG"
expect_exit 12 "${P[@]}" --json audit verify
[[ $(out_json 'd["problems"][0]["what"]') == *"known from the repository is missing"* ]] ||
  fail "a truncated log: $(out_json 'd["problems"][0]')"
# The whole log deleted.
rm "$LOG"
expect_exit 12 "${P[@]}" audit verify
expect_output_mentions "is missing" "a deleted log"
# Rolled back to the earlier copy: the checkpoints the runs above stored in the repository no
# longer match it. The fork stays visible for good.
cp -a "$T/pristine.audit" "$LOG"
expect_exit 12 "${P[@]}" --json audit verify
[[ $(out_json 'd["problems"][0]["what"]') == *"repository"* ]] ||
  fail "a rolled-back log: $(out_json 'd["problems"][0]')"
log "audit trail ok"
pass
