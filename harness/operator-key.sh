#!/usr/bin/env bash
# The sandbox operator's SSH key pair ($CREDINET_CACHE/sandbox-operator): the sandbox inventory
# gives its public half to jair (role security refuses to turn password logins off for an
# operator without a key); the tests log in with it. Made once, never committed.
# shellcheck source=harness/lib.sh
source "$(dirname "$0")/lib.sh"
KEY="$CREDINET_CACHE/sandbox-operator"
if [ ! -f "$KEY" ]; then
  step "Sandbox operator SSH key"
  mkdir -p "$CREDINET_CACHE"
  ssh-keygen -q -t ed25519 -N "" -C credinet-sandbox-operator -f "$KEY"
fi
info "operator key $KEY.pub"
