#!/usr/bin/env bash
# The operators' guard today: docker compose only while the checkout is on main.
#   ./scripts/safe-docker.sh up -d
set -euo pipefail
cd "$(dirname "$0")/.."
branch=$(git symbolic-ref --short -q HEAD || echo detached)
if [ "$branch" != main ]; then
  echo "safe-docker: la rama actual es '$branch', solo se permite main" >&2
  exit 1
fi
exec docker compose "$@"
