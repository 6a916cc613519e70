#!/usr/bin/env bash
# `make bench`: every bench/*.sh on the sandbox, their tables printed and saved with the
# machine they ran on to docs/BENCHMARKS.md (every figure measured in this run).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
out=.cache/bench.txt
{ for bench in bench/*.sh; do echo "==> $bench"; bash "$bench"; echo; done; } 2>&1 | tee "$out"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench-report.sh) on $(date -u +%Y-%m-%dT%H:%MZ); every figure below was"
  echo "measured in that run, on the sandbox hosts of this machine:"
  # shellcheck disable=SC1091
  echo "$(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GB RAM, $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")."
  echo
  echo '```'
  grep -vE '^(==> (the app|generating|seed|credinet-backup|restore|bench repository|new commit|deploying|site.yml|deploy.yml))' "$out"
  echo '```'
} >docs/BENCHMARKS.md
echo "==> docs/BENCHMARKS.md written"
