#!/usr/bin/env python3
"""Make sure the collections in requirements.yml are installed.

Galaxy is unreachable from the build machines: the collections come bundled with the
pinned `ansible` package. Only when one is missing (or older than required) is Galaxy
asked, so the step passes offline whenever the bundle already satisfies requirements.yml.
"""
import json
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# The ansible-galaxy of the interpreter running this script (the project venv).
GALAXY = str(Path(sys.executable).parent / "ansible-galaxy")


def installed_collections():
    out = subprocess.run(
        [GALAXY, "collection", "list", "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout
    found = {}
    for collections in json.loads(out).values():
        for name, meta in collections.items():
            version = meta.get("version") or "0"
            if name not in found or Version(version) > Version(found[name]):
                found[name] = version
    return found


def missing(required, installed):
    return [
        "%s %s (have %s)" % (c["name"], c["version"], installed.get(c["name"], "none"))
        for c in required
        if c["name"] not in installed or Version(installed[c["name"]]) < Version(str(c["version"]))
    ]


def main():
    required = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    lacking = missing(required, installed_collections())
    if not lacking:
        print("collections: all of requirements.yml present (bundled with ansible)")
        return 0
    print("collections missing, asking Galaxy: " + ", ".join(lacking))
    return subprocess.run([GALAXY, "collection", "install", "-r", str(ROOT / "requirements.yml")]).returncode


if __name__ == "__main__":
    sys.exit(main())
