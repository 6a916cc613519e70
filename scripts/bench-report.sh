#!/usr/bin/env bash
# `make bench`: every bench/*.sh on the sandbox, their tables printed and saved with the
# machine they ran on to docs/BENCHMARKS.md (every figure measured in this run).
# `make bench BENCHES=bench/dr-rebuild.sh` runs only those: their sections of docs/BENCHMARKS.md
# are replaced (or added), each saying when and where it ran; the rest of the file stays.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .cache
out=.cache/bench.txt
# shellcheck disable=SC2206
benches=(${BENCHES:-bench/*.sh})
{ for bench in "${benches[@]}"; do echo "==> $bench"; bash "$bench"; echo; done; } 2>&1 | tee "$out"
# shellcheck disable=SC1091
machine="$(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GB RAM, $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
when=$(date -u +%Y-%m-%dT%H:%MZ)
# The steps' progress lines are left out of the saved tables.
tables() { grep -vE '^(==> (the app|generating|seed|floor|credinet-backup|restore|bench repository|new commit|deploying|site.yml|deploy.yml|molecule test))' "$1"; }

if [ -z "${BENCHES:-}" ]; then
  {
    echo "# Benchmarks"
    echo
    echo "Written by \`make bench\` (scripts/bench-report.sh) on $when; every figure below was"
    echo "measured in that run, on the sandbox hosts of this machine:"
    echo "$machine."
    echo
    echo '```'
    tables "$out"
    echo '```'
  } >docs/BENCHMARKS.md
else
  for bench in "${benches[@]}"; do
    section=$(mktemp)
    {
      echo "<!-- bench:$bench -->"
      echo "### $bench"
      echo
      echo "Written by \`make bench BENCHES=$bench\` on $when, measured in that run on this machine: $machine."
      echo
      echo '```'
      sed -n "\\|^==> $bench\$|,/^==> bench\\//p" "$out" | sed '1d;/^==> bench\//d' >"$section.raw"
      tables "$section.raw"
      echo '```'
      echo "<!-- /bench:$bench -->"
    } >"$section"
    python3 - "$bench" "$section" docs/BENCHMARKS.md <<'EOF'
import re, sys
bench, section, path = sys.argv[1:]
new = open(section).read().rstrip("\n")
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Benchmarks\n"
block = re.compile(r"<!-- bench:%s -->.*?<!-- /bench:%s -->" % (re.escape(bench), re.escape(bench)), re.S)
text = block.sub(lambda _: new, text) if block.search(text) else text.rstrip("\n") + "\n\n" + new + "\n"
open(path, "w").write(text)
EOF
    rm -f "$section" "$section.raw"
  done
fi
echo "==> docs/BENCHMARKS.md written"
