#!/usr/bin/env bash
# Everything the sandbox and the Molecule scenarios need on the outer machine.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts dockerd)"
bash "$HARNESS_DIR/engine.sh"
bash "$HARNESS_DIR/base-image.sh"
bash "$HARNESS_DIR/mirror-images.sh" 2> >(grep -v -E 'legacy builder|buildx|docs.docker.com/go/buildx|^\s*$' >&2)
bash "$HARNESS_DIR/fixture-repo.sh"
bash "$HARNESS_DIR/operator-key.sh"
