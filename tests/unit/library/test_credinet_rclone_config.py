"""The credinet_rclone_config module, run in-process with a fake rclone that records its calls."""
import base64
import configparser
import json
import os
import sys
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from conftest import load_source

module = load_source("library/credinet_rclone_config.py")
# Remote names that contain no value: Ansible masks every value of a no_log option in the result.
REMOTES = {"offsite": {"type": "crypt", "remote": "cloud:credinet", "filename_encryption": "standard"},
           "cloud": {"type": "drive", "scope": "drive"}}
SECRETS = {"offsite": {"password": "FAKE-crypt-password", "password2": "FAKE-crypt-salt ñ"}}


def obscured(plaintext):
    """What the fake rclone prints for `obscure -`: reversible, so tests can tell which secret it holds."""
    return "OBSCURED-" + base64.b64encode(plaintext.encode()).decode()


@pytest.fixture
def rclone(tmp_path):
    """A fake rclone: `obscure -` reads stdin; every call is appended to rclone.calls; `reveal` fails."""
    calls = tmp_path / "rclone.calls"
    script = tmp_path / "rclone"
    script.write_text(
        "#!%s\n"
        "import base64, json, sys\n"
        "with open(%r, 'a') as fh:\n"
        "    fh.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1:] == ['obscure', '-']:\n"
        "    print('OBSCURED-' + base64.b64encode(sys.stdin.buffer.read()).decode())\n"
        "    sys.exit(0)\n"
        "sys.exit(2)\n" % (sys.executable, str(calls)))
    script.chmod(0o755)

    def calls_made():
        return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    return str(script), calls_made


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def read_conf(path):
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(path)
    return conf


def mode_of(path):
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def args(tmp_path, rclone):
    return {"path": str(tmp_path / "etc" / "rclone.conf"), "remotes": REMOTES, "obscure": SECRETS, "rclone": rclone[0]}


def test_first_run_writes_obscured_secrets_and_fingerprints_0600(args, rclone, capsys):
    code, out = run_module(args, capsys)
    assert code == 0 and out["changed"] is True and out["remotes"] == ["cloud", "offsite"]
    conf = read_conf(args["path"])
    assert conf["offsite"]["password"] == obscured("FAKE-crypt-password")
    assert conf["offsite"]["password2"] == obscured("FAKE-crypt-salt ñ")
    assert conf["offsite"]["remote"] == "cloud:credinet" and conf["cloud"]["type"] == "drive"
    prints = args["path"] + ".fingerprints"
    assert mode_of(args["path"]) == mode_of(prints) == 0o600
    stored = json.loads(Path(prints).read_text())
    assert set(stored["values"]) == {"offsite.password", "offsite.password2"}
    assert "FAKE-crypt" not in Path(prints).read_text()
    assert rclone[1]() == [["obscure", "-"], ["obscure", "-"]]


def test_second_run_changes_nothing_and_never_calls_rclone(args, rclone, capsys):
    run_module(args, capsys)
    before = Path(args["path"]).read_text(), Path(args["path"] + ".fingerprints").read_text()
    calls = len(rclone[1]())
    code, out = run_module(args, capsys)
    assert code == 0 and out["changed"] is False
    assert len(rclone[1]()) == calls
    assert (Path(args["path"]).read_text(), Path(args["path"] + ".fingerprints").read_text()) == before


def test_a_changed_secret_is_re_obscured_alone(args, rclone, capsys):
    run_module(args, capsys)
    calls = len(rclone[1]())
    changed = dict(args, obscure={"offsite": dict(SECRETS["offsite"], password="FAKE-rotated")})
    code, out = run_module(changed, capsys)
    assert code == 0 and out["changed"] is True
    conf = read_conf(args["path"])
    assert conf["offsite"]["password"] == obscured("FAKE-rotated")
    assert conf["offsite"]["password2"] == obscured("FAKE-crypt-salt ñ")
    assert rclone[1]()[calls:] == [["obscure", "-"]]
    assert run_module(changed, capsys)[1]["changed"] is False


def test_reveal_is_never_invoked(args, rclone, capsys):
    run_module(args, capsys)
    run_module(dict(args, obscure={"offsite": {"password": "FAKE-other"}}), capsys)
    run_module(args, capsys)
    assert rclone[1]() and all(call == ["obscure", "-"] for call in rclone[1]())


def test_a_config_without_fingerprints_is_re_obscured_once(args, rclone, capsys):
    # An upgrade from the `rclone reveal` version: no fingerprint file yet.
    run_module(args, capsys)
    os.unlink(args["path"] + ".fingerprints")
    calls = len(rclone[1]())
    assert run_module(args, capsys)[1]["changed"] is True
    assert len(rclone[1]()) == calls + 2
    assert run_module(args, capsys)[1]["changed"] is False


def test_a_corrupt_fingerprint_file_is_replaced(args, rclone, capsys):
    run_module(args, capsys)
    Path(args["path"] + ".fingerprints").write_text("[]")
    assert run_module(args, capsys)[1]["changed"] is True
    assert run_module(args, capsys)[1]["changed"] is False


def test_a_hand_edited_obscured_value_is_restored(args, rclone, capsys):
    run_module(args, capsys)
    conf = Path(args["path"])
    conf.write_text(conf.read_text().replace(obscured("FAKE-crypt-password"), "tampered"))
    assert run_module(args, capsys)[1]["changed"] is True
    assert read_conf(args["path"])["offsite"]["password"] == obscured("FAKE-crypt-password")


def test_loose_permissions_are_tightened(args, rclone, capsys):
    run_module(args, capsys)
    os.chmod(args["path"], 0o644)
    code, out = run_module(args, capsys)
    assert out["changed"] is True and mode_of(args["path"]) == 0o600


def test_check_mode_writes_nothing_and_calls_nothing(args, rclone, capsys):
    code, out = run_module(dict(args, _ansible_check_mode=True), capsys)
    assert code == 0 and out["changed"] is True
    assert not os.path.exists(args["path"]) and rclone[1]() == []


def test_a_failing_rclone_fails_the_task_without_the_secret(args, tmp_path, capsys):
    broken = tmp_path / "broken-rclone"
    broken.write_text("#!/bin/sh\ncat >/dev/null\necho 'cannot obscure' >&2\nexit 3\n")
    broken.chmod(0o755)
    code, out = run_module(dict(args, rclone=str(broken)), capsys)
    assert code == 1 and out["msg"] == "rclone obscure failed (exit 3)"
    assert "FAKE-crypt" not in json.dumps(out)
    assert not os.path.exists(args["path"])


def test_secrets_never_reach_the_result(args, rclone, capsys):
    code, out = run_module(args, capsys)
    text = json.dumps(out)
    assert "FAKE-crypt" not in text and obscured("FAKE-crypt-password") not in text
