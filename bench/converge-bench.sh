#!/usr/bin/env bash
# Converge and no-op deploy benchmark on the sandbox (run `make sandbox` first): an idempotent
# `site.yml` re-run per host and `deploy.yml` when the commit is unchanged, each with its
# changed count and the slowest tasks (ansible.posix.profile_tasks). A measurement, not a
# test: it prints a table and asserts nothing about speed.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-"sandbox-prod sandbox-dev"}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for host in $HOSTS; do
  docker inspect "$host" >/dev/null 2>&1 || { echo "no $host: run make sandbox first" >&2; exit 1; }
done

# run NAME PLAYBOOK HOST [ARGS...]: seconds and changed count of one run, its profile kept.
run() {
  local name=$1 playbook=$2 host=$3 t0 t1
  shift 3
  t0=$(date +%s.%N)
  ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=8 \
    .venv/bin/ansible-playbook -i inventories/sandbox -l "$host" "$playbook" "$@" >"$OUT/$name.log" 2>&1 \
    || { tail -40 "$OUT/$name.log" >&2; echo "$name failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  changed=$(grep -E "^$host +:" "$OUT/$name.log" | sed -E 's/.*changed=([0-9]+).*/\1/')
  printf '%s %.1f %s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$changed" >>"$OUT/results"
}

# The full converge of new hosts is make sandbox's own site.yml run (both hosts side by side, Ansible's
# strategy), timed by the Makefile; on hosts that existed before it is not a first converge.
if [ -f .cache/sandbox-converge.seconds ] && [ -f .cache/sandbox-last.log ]; then
  read -r seconds kind <.cache/sandbox-converge.seconds
  if [ "$kind" = new ]; then
    for host in $HOSTS; do
      changed=$(grep -E "^$host +:" .cache/sandbox-last.log | sed -E 's/.*changed=([0-9]+).*/\1/')
      echo "site-first-converge-$host $seconds ${changed:-?}" >>"$OUT/results"
    done
  fi
fi
[ -s "$OUT/results" ] || echo "(no first-converge row: run make sandbox-destroy && make sandbox before make bench)" >&2

echo "==> site.yml once to settle, then the idempotent re-run measured (Ansible's own strategy, then Mitogen's)"
for host in $HOSTS; do
  .venv/bin/ansible-playbook -i inventories/sandbox -l "$host" playbooks/site.yml >/dev/null
  run "site-rerun-$host" playbooks/site.yml "$host"
  # The opt-in engine (ANSIBLE_STRATEGY=mitogen_linear, README "The test harness"), same host, same run.
  ANSIBLE_STRATEGY=mitogen_linear run "site-rerun-mitogen-$host" playbooks/site.yml "$host"
done
echo "==> deploy.yml with the commit unchanged (prod host)"
first=${HOSTS%% *}
.venv/bin/ansible-playbook -i inventories/sandbox -l "$first" playbooks/deploy.yml >/dev/null
run "noop-deploy-$first" playbooks/deploy.yml "$first"
# Baseline, same run and host: the whole path an unchanged commit took before the early stop
# (a forced redeploy: backup, build, switch, health gate).
run "forced-redeploy-$first" playbooks/deploy.yml "$first" -e app_force=true

printf '\n%-34s %10s %8s %10s  %s\n' "run" "seconds" "changed" "goal (s)" "baseline"
while read -r name seconds changed; do
  case "$name" in
    site-first-converge-*) goal=- baseline="make sandbox on new hosts: both hosts at once, so one duration for the two" ;;
    site-rerun-mitogen-*) goal=30 baseline="site-rerun row of the same host above (Ansible's own strategy, same run)" ;;
    site-rerun-*) goal=30 baseline="60 s before the work of issue #15 (recorded there; old code is not re-run)" ;;
    noop-deploy-*) goal=15 baseline="forced-redeploy row below (same run, same host); 24 s recorded in #15" ;;
    *) goal=- baseline="" ;;
  esac
  printf '%-34s %10s %8s %10s  %s\n' "$name" "$seconds" "$changed" "$goal" "$baseline"
done <"$OUT/results"
for log in "$OUT"/*.log; do
  printf '\nslowest tasks of %s\n' "$(basename "$log" .log)"
  # profile_tasks' summary: the lines after the last "====" rule.
  awk '/^={20,}/{block=""; next} {block=block $0 "\n"} END{printf "%s", block}' "$log" | grep -E ' -+ [0-9.]+s$' | head -8
done
