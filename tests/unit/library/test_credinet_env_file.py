"""The credinet_env_file module, run in-process on a real .env file."""
import json
import os

import pytest

from conftest import load_source, run_module

module = load_source("library/credinet_env_file.py")
pytestmark = pytest.mark.usefixtures("umask_022")
SECRET = "FAKE-s3cr3t ñ $HOME 'q'"
ROTATED = "FAKE-r0tated-pw"
# A hand-written .env: comments, blank lines, export, quoting styles, an unmanaged secret, spacing.
HAND_WRITTEN = (
    "# Credinet .env (hand-written)\n"
    "\n"
    "COMPOSE_PROJECT_NAME=credinet\n"
    "export DEBUG=false  # inline comment\n"
    'UNMANAGED_QUOTED="double $X"\n'
    "   INDENTED = spaced  \n"
    "TZ=America/Chicago\n"
    "#TZ=commented-out\n"
    "UNMANAGED_SECRET='FAKE-hand-kept'\n"
    "POSTGRES_PASSWORD='FAKE-db-initial'\n"
)


@pytest.fixture(autouse=True)
def warnings(monkeypatch):
    """The module's warnings. Where Ansible puts them depends on process-wide state (returned in
    the result on a host, displayed when a controller-side plugin was imported before), so the
    tests record what the module asks for."""
    recorded = []
    monkeypatch.setattr(module.AnsibleModule, "warn", lambda self, warning, **kwargs: recorded.append(warning))
    return recorded


@pytest.fixture
def env(tmp_path):
    return tmp_path / "app" / ".env"


@pytest.fixture
def hand_written(env):
    env.parent.mkdir()
    env.write_text(HAND_WRITTEN)
    os.chmod(env, 0o600)
    return env


def run_without_leaks(args, capsys):
    """run_module, and no value of the .env in what it returns."""
    code, out = run_module(module, args, capsys)
    # Only key names ever leave the module. Ansible masks no_log values in what a module returns,
    # so a leaked value would show as a mask: neither a value nor a mask may appear (the
    # invocation, which Ansible adds itself, always holds the masked `managed`).
    text = json.dumps(out, ensure_ascii=False)
    for value in (SECRET, ROTATED, "FAKE-"):
        assert value not in text and value not in repr(out)
    returned = json.dumps({k: v for k, v in out.items() if k != "invocation"})
    assert "********" not in returned and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in returned
    return code, out


def mode_of(path):
    return os.stat(path).st_mode & 0o777


def test_a_missing_file_is_created_0600_with_single_quoted_values(tmp_path, capsys):
    env = tmp_path / ".env"
    code, out = run_without_leaks({"path": str(env), "managed": {"TZ": "America/Mexico_City", "TOKEN": SECRET, "PORT": 8000}},
                                  capsys)
    assert code == 0 and out["changed"] is True
    assert env.read_text() == "TZ='America/Mexico_City'\nTOKEN='FAKE-s3cr3t ñ $HOME \\'q\\''\nPORT='8000'\n"
    assert sorted(out["changed_keys"]) == ["PORT", "TOKEN", "TZ"] and out["kept_keys"] == []
    assert mode_of(env) == 0o600
    assert "previous_copy" not in out


def test_unmanaged_lines_and_comments_are_kept_byte_for_byte(hand_written, tmp_path, capsys):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": "America/Mexico_City", "TOKEN": SECRET}}, capsys)
    assert code == 0 and out["changed"] is True and sorted(out["changed_keys"]) == ["TOKEN", "TZ"]
    before, after = HAND_WRITTEN.splitlines(), hand_written.read_text().splitlines()
    tz = before.index("TZ=America/Chicago")
    assert after[tz] == "TZ='America/Mexico_City'"  # set in place
    assert after[:tz] + after[tz + 1:-1] == before[:tz] + before[tz + 1:]  # everything else as it was
    assert after[-1] == "TOKEN='FAKE-s3cr3t ñ $HOME \\'q\\''"  # appended


def test_a_line_that_already_holds_the_value_is_not_rewritten(hand_written, capsys):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"UNMANAGED_QUOTED": "double $X", "TZ": "America/Chicago"}},
                                  capsys)
    assert code == 0 and out["changed"] is False and out["changed_keys"] == []
    assert hand_written.read_text() == HAND_WRITTEN


def test_an_empty_value_keeps_the_current_one_when_asked(hand_written, capsys, warnings):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"UNMANAGED_SECRET": "", "TZ": ""},
                                   "keep_when_empty": ["UNMANAGED_SECRET", "TZ"]}, capsys)
    assert code == 0 and out["changed"] is False
    assert sorted(out["kept_keys"]) == ["TZ", "UNMANAGED_SECRET"] and out["changed_keys"] == []
    assert hand_written.read_text() == HAND_WRITTEN
    assert warnings == [
        "kept the current value of TZ, UNMANAGED_SECRET: the managed value is empty"]  # file order


def test_an_empty_value_not_listed_in_keep_when_empty_blanks_the_key(hand_written, capsys, warnings):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": ""}, "keep_when_empty": ["OTHER"]}, capsys)
    assert code == 0 and out["changed"] is True and out["changed_keys"] == ["TZ"] and out["kept_keys"] == []
    assert "TZ=''" in hand_written.read_text().splitlines()
    assert warnings == []


def test_keep_when_empty_writes_a_key_that_has_no_current_value(hand_written, capsys):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"NEW_TOKEN": ""}, "keep_when_empty": ["NEW_TOKEN"]}, capsys)
    assert code == 0 and out["changed_keys"] == ["NEW_TOKEN"] and out["kept_keys"] == []
    assert hand_written.read_text().endswith("NEW_TOKEN=''\n")


FROZEN = {"frozen": ["POSTGRES_USER", "POSTGRES_PASSWORD"], "frozen_hint": "Rotate it inside the database first."}


def test_a_frozen_key_does_not_change_while_frozen(hand_written, capsys):
    before = hand_written.read_bytes()
    code, out = run_without_leaks(dict(FROZEN, path=str(hand_written), managed={"POSTGRES_PASSWORD": ROTATED, "TZ": "UTC"},
                                       frozen_active=True), capsys)
    assert code == 1 and out["frozen_keys"] == ["POSTGRES_PASSWORD"]
    assert "POSTGRES_PASSWORD" in out["msg"] and "Rotate it inside the database first." in out["msg"]
    assert "Nothing was changed" in out["msg"] and "POSTGRES_USER" not in out["msg"]
    assert hand_written.read_bytes() == before  # not even TZ


@pytest.mark.parametrize("managed", [
    {"POSTGRES_PASSWORD": "FAKE-db-initial"},  # the same value
    {"POSTGRES_USER": "credinet"},  # not in the file yet: nothing to protect
])
def test_a_frozen_key_may_keep_its_value_or_be_set_the_first_time(hand_written, capsys, managed):
    code, out = run_without_leaks(dict(FROZEN, path=str(hand_written), managed=managed, frozen_active=True), capsys)
    assert code == 0
    assert module.envfile.parse(hand_written.read_text())["POSTGRES_PASSWORD"] == "FAKE-db-initial"


def test_an_empty_value_never_blanks_a_frozen_key(hand_written, capsys):
    code, out = run_without_leaks(dict(FROZEN, path=str(hand_written), managed={"POSTGRES_PASSWORD": ""}, frozen_active=True),
                                  capsys)
    assert module.envfile.parse(hand_written.read_text())["POSTGRES_PASSWORD"] == "FAKE-db-initial"
    assert code == 0 and out["changed"] is False and "POSTGRES_PASSWORD" not in out["changed_keys"]


def test_frozen_keys_change_while_not_frozen(hand_written, capsys):
    code, out = run_without_leaks(dict(FROZEN, path=str(hand_written), managed={"POSTGRES_PASSWORD": ROTATED}), capsys)
    assert code == 0 and out["changed"] is True and out["changed_keys"] == ["POSTGRES_PASSWORD"]
    assert module.envfile.parse(hand_written.read_text())["POSTGRES_PASSWORD"] == ROTATED


@pytest.mark.parametrize("value", ["line\nbreak", "carriage\rreturn", "nul\0byte", "ends with backslash\\", "a\\'b"])
def test_an_unwritable_value_fails_before_anything_is_written(hand_written, capsys, value):
    before = hand_written.read_bytes()
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": "UTC", "TOKEN": "FAKE-" + value}}, capsys)
    assert code == 1 and "TOKEN" in out["msg"] and "Nothing was changed" in out["msg"] and "TZ" not in out["msg"]
    assert hand_written.read_bytes() == before


def test_an_invalid_key_name_fails(hand_written, capsys):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"BAD-KEY": "x"}}, capsys)
    assert code == 1 and "BAD-KEY is not a valid variable name" in out["msg"]
    assert hand_written.read_text() == HAND_WRITTEN


def test_the_previous_file_is_kept_0600(hand_written, tmp_path, capsys):
    os.chmod(hand_written, 0o644)
    previous = tmp_path / "backups" / "env"
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TOKEN": SECRET}, "previous_dir": str(previous)}, capsys)
    assert code == 0 and out["changed"] is True
    copy = out["previous_copy"]
    assert os.path.dirname(copy) == str(previous) and os.path.basename(copy).startswith("env.")
    with open(copy) as fh:
        assert fh.read() == HAND_WRITTEN
    assert mode_of(copy) == 0o600 and mode_of(previous) == 0o700
    assert mode_of(hand_written) == 0o600


def test_no_previous_copy_when_nothing_changes_or_nothing_existed(env, tmp_path, capsys):
    previous = tmp_path / "backups" / "env"
    args = {"path": str(env), "managed": {"TOKEN": SECRET}, "previous_dir": str(previous)}
    env.parent.mkdir()
    code, out = run_without_leaks(args, capsys)
    assert code == 0 and out["changed"] is True and "previous_copy" not in out
    code, out = run_without_leaks(args, capsys)
    assert code == 0 and out["changed"] is False and "previous_copy" not in out
    assert not previous.exists() or os.listdir(previous) == []


def test_a_second_identical_run_changes_nothing(hand_written, capsys):
    args = {"path": str(hand_written), "managed": {"TZ": "UTC", "TOKEN": SECRET, "EMPTY": ""}}
    assert run_without_leaks(args, capsys)[1]["changed"] is True
    written = hand_written.read_bytes(), os.stat(hand_written).st_mtime_ns
    code, out = run_without_leaks(args, capsys)
    assert code == 0 and out["changed"] is False and out["changed_keys"] == []
    assert (hand_written.read_bytes(), os.stat(hand_written).st_mtime_ns) == written


def test_loose_permissions_alone_are_a_change(hand_written, capsys):
    os.chmod(hand_written, 0o644)
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": "America/Chicago"}}, capsys)
    assert code == 0 and out["changed"] is True and out["changed_keys"] == []
    assert mode_of(hand_written) == 0o600 and hand_written.read_text() == HAND_WRITTEN


def test_a_created_file_is_never_readable_by_others(env, capsys):
    # The file is written before its owner is set: if that fails (an unknown user), the secrets
    # must not be left behind world-readable.
    env.parent.mkdir()
    code, out = run_without_leaks({"path": str(env), "managed": {"TOKEN": SECRET}, "owner": "no-such-user-credinet"}, capsys)
    assert code == 1 and "no-such-user-credinet" in out["msg"]
    assert mode_of(env) & 0o077 == 0


def test_check_mode_changes_nothing_but_reports_the_change(hand_written, env, tmp_path, capsys):
    previous = tmp_path / "backups"
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": "UTC", "TOKEN": SECRET}, "previous_dir": str(previous),
                                   "_ansible_check_mode": True}, capsys)
    assert code == 0 and out["changed"] is True and sorted(out["changed_keys"]) == ["TOKEN", "TZ"]
    assert hand_written.read_text() == HAND_WRITTEN and not previous.exists()
    missing = tmp_path / "other" / ".env"
    code, out = run_without_leaks({"path": str(missing), "managed": {"TZ": "UTC"}, "_ansible_check_mode": True}, capsys)
    assert code == 0 and out["changed"] is True and not missing.exists()


def test_check_mode_reports_no_change_when_there_is_none(hand_written, capsys):
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TZ": "America/Chicago"}, "_ansible_check_mode": True},
                                  capsys)
    assert code == 0 and out["changed"] is False


def test_values_never_reach_the_result_even_when_they_fail(hand_written, capsys):
    # run_module asserts it for every call; here the paths that name keys in their messages.
    run_without_leaks(dict(FROZEN, path=str(hand_written), managed={"POSTGRES_PASSWORD": ROTATED}, frozen_active=True), capsys)
    run_without_leaks({"path": str(hand_written), "managed": {"TOKEN": SECRET + "\n"}}, capsys)
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TOKEN": SECRET, "EMPTY": ""}, "keep_when_empty": ["TZ"]},
                                  capsys)
    assert code == 0 and "TOKEN" in out["changed_keys"]


def fake_inspect(monkeypatch, env_list, rc=0):
    """`docker inspect -f {{json .Config.Env}} <container>` of the running database container."""
    calls = []

    def run_command(_module, args, **_kwargs):
        calls.append(list(args))
        assert args[:4] == ["docker", "inspect", "-f", "{{json .Config.Env}}"]
        return rc, (json.dumps(env_list) + "\n") if rc == 0 else "", "" if rc == 0 else "Error: No such object\n"
    monkeypatch.setattr(module.AnsibleModule, "run_command", run_command)
    return calls


def test_a_frozen_key_not_in_the_file_is_compared_with_the_running_database(env, capsys, monkeypatch):
    # The .env does not list the password (the database was created with a value typed in the
    # shell): the running container's environment is what the database holds.
    env.parent.mkdir()
    env.write_text("TZ=UTC\n")
    calls = fake_inspect(monkeypatch, ["POSTGRES_PASSWORD=FAKE-db-initial", "PATH=/usr/bin"])
    code, out = run_without_leaks(dict(FROZEN, path=str(env), managed={"POSTGRES_PASSWORD": ROTATED},
                                       frozen_active=True, frozen_container="c0ffee"), capsys)
    assert code == 1 and out["frozen_keys"] == ["POSTGRES_PASSWORD"] and "Nothing was changed" in out["msg"]
    assert env.read_text() == "TZ=UTC\n" and calls[0][-1] == "c0ffee"


def test_the_running_database_value_may_be_written_to_the_file(env, capsys, monkeypatch):
    env.parent.mkdir()
    env.write_text("TZ=UTC\n")
    fake_inspect(monkeypatch, ["POSTGRES_PASSWORD=FAKE-db-initial"])
    code, out = run_without_leaks(dict(FROZEN, path=str(env), managed={"POSTGRES_PASSWORD": "FAKE-db-initial"},
                                       frozen_active=True, frozen_container="c0ffee"), capsys)
    assert code == 0 and out["changed_keys"] == ["POSTGRES_PASSWORD"]


def test_a_container_that_cannot_be_inspected_leaves_the_file_comparison(hand_written, capsys, monkeypatch):
    fake_inspect(monkeypatch, [], rc=1)
    code, out = run_without_leaks(dict(FROZEN, path=str(hand_written), managed={"POSTGRES_PASSWORD": ROTATED},
                                       frozen_active=True, frozen_container="gone"), capsys)
    assert code == 1 and out["frozen_keys"] == ["POSTGRES_PASSWORD"]


def test_bytes_that_are_not_utf8_are_kept_byte_for_byte(env, capsys):
    env.parent.mkdir()
    env.write_bytes(b"# contrase\xf1a de la base (Latin-1)\nTZ=UTC\n")
    code, out = run_without_leaks({"path": str(env), "managed": {"TZ": "America/Mexico_City"}}, capsys)
    assert code == 0 and out["changed_keys"] == ["TZ"]
    assert env.read_bytes() == b"# contrase\xf1a de la base (Latin-1)\nTZ='America/Mexico_City'\n"


def test_only_the_newest_previous_copies_stay(hand_written, tmp_path, capsys):
    previous = tmp_path / "backups" / "env"
    copies = []
    for n in range(4):  # several changes in the same second: each gets its own copy
        code, out = run_without_leaks({"path": str(hand_written), "managed": {"TOKEN": "FAKE-%d" % n},
                                       "previous_dir": str(previous), "previous_keep": 2}, capsys)
        assert code == 0 and out["changed"] is True
        copies.append(out["previous_copy"])
    assert len(set(copies)) == 4
    assert sorted(str(previous / n) for n in os.listdir(previous)) == sorted(copies[-2:])
    assert module.envfile.parse((previous / os.path.basename(copies[-1])).read_text())["TOKEN"] == "FAKE-2"
    assert all(mode_of(c) == 0o600 for c in copies[-2:])


def test_the_copy_just_made_stays_after_a_clock_jump_back(hand_written, tmp_path, capsys, monkeypatch):
    previous = tmp_path / "backups" / "env"
    previous.mkdir(parents=True)
    for n in range(3):  # copies written while the clock was a year ahead
        (previous / ("env.20271129T1000%02d.000000" % n)).write_text("TOKEN=old\n")
    code, out = run_without_leaks({"path": str(hand_written), "managed": {"TOKEN": "FAKE-new"},
                                   "previous_dir": str(previous), "previous_keep": 2}, capsys)
    assert code == 0 and os.path.exists(out["previous_copy"])
    assert sorted(os.listdir(previous)) == sorted([os.path.basename(out["previous_copy"]), "env.20271129T100002.000000"])
