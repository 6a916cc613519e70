#!/usr/bin/env bash
# The operators' deploy today: pull the branch and rebuild in place.
set -euo pipefail
cd "$(dirname "$0")/.."
git pull --ff-only
docker compose up -d --build
