# Shared helpers for the outer-machine harness scripts. Source it; do not execute.
# shellcheck shell=bash
set -euo pipefail

CREDINET_CACHE=${CREDINET_CACHE:-/var/cache/credinet-ops}
REGISTRY_PORT=${REGISTRY_PORT:-5000}
GIT_DAEMON_PORT=${GIT_DAEMON_PORT:-9418}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SANDBOX_SUITE=${SANDBOX_SUITE:-trixie}
# Used by the scripts that source this file.
# shellcheck disable=SC2034
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Wait until "$@" succeeds, up to $1 seconds (polls every second).
wait_for() {
  local timeout=$1; shift
  local i
  for ((i = 0; i < timeout; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

# Stable hash of a directory's files (names + contents), used as a cache key.
dir_hash() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}
