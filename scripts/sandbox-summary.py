#!/usr/bin/env python3
"""Print what `make sandbox` did: hosts, their environment, what changed, how to use it."""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counters>(?:\w+=\d+\s*)+)$")


def parse_recap(text):
    """{host: {ok: n, changed: n, ...}} from an ansible-playbook log's PLAY RECAP."""
    hosts = {}
    for line in text.splitlines():
        match = RECAP.match(line.strip())
        if match:
            hosts[match["host"]] = {k: int(v) for k, v in (c.split("=") for c in match["counters"].split())}
    return hosts


def inventory_vars():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(ROOT / "inventories/sandbox"), "--list"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout
    return json.loads(out)["_meta"]["hostvars"]


def main(log_path):
    recap = parse_recap(Path(log_path).read_text())
    hostvars = inventory_vars()
    print("\nSandbox hosts (containers on this machine):")
    print("  %-14s %-5s %-8s %4s %8s %7s %12s" % ("host", "env", "branch", "ok", "changed", "failed", "unreachable"))
    for host, counters in sorted(recap.items()):
        hv = hostvars.get(host, {})
        print("  %-14s %-5s %-8s %4d %8d %7d %12d" % (
            host, hv.get("credinet_env", "?"), hv.get("credinet_app_branch", "?"),
            counters.get("ok", 0), counters.get("changed", 0), counters.get("failed", 0), counters.get("unreachable", 0)))
    total = sum(c.get("changed", 0) for c in recap.values())
    print("\n  %s" % ("Nothing changed: the hosts already matched site.yml." if total == 0
                      else "%d change(s) applied; run `make sandbox` again to see changed=0." % total))
    print("\nGet a shell:      docker exec -it sandbox-prod bash   (or sandbox-dev)")
    print("Run a playbook:   .venv/bin/ansible-playbook -i inventories/sandbox playbooks/site.yml")
    print("Tear down:        make sandbox-destroy")
    print("Full log:         %s" % log_path)
    failed = any(c.get("failed", 0) or c.get("unreachable", 0) for c in recap.values())
    return 1 if failed or not recap else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
