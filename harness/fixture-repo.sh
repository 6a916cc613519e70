#!/usr/bin/env bash
# Create the fixture credinet-v2 repository as a bare git repo served by git daemon, with
# `main` and `develop` (one commit ahead), exactly as deploys would find the real repo.
# Recreated when the fixture sources change or with --reset; otherwise left alone so that
# tests can push their own commits to it.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"

SRC="$HARNESS_DIR/fixture-app"
BARE="$CREDINET_CACHE/git/credinet-v2.git"
STAMP="$CREDINET_CACHE/git/credinet-v2.inputs"

git_fixture() {
  git -c user.name="Credinet Fixture" -c user.email=fixture@example.test \
      -c init.defaultBranch=main -c commit.gpgsign=false "$@"
}

create_repo() {
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/credinet-fixture.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  cp -a "$SRC/." "$work/"
  git_fixture -C "$work" init -q
  git_fixture -C "$work" add -A
  git_fixture -C "$work" commit -q -m "Fixture credinet-v2: backend, frontend, postgres"
  git_fixture -C "$work" checkout -q -b develop
  sed -i 's/Frontend de prueba./Frontend de prueba (develop)./' "$work/frontend/index.html"
  git_fixture -C "$work" commit -q -am "develop: feature work not yet in main"
  rm -rf "$BARE"
  git_fixture clone -q --bare "$work" "$BARE"
  git -C "$BARE" symbolic-ref HEAD refs/heads/main  # default branch, as on the real remote
  touch "$BARE/git-daemon-export-ok"
}

hash=$(dir_hash "$SRC")
if [ "${1:-}" = --reset ] || [ ! -d "$BARE" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$hash" ]; then
  step "Creating the fixture app repo ($BARE)"
  create_repo
  echo "$hash" >"$STAMP"
else
  info "fixture app repo cached"
fi
info "main    $(git -C "$BARE" rev-parse --short main)"
info "develop $(git -C "$BARE" rev-parse --short develop)"
