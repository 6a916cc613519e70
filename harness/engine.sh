#!/usr/bin/env bash
# Outer machine: install and start what the sandbox needs (Docker engine, debootstrap,
# the image-mirror registry, git daemon). Idempotent; starts daemons without systemd
# because the build machines have none.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"

OUTER_PACKAGES=(docker.io debootstrap docker-registry git make curl ca-certificates jq openssh-client)

install_packages() {
  local missing=()
  local pkg
  for pkg in "${OUTER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  # A machine that already runs another Docker (docker-ce, Desktop) keeps it.
  if command -v dockerd >/dev/null 2>&1; then
    missing=("${missing[@]/docker.io/}")
  fi
  local wanted=()
  for pkg in "${missing[@]}"; do if [ -n "$pkg" ]; then wanted+=("$pkg"); fi; done
  if [ "${#wanted[@]}" -gt 0 ]; then
    step "Installing outer packages: ${wanted[*]}"
    # make test runs lint (which may apt-get shellcheck) beside this: wait for dpkg's lock.
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
  fi
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then return 0; fi
  step "Starting the Docker engine (no systemd here: dockerd in the background)"
  mkdir -p /var/log
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  wait_for 60 docker info || die "dockerd did not start; see /var/log/dockerd.log"
  info "engine $(docker version --format '{{.Server.Version}}') up"
}

start_registry() {
  local conf="$CREDINET_CACHE/registry/config.yml"
  if curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null 2>&1; then return 0; fi
  step "Starting the image mirror (docker-registry on :$REGISTRY_PORT)"
  mkdir -p "$CREDINET_CACHE/registry/data"
  cat >"$conf" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $CREDINET_CACHE/registry/data
  delete:
    enabled: true
http:
  addr: :$REGISTRY_PORT
CONF
  setsid docker-registry serve "$conf" >"$CREDINET_CACHE/registry/registry.log" 2>&1 < /dev/null &
  wait_for 30 curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" || die "registry did not start; see $CREDINET_CACHE/registry/registry.log"
}

start_git_daemon() {
  mkdir -p "$CREDINET_CACHE/git"
  if [ -f "$CREDINET_CACHE/git/daemon.pid" ] && kill -0 "$(cat "$CREDINET_CACHE/git/daemon.pid")" 2>/dev/null; then
    return 0
  fi
  step "Starting git daemon for the fixture app repo (:$GIT_DAEMON_PORT)"
  git daemon --reuseaddr --export-all --base-path="$CREDINET_CACHE/git" --port="$GIT_DAEMON_PORT" \
    --detach --pid-file="$CREDINET_CACHE/git/daemon.pid" "$CREDINET_CACHE/git"
  wait_for 10 bash -c "echo > /dev/tcp/127.0.0.1/$GIT_DAEMON_PORT" || die "git daemon did not start"
}

install_packages
start_dockerd
start_registry
start_git_daemon
