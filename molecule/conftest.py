"""Helpers shared by every scenario's testinfra tests.

Failure cases are exercised by running real playbooks against the scenario's instances,
with Molecule's own inventory and ansible.cfg (Molecule exports both to the verifier).
"""
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# Bytecode must not land in the project's files (module_utils/credinet_ops is copied to hosts).
sys.dont_write_bytecode = True


def load_plugin(relative):
    """A plugin file of the project (filter_plugins/x.py) as a module, loaded by path."""
    path = PROJECT / relative
    spec = importlib.util.spec_from_file_location("credinet_test_" + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Tests reuse the project's own parsing helpers instead of re-implementing them.
compose_version = load_plugin("filter_plugins/credinet_docker.py").compose_version


ANSI = re.compile(r"\x1b\[[0-9;]*m")


class PlaybookResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = ANSI.sub("", proc.stdout + proc.stderr)

    @property
    def flat(self):
        """The output with whitespace runs made one space: the YAML callback folds long messages."""
        return " ".join(self.output.split())

    def recap(self, host):
        """The PLAY RECAP counters of one host, as ints."""
        for line in self.output.splitlines():
            if line.startswith(host + " ") and "ok=" in line:
                return {k: int(v) for k, v in (f.split("=") for f in line.split()[2:] if "=" in f)}
        raise AssertionError("no recap for %s in:\n%s" % (host, self.output[-3000:]))


def run_playbook(playbook, limit, *args, check=None, env=None):
    """ansible-playbook against the scenario's inventory; returns PlaybookResult."""
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    cmd = ["ansible-playbook", "-i", inventory, "--limit", limit, str(playbook), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=PROJECT,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})})
    result = PlaybookResult(proc)
    if check is not None:
        assert (result.rc == 0) == check, result.output[-4000:]
    return result


@pytest.fixture
def playbook():
    return run_playbook


@pytest.fixture
def scenario_dir():
    return Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])


@pytest.fixture
def hostname(host):
    return host.backend.get_hostname()


@pytest.fixture
def env_name(host):
    return host.ansible.get_variables()["credinet_env"]


def http_get(host, url):
    """GET a URL from inside the host with its python3 (no curl needed); returns (status, text)."""
    script = (
        "import sys,urllib.request,urllib.error\n"
        "try:\n r=urllib.request.urlopen(sys.argv[1],timeout=10); print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())"
    )
    status, body = host.check_output("python3 -c %s %s" % (shlex.quote(script), shlex.quote(url))).split("\n", 1)
    return int(status), body


def http_json(host, url):
    """GET a URL from inside the host; returns (status, parsed JSON body)."""
    status, body = http_get(host, url)
    return status, json.loads(body)


# --- loopback SaaS fakes (molecule/shared/saas-fakes.yml) -----------------------------------------
FAKES_RECORD = "/opt/credinet-fakes/received.jsonl"


def fake_received(host, channel=None):
    """What the loopback Telegram/Discord/SMTP servers in the host received (all, or one channel)."""
    rows = [json.loads(line) for line in host.file(FAKES_RECORD).content_string.splitlines()]
    return [r for r in rows if channel is None or r["channel"] == channel]


def telegram_texts(host):
    return [r["payload"]["text"] for r in fake_received(host, "telegram")]


def wait_until(probe, seconds=60, interval=1.0):
    """probe() until it returns something truthy; returns it (or the last falsy value)."""
    import time

    deadline = time.monotonic() + seconds
    result = probe()
    while not result and time.monotonic() < deadline:
        time.sleep(interval)
        result = probe()
    return result
