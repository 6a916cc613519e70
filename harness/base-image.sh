#!/usr/bin/env bash
# Build the sandbox images from Debian's archive (no registry can be pulled from here):
#   credinet-sandbox/debian:<suite>   debootstrap minbase, imported (base of every stand-in image)
#   credinet-sandbox/host:<suite>     + the sandbox-only /proc/sys unit: a systemd "server"
# Cached by tag; rebuilt only when missing or when the host image's inputs change.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"

BASE_TAG="credinet-sandbox/debian:$SANDBOX_SUITE"
HOST_TAG="credinet-sandbox/host:$SANDBOX_SUITE"
BASE_PACKAGES=systemd,systemd-sysv,python3,dbus,iproute2,ca-certificates,sudo,procps

build_base() {
  if docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
    info "$BASE_TAG cached"
    return 0
  fi
  step "debootstrap $SANDBOX_SUITE (about a minute)"
  local rootfs
  rootfs=$(mktemp -d "${TMPDIR:-/tmp}/credinet-rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' RETURN
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SANDBOX_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
    >"$CREDINET_CACHE/debootstrap.log" 2>&1 || die "debootstrap failed; see $CREDINET_CACHE/debootstrap.log"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  : >"$rootfs/etc/machine-id"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$BASE_TAG" >/dev/null
  info "imported $BASE_TAG"
}

build_host() {
  local hash
  hash=$(dir_hash "$HARNESS_DIR/images/sandbox-host")
  if [ "$(docker image inspect -f '{{ index .Config.Labels "credinet.inputs" }}' "$HOST_TAG" 2>/dev/null)" = "$hash" ]; then
    info "$HOST_TAG cached"
    return 0
  fi
  step "Building $HOST_TAG"
  docker build -q --build-arg "BASE=$BASE_TAG" --label "credinet.inputs=$hash" \
    -t "$HOST_TAG" "$HARNESS_DIR/images/sandbox-host" >/dev/null
}

mkdir -p "$CREDINET_CACHE"
build_base
build_host
