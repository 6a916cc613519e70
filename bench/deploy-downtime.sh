#!/usr/bin/env bash
# Downtime of a real deploy on the sandbox prod host (run `make sandbox` first): a prober
# inside the host hits /health every 100 ms while playbooks/deploy.yml rolls out a new
# commit (build + recreate + health gate). Prints a table; asserts nothing about speed.
# A probe waits up to 5 s (the app's own healthcheck waits 3 s): the fixture's /health counts
# every payment, which on the bench's large database is slow, not down; slow answers are
# counted apart from failed ones.
# Uses its own copy of the fixture repository, so the shared one is left untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-sandbox-prod}
CACHE=${CREDINET_CACHE:-/var/cache/credinet-ops}
BENCH_REPO=$CACHE/git/credinet-v2-bench.git
docker inspect "$HOST" >/dev/null 2>&1 || { echo "no $HOST: run make sandbox first" >&2; exit 1; }
# The hosts reach the outer machine at their default gateway (docker0).
GW=$(docker exec "$HOST" ip route show default | awk '{print $3}')
URL="git://$GW/credinet-v2-bench.git"
play() { .venv/bin/ansible-playbook -i inventories/sandbox -l "$HOST" playbooks/deploy.yml -e credinet_app_repo_url="$URL"; }

echo "==> bench repository and a first deploy from it"
rm -rf "$BENCH_REPO" && cp -a "$CACHE/git/credinet-v2.git" "$BENCH_REPO"
play >/dev/null

echo "==> new commit"
work=$(mktemp -d)
git clone -q -b main "$BENCH_REPO" "$work"
echo "<p>bench $(date +%s)</p>" >>"$work/frontend/index.html"
sed -i "s/Frontend de prueba/Frontend de prueba ($(date +%s))/" "$work/frontend/index.html"
echo "# bench $(date +%s)" >>"$work/backend/app.py"
git -C "$work" -c user.name=bench -c user.email=bench@example.test commit -qam "bench commit"
git -C "$work" push -q origin main
rm -rf "$work"

echo "==> deploying it while probing /health every 100 ms"
docker exec -d "$HOST" python3 -c '
import time, urllib.request
end = time.time() + 600
with open("/tmp/probe.log", "w") as out:
    while time.time() < end:
        t = time.time()
        try:
            code = urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=5).status
        except Exception:
            code = 0
        out.write("%.3f %d %.3f\n" % (t, code, time.time() - t)); out.flush()
        time.sleep(max(0, 0.1 - (time.time() - t)))
'
sleep 1
t0=$(date +%s.%N)
play >/tmp/bench-deploy.log 2>&1 || { tail -20 /tmp/bench-deploy.log; exit 1; }
t1=$(date +%s.%N)
sleep 1
docker exec "$HOST" pkill -f 'probe.log' || true
# When the new backend started: the gap around it is the switch's own unavailability.
project=$(docker exec "$HOST" python3 -c 'import json; print(json.load(open("/etc/credinet/backup.json"))["compose_project"])')
started=$(docker exec "$HOST" sh -c "docker inspect -f '{{.State.StartedAt}}' \$(docker ps -q \
  --filter label=com.docker.compose.project=$project --filter label=com.docker.compose.service=backend)" \
  | python3 -c 'import datetime, sys; print(datetime.datetime.fromisoformat(sys.stdin.read().strip()[:26].rstrip("Z") + "+00:00").timestamp())')
docker exec "$HOST" cat /tmp/probe.log | python3 -c '
import sys
t0, t1, started = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rows = [(float(t), int(c), float(s)) for t, c, s in (l.split() for l in sys.stdin if l.strip())]
rows = [r for r in rows if t0 <= r[0] <= t1]
bad = [r for r in rows if r[1] != 200]
slow = [r for r in rows if r[1] == 200 and r[2] > 1]
gaps, start = [], None
for t, c, _s in rows:
    if c != 200 and start is None:
        start = t
    elif c == 200 and start is not None:
        gaps.append((start, t))
        start = None
if start is not None:
    gaps.append((start, rows[-1][0]))
longest = max((b - a for a, b in gaps), default=0.0)
switch = max((b - a for a, b in gaps if a - 1 <= started <= b), default=0.0)
print()
print("%-52s %12s" % ("measure", "value"))
print("%-52s %12.1f" % ("deploy duration (playbook), s", t1 - t0))
print("%-52s %12d" % ("health probes during the deploy (5 s timeout)", len(rows)))
print("%-52s %12d" % ("probes not answered 200", len(bad)))
print("%-52s %12d" % ("probes answered 200 in more than 1 s", len(slow)))
print("%-52s %12.2f" % ("slowest answer, s", max((r[2] for r in rows if r[1] == 200), default=0.0)))
print("%-52s %12.2f" % ("longest unavailability, s", longest))
print("%-52s %12.2f" % ("unavailability at the switch (new backend start), s", switch))
print("%-52s %12.1f" % ("new backend started, s after the deploy began", started - t0))
' "$t0" "$t1" "$started"
