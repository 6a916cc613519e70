"""Shared fixtures and the one way the unit tests load repository files that are not packages.

The runtime package is imported by name (`from credinet_ops import sets`): the venv links it
(scripts/link-runtime-package.py). Plugins, modules, host commands and scripts are files, loaded
by path with `load_source`; the import path itself is never changed.
"""
import sys

# Before anything imports credinet_ops: roles copy module_utils/credinet_ops to the hosts, and
# a __pycache__ written there by a test run would travel with it.
sys.dont_write_bytecode = True

import collections  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from fakes.loopback import FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD, FAKE_TOKEN, Fakes  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[2]
_LOADED = {}


def load_source(relative_path):
    """The repository file `relative_path` (a plugin, a module, a host command) as a module.

    Files without a .py suffix (the host commands) get an explicit source loader. Each file is
    loaded once, so every test (and every monkeypatch) sees the same module object.
    """
    path = ROOT / relative_path
    if path not in _LOADED:
        name = "credinet_test_" + re.sub(r"\W", "_", str(relative_path))
        loader = importlib.machinery.SourceFileLoader(name, str(path))
        spec = importlib.util.spec_from_file_location(name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look their module up by name
        loader.exec_module(module)
        _LOADED[path] = module
    return _LOADED[path]


@pytest.fixture(scope="session")
def load_script():
    """Import a script of scripts/ (their names have dashes) as a module."""
    return lambda name: load_source("scripts/%s.py" % name)


def run_module(module, args, capsys):
    """Run the Ansible module object `module` in-process with `args`: (exit code, its JSON result)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


# --- fake commands -------------------------------------------------------------------------------

FakeCommand = collections.namedtuple("FakeCommand", "path calls")


def json_lines(path):
    """The JSON values of a file written one per line; [] when the file does not exist."""
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def fake_command(directory, name, body=""):
    """An executable Python script `directory/name` that appends each call's argv (without the
    program name) as one JSON line to `directory/name.calls`, then runs `body`.

    The body (dedented) sees `json`, `os`, `sys` and `args` (the argv list) and exits 0 unless it
    says otherwise. Returns FakeCommand(path, calls): the script's path as a string, and a function
    returning the recorded calls, one argv list each, oldest first.
    """
    directory = Path(directory)
    script, log = directory / name, directory / (name + ".calls")
    script.write_text(
        "#!%s\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "with open(%r, 'a') as fh:\n"
        "    fh.write(json.dumps(args) + '\\n')\n" % (sys.executable, str(log))
        + textwrap.dedent(body))
    script.chmod(0o755)
    return FakeCommand(str(script), lambda: json_lines(log))


@pytest.fixture
def umask_022():
    """The umask 022 of a usual host, whatever the test run's own, for the modes of new files."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def fakes(tmp_path):
    running = Fakes(tmp_path)
    yield running
    running.close()


# --- backup sets on disk -------------------------------------------------------------------------

def sample_manifest(key, status="good", db="credinet", compression="zstd", dump_size=100, tables=None):
    """A complete manifest for set `key` (the strict reader refuses anything less)."""
    from credinet_ops.manifest import FileEntry, Manifest

    ext = "zst" if compression == "zstd" else "gz"
    return Manifest(
        status=status, key=key, db=db, host="credicuenta3", env="prod", started_at="2026-11-29T02:00:00-06:00",
        finished_at="2026-11-29T02:01:00-06:00", duration_seconds=60.0, dump_seconds=42.5, server_version="17.2",
        server_image="postgres:17", compression=compression,
        dump=FileEntry("%s.dump.%s" % (key, ext), dump_size, "a" * 64),
        globals=FileEntry("%s.globals.sql.%s" % (key, ext), 1, "b" * 64),
        tables=tables if tables is not None else {"public.loans": {"rows": 3, "checksum": "-12"}},
        critical_tables=["loans"], verify_errors=[] if status == "good" else ["full decode failed"],
        verify_method="sha256 + pg_restore -l + pg_restore -f /dev/null", db_user="credinet",
        release={"sha": "0123456789abcdef0123456789abcdef01234567", "ref": "main", "previous": None})


def make_set(directory, moment, status="good", db="credinet", size=100, seq=0, compression="zstd"):
    """A backup set on disk as credinet-backup publishes it; "incomplete" has no manifest."""
    from credinet_ops import sets

    key = sets.set_key(db, moment, seq)
    ext = "zst" if compression == "zstd" else "gz"
    suffix = ".failed" if status == "failed" else ""
    (directory / ("%s.dump.%s%s" % (key, ext, suffix))).write_bytes(b"x" * size)
    (directory / ("%s.globals.sql.%s%s" % (key, ext, suffix))).write_bytes(b"g")
    if status != "incomplete":
        sample_manifest(key, status, db, compression, size).write(str(directory / (key + ".manifest.json")))
    return key
