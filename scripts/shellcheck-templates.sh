#!/usr/bin/env bash
# Render the roles' shell templates with sample values, as the roles render them on the hosts,
# and shellcheck the result (a template is only as good as what it renders to).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d "${TMPDIR:-/tmp}/credinet-templates.XXXXXX")
trap 'rm -rf "$out"' EXIT
ansible-playbook -i localhost, -c local scripts/render-shell-templates.yml -e "render_out=$out" >"$out/.log" 2>&1 \
  || { cat "$out/.log" >&2; exit 1; }
shopt -s nullglob
rendered=("$out"/*)
[ "${#rendered[@]}" -gt 0 ] || { echo "no shell template rendered" >&2; exit 1; }
shellcheck "${rendered[@]}"
