#!/usr/bin/env bash
# Fill the local image mirror with stand-in images under the Docker Hub names the stacks
# use (the sandbox hosts' engines pull through it as a registry mirror). Built from
# Debian's packages on top of the debootstrapped base. Cached by input hash: a second
# run rebuilds and pushes nothing.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"

BASE_TAG="credinet-sandbox/debian:$SANDBOX_SUITE"
MIRROR="127.0.0.1:$REGISTRY_PORT"

# docker-hub-name:tag  image-dir  [build-arg ...]
IMAGES=(
  "library/postgres:17 postgres PG_MAJOR=17"
  "library/python:3.13-slim python"
  # Role monitoring: the upstream names and versions of the Debian (trixie) packages.
  "prom/prometheus:v2.53.3 prometheus BINARY=prometheus"
  "prom/alertmanager:v0.28.1 prometheus BINARY=prometheus-alertmanager"
  "prom/node-exporter:v1.9.0 prometheus BINARY=prometheus-node-exporter"
  "prom/blackbox-exporter:v0.26.0 prometheus BINARY=prometheus-blackbox-exporter"
  "prometheuscommunity/postgres-exporter:v0.17.1 prometheus BINARY=prometheus-postgres-exporter"
)

in_mirror() {
  local repo=${1%:*} tag=${1##*:}
  curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$MIRROR/v2/$repo/manifests/$tag"
}

build_and_push() {
  local name=$1 dir=$2; shift 2
  local args=() arg hash stamp
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  hash=$(printf '%s %s\n' "$(dir_hash "$HARNESS_DIR/images/$dir")" "$*" | sha256sum | cut -c1-16)
  stamp="$CREDINET_CACHE/mirror-stamps/${name//[\/:]/_}.$hash"
  if [ -f "$stamp" ] && in_mirror "$name"; then
    info "$name cached in the mirror"
    return 0
  fi
  step "Building stand-in $name"
  docker build -q --build-arg "BASE=$BASE_TAG" "${args[@]}" --label "credinet.inputs=$hash" \
    -t "$MIRROR/$name" "$HARNESS_DIR/images/$dir" >/dev/null
  docker push -q "$MIRROR/$name" >/dev/null
  mkdir -p "$(dirname "$stamp")"
  rm -f "${stamp%.*}".*
  touch "$stamp"
  info "pushed $name"
}

for entry in "${IMAGES[@]}"; do
  # shellcheck disable=SC2086
  build_and_push $entry
done
