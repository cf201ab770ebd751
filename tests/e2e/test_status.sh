#!/usr/bin/env bash
# phivault status against the policy, with the clock set by PHIVAULT_NOW (no sleeping):
#   - sources without a verified backup are breached (exit 31); a backup counts once a
#     check --read-data or a drill verified it;
#   - fresh: exit 0; within the warning lead of the RPO: exit 30; past it: exit 31;
#   - a critical source is breached without a passing drill, or with one older than the interval;
#   - a stricter policy file tightens the limits; an unknown policy key is refused (exit 2);
#   - status --json lists each source with its newest verified backup and its limits.
source "$(dirname "$0")/lib.sh" "$@"

STATE=$T/state
mkdir -p "$T/src/ehr" "$T/src/scans"
printf 'db\n' >"$T/src/ehr/db"
printf 'scan\n' >"$T/src/scans/s1"
init_repo main
P=("${PVR[@]}" --state-dir "$STATE")
# at HOURS: a PHIVAULT_NOW value HOURS after the first backup's snapshot time.
at() { python3 -c "import sys,datetime; t=datetime.datetime.fromtimestamp($BASE + float(sys.argv[1])*3600, datetime.timezone.utc); print(t.strftime('%Y-%m-%dT%H:%M:%SZ'))" "$1"; }
# status_at HOURS CODE: status at that time must exit CODE; the JSON is in $OUT.
status_at() {
  RC=0
  PHIVAULT_NOW=$(at "$1") "${P[@]}" --json status >"$OUT" 2>"$ERR" </dev/null || RC=$?
  [[ $RC == "$2" ]] || { show_output >&2; fail "status at +$1h: expected exit $2, got $RC"; }
}

expect_exit 0 "${P[@]}" source add ehr "$T/src/ehr" --critical --rto 72h
expect_exit 0 "${P[@]}" source add scans "$T/src/scans" --rpo 24h
expect_exit 0 "${P[@]}" --json source list
[[ $(out_json '[(s["name"], s["critical"]) for s in d]') == "[('ehr', True), ('scans', False)]" ]] ||
  fail "source list: $(cat "$OUT")"
expect_exit 15 "${P[@]}" backup --source nosuch
expect_exit 0 "${P[@]}" backup --source ehr
expect_exit 0 "${P[@]}" --json snapshots
BASE=$(python3 -c "import datetime,sys; print(int(datetime.datetime.strptime(sys.argv[1][:19], '%Y-%m-%dT%H:%M:%S').replace(tzinfo=datetime.timezone.utc).timestamp()))" "$(out_json 'd[0]["time"]')")
expect_exit 0 "${P[@]}" backup --source scans

# Backed up but not verified: missing for status.
status_at 1 31
[[ $(out_json '[s["reasons"] for s in d["sources"] if s["name"] == "scans"][0]') == *"no verified backup"* ]] ||
  fail "an unverified backup should count as missing: $(cat "$OUT")"
[[ $(out_json '[s["newest_backup"] is not None for s in d["sources"]]') == "[True, True]" ]] ||
  fail "status should still show the unverified backups"

expect_exit 0 "${P[@]}" check --read-data
status_at 1 31   # ehr is critical and was never drilled
[[ $(out_json '[s["health"]["drill"] for s in d["sources"] if s["name"] == "ehr"][0]') == breached ]] ||
  fail "a critical source without a drill should be breached: $(cat "$OUT")"
expect_exit 0 "${P[@]}" drill --source ehr
status_at 1 0
[[ $(out_json '[s["newest_verified"]["snapshot"] is not None for s in d["sources"]]') == "[True, True]" ]] ||
  fail "status --json should name the newest verified snapshot"
[[ $(out_json '[(s["rpo"]["text"], s["rto"]["text"]) for s in d["sources"]]') == "[('48h', '72h'), ('24h', '72h')]" ]] ||
  fail "limits: $(out_json '[(s["rpo"], s["rto"]) for s in d["sources"]]')"
# scans (24h, lead 6h): warning at 19h, breached at 25h; ehr (48h): warning at 43h, breached at 49h.
status_at 19 30
status_at 25 31
[[ $(out_json '[s["health"]["overall"] for s in d["sources"]]') == "['ok', 'breached']" ]] ||
  fail "at +25h only scans should be breached: $(cat "$OUT")"
# scans cannot get younger without waiting; take it out to look at ehr alone.
expect_exit 0 "${P[@]}" source remove scans
status_at 43 30
status_at 49 31
# The drill is due every 30 days.
status_at $((24 * 31)) 31
out_json '[s["reasons"] for s in d["sources"] if s["name"] == "ehr"][0]' | grep -q "drill" ||
  fail "an overdue drill should be a reason"

# A stricter policy: 12h for every source without its own limit.
printf '{"version":1,"rpo":"12h"}\n' >"$STATE/policy.json"
status_at 13 31
printf '{"version":1,"rpo":"12h","rpo_typo":"96h"}\n' >"$T/bad-policy.json"
expect_exit 2 "${P[@]}" status --policy "$T/bad-policy.json"
expect_output_mentions "rpo_typo" "the unknown policy key"
rm "$STATE/policy.json"

# A trail that cannot take the next record (an append cut short) is a breach whatever the
# backups say, until audit repair.
status_at 1 0
printf '%s' '{"seq":77,"ti' >>"$STATE/$REPO_ID.audit"
status_at 1 31
[[ $(out_json 'd["overall"]') == breached && $(out_json 'd["audit_trail"]["writable"]') == False ]] ||
  fail "a torn trail should breach: $(cat "$OUT")"
out_json 'd["audit_trail"]["problem"]' | grep -q incomplete || fail "the problem should be named"
expect_exit 0 "${P[@]}" audit repair
status_at 1 0
[[ $(out_json 'd["audit_trail"]["writable"]') == True ]] || fail "the repaired trail is writable"

# Without a repository there is nothing to report.
expect_exit 10 "$PV" --repo "$T/none" --keystore "$KS" --state-dir "$STATE" status
log "status ok"
pass
