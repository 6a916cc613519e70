#!/usr/bin/env bash
# Disaster-recovery rebuild time (issue #13), measured by running scenario dr end to end: prod
# deployed with data, backed up and copied offsite, then destroyed with its Docker volume; an
# empty host rebuilt by playbooks/dr-rebuild.yml from the offsite copy, every invariant compared.
# Prints the phase table the rebuild printed (its own clock) and the scenario's time. Needs no
# sandbox (the scenario brings its hosts); asserts nothing about speed.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=.cache/molecule-logs/dr.log
GOAL_SECONDS=600

echo "==> molecule test -s dr"
start=$(date +%s)
status=passed
make --no-print-directory molecule SCENARIOS=dr MOLECULE_LANES=1 >/dev/null 2>&1 || status=FAILED
seconds=$(($(date +%s) - start))

# The rebuild's debug message (YAML callback list items): its header, phases and total. The
# scenario's log has no "[dr]" prefix (the console copy has).
table=$(sed -En '/^(\[dr\])? *- Rebuild of /,/^(\[dr\])? *- total /p' "$LOG" | sed -E 's/^(\[dr\])? *- ?//')
[ -n "$table" ] || { echo "no phase table in $LOG (scenario dr $status)" >&2; exit 1; }
total=$(awk '$1 == "total" {print $2}' <<<"$table" | tail -1)
echo
echo "$table"
echo
printf '%-40s %10s %10s %8s\n' "run" "seconds" "goal (s)" "result"
printf '%-40s %10s %10s %8s\n' "DR rebuild (dr-rebuild.yml, empty host)" "$total" "$GOAL_SECONDS" \
  "$(awk -v t="$total" -v g="$GOAL_SECONDS" 'BEGIN {print (t < g) ? "met" : "missed"}')"
printf '%-40s %10s %10s %8s\n' "scenario dr end to end (molecule test)" "$seconds" "-" "$status"
[ "$status" = passed ]
