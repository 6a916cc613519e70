"""The credinet_rclone_config module, run in-process with a fake rclone that records its calls."""
import base64
import configparser
import json
import os
from pathlib import Path

import pytest

from conftest import fake_command, load_source, run_module

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
    """A fake rclone that records its calls: `obscure -` reads stdin; anything else (`reveal`) fails."""
    return fake_command(tmp_path, "rclone", """
        import base64
        if args == ['obscure', '-']:
            print('OBSCURED-' + base64.b64encode(sys.stdin.buffer.read()).decode())
            sys.exit(0)
        sys.exit(2)
        """)


def read_conf(path):
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(path)
    return conf


def mode_of(path):
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def args(tmp_path, rclone):
    return {"path": str(tmp_path / "etc" / "rclone.conf"), "remotes": REMOTES, "obscure": SECRETS, "rclone": rclone.path}


def test_first_run_writes_obscured_secrets_and_fingerprints_0600(args, rclone, capsys):
    code, out = run_module(module, args, capsys)
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
    assert rclone.calls() == [["obscure", "-"], ["obscure", "-"]]


def test_second_run_changes_nothing_and_never_calls_rclone(args, rclone, capsys):
    run_module(module, args, capsys)
    before = Path(args["path"]).read_text(), Path(args["path"] + ".fingerprints").read_text()
    calls = len(rclone.calls())
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is False
    assert len(rclone.calls()) == calls
    assert (Path(args["path"]).read_text(), Path(args["path"] + ".fingerprints").read_text()) == before


def test_a_changed_secret_is_re_obscured_alone(args, rclone, capsys):
    run_module(module, args, capsys)
    calls = len(rclone.calls())
    changed = dict(args, obscure={"offsite": dict(SECRETS["offsite"], password="FAKE-rotated")})
    code, out = run_module(module, changed, capsys)
    assert code == 0 and out["changed"] is True
    conf = read_conf(args["path"])
    assert conf["offsite"]["password"] == obscured("FAKE-rotated")
    assert conf["offsite"]["password2"] == obscured("FAKE-crypt-salt ñ")
    assert rclone.calls()[calls:] == [["obscure", "-"]]
    assert run_module(module, changed, capsys)[1]["changed"] is False


def test_reveal_is_never_invoked(args, rclone, capsys):
    run_module(module, args, capsys)
    run_module(module, dict(args, obscure={"offsite": {"password": "FAKE-other"}}), capsys)
    run_module(module, args, capsys)
    assert rclone.calls() and all(call == ["obscure", "-"] for call in rclone.calls())


def test_a_config_without_fingerprints_is_re_obscured_once(args, rclone, capsys):
    # An upgrade from the `rclone reveal` version: no fingerprint file yet.
    run_module(module, args, capsys)
    os.unlink(args["path"] + ".fingerprints")
    calls = len(rclone.calls())
    assert run_module(module, args, capsys)[1]["changed"] is True
    assert len(rclone.calls()) == calls + 2
    assert run_module(module, args, capsys)[1]["changed"] is False


def test_a_corrupt_fingerprint_file_is_replaced(args, rclone, capsys):
    run_module(module, args, capsys)
    Path(args["path"] + ".fingerprints").write_text("[]")
    assert run_module(module, args, capsys)[1]["changed"] is True
    assert run_module(module, args, capsys)[1]["changed"] is False


def test_a_hand_edited_obscured_value_is_restored(args, rclone, capsys):
    run_module(module, args, capsys)
    conf = Path(args["path"])
    conf.write_text(conf.read_text().replace(obscured("FAKE-crypt-password"), "tampered"))
    assert run_module(module, args, capsys)[1]["changed"] is True
    assert read_conf(args["path"])["offsite"]["password"] == obscured("FAKE-crypt-password")


def test_loose_permissions_are_tightened(args, rclone, capsys):
    run_module(module, args, capsys)
    os.chmod(args["path"], 0o644)
    code, out = run_module(module, args, capsys)
    assert out["changed"] is True and mode_of(args["path"]) == 0o600


def test_check_mode_writes_nothing_and_calls_nothing(args, rclone, capsys):
    code, out = run_module(module, dict(args, _ansible_check_mode=True), capsys)
    assert code == 0 and out["changed"] is True
    assert not os.path.exists(args["path"]) and rclone.calls() == []


def test_a_failing_rclone_fails_the_task_without_the_secret(args, tmp_path, capsys):
    broken = fake_command(tmp_path, "broken-rclone", "sys.stdin.read()\nsys.stderr.write('cannot obscure\\n')\nsys.exit(3)\n")
    code, out = run_module(module, dict(args, rclone=broken.path), capsys)
    assert code == 1 and out["msg"] == "rclone obscure failed (exit 3)"
    assert "FAKE-crypt" not in json.dumps(out)
    assert not os.path.exists(args["path"])


def test_secrets_never_reach_the_result(args, rclone, capsys):
    code, out = run_module(module, args, capsys)
    text = json.dumps(out)
    assert "FAKE-crypt" not in text and obscured("FAKE-crypt-password") not in text
