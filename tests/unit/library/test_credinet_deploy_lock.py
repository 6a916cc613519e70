"""The credinet_deploy_lock module: its lock functions on a real directory, and the module in-process."""
import json
import os
import time

import pytest

from conftest import load_source, run_module

module = load_source("library/credinet_deploy_lock.py")
acquire, release, read_owner, lock_age, backup_floor, Held = (
    module.acquire, module.release, module.read_owner, module.lock_age, module.backup_floor, module.Held)

NOW = 1_900_000_000.0
STALE = 1800
INFO = {"owner": "ana@laptop", "target": "abc123", "ref": "main"}


@pytest.fixture
def lock(tmp_path):
    return str(tmp_path / "lock")


def plant(lock_dir, owner=None, mtime=None):
    """A lock directory as a (possibly crashed) earlier run left it."""
    os.mkdir(lock_dir)
    if owner is not None:
        with open(os.path.join(lock_dir, "owner.json"), "w") as fh:
            json.dump(owner, fh)
    if mtime is not None:
        os.utime(lock_dir, (mtime, mtime))


def leftovers(lock_dir):
    """Renamed-away lock directories that a takeover did not clean up."""
    parent, name = os.path.split(lock_dir)
    return [n for n in os.listdir(parent) if n.startswith(name + ".stale-")]


# --- acquire -------------------------------------------------------------------------------------

def test_acquire_on_a_free_path_writes_the_owner_with_token_and_epoch(lock):
    token, took_over = acquire(lock, INFO, STALE, now=NOW)
    assert took_over is None
    assert len(token) == 32 and int(token, 16) >= 0
    owner = read_owner(lock)
    assert owner["token"] == token and owner["epoch"] == NOW
    assert {k: owner[k] for k in INFO} == INFO
    assert owner["time"].startswith(time.strftime("%Y-%m-%d", time.localtime(NOW)))


def test_tokens_differ_between_runs(tmp_path):
    first, _ = acquire(str(tmp_path / "a"), INFO, STALE, now=NOW)
    second, _ = acquire(str(tmp_path / "b"), INFO, STALE, now=NOW)
    assert first != second


def test_a_second_acquire_is_held_and_names_the_holder(lock):
    token, _ = acquire(lock, INFO, STALE, now=NOW)
    with pytest.raises(Held) as held:
        acquire(lock, {"owner": "luis@desk"}, STALE, now=NOW + 60)
    assert held.value.holder["owner"] == "ana@laptop" and held.value.holder["token"] == token
    assert held.value.age == 60
    assert read_owner(lock)["token"] == token


@pytest.mark.parametrize("age, taken_over", [(STALE - 1, False), (STALE, True), (STALE * 10, True)])
def test_a_lock_is_taken_over_once_it_is_stale(lock, age, taken_over):
    old = {"owner": "old@laptop", "token": "0" * 32, "epoch": NOW - age, "time": "then"}
    plant(lock, old)
    if not taken_over:
        with pytest.raises(Held):
            acquire(lock, INFO, STALE, now=NOW)
        assert read_owner(lock) == old
        return
    token, took_over = acquire(lock, INFO, STALE, now=NOW)
    assert took_over == old
    assert read_owner(lock)["token"] == token != old["token"]
    assert leftovers(lock) == []


def test_a_lock_without_owner_json_ages_by_its_directory_mtime(lock):
    plant(lock, mtime=NOW - STALE - 5)
    assert lock_age(lock, None, NOW) == pytest.approx(STALE + 5)
    token, took_over = acquire(lock, INFO, STALE, now=NOW)
    assert took_over == {"owner": "unknown (no owner.json)"}
    assert read_owner(lock)["token"] == token
    assert leftovers(lock) == []


@pytest.mark.parametrize("content", [None, "not json", "[1, 2]", '{"owner": "x", "epoch": "yesterday"}'])
def test_a_young_lock_without_a_usable_owner_is_held(lock, content):
    os.mkdir(lock)
    if content is not None:
        with open(os.path.join(lock, "owner.json"), "w") as fh:
            fh.write(content)
    os.utime(lock, (NOW - 10, NOW - 10))
    with pytest.raises(Held) as held:
        acquire(lock, INFO, STALE, now=NOW)
    assert held.value.age == pytest.approx(10)
    assert os.path.isdir(lock) and not leftovers(lock)


def test_lock_age_prefers_the_owner_epoch_to_the_mtime(lock):
    plant(lock, mtime=NOW - 5000)
    assert lock_age(lock, {"epoch": NOW - 7}, NOW) == 7
    assert lock_age(lock, {"epoch": None}, NOW) == pytest.approx(5000)


@pytest.mark.parametrize("content, expected", [
    ('{"token": "t", "owner": "x"}', {"token": "t", "owner": "x"}),
    ("[]", None),
    ('"text"', None),
    ("{broken", None),
    ("", None),
])
def test_read_owner_accepts_only_an_object(lock, content, expected):
    os.mkdir(lock)
    with open(os.path.join(lock, "owner.json"), "w") as fh:
        fh.write(content)
    assert read_owner(lock) == expected


def test_read_owner_of_an_absent_lock_is_none(lock):
    assert read_owner(lock) is None


# --- races between two deployers ----------------------------------------------------------------

def observed_first(monkeypatch, owner):
    """Make the next acquire's first read_owner (its observation) return `owner`: it looked
    before another deployer replaced the lock. Every later read sees the disk."""
    real, calls = module.read_owner, []

    def fake(lock_dir):
        calls.append(lock_dir)
        return owner if len(calls) == 1 else real(lock_dir)

    monkeypatch.setattr(module, "read_owner", fake)
    return calls


def test_two_deployers_on_the_same_stale_lock_cannot_both_take_it(lock, monkeypatch):
    stale = {"owner": "old@laptop", "token": "0" * 32, "epoch": NOW - 2 * STALE}
    plant(lock, stale)
    token_a, took_over = acquire(lock, {"owner": "a"}, STALE, now=NOW)
    assert took_over == stale
    # B observed the stale lock before A replaced it, and goes on with its takeover.
    calls = observed_first(monkeypatch, stale)
    with pytest.raises(Held) as held:
        acquire(lock, {"owner": "b"}, STALE, now=NOW)
    assert len(calls) >= 2  # B did reach the check after its rename
    assert held.value.holder["token"] == token_a and held.value.holder["owner"] == "a"
    monkeypatch.undo()
    assert read_owner(lock)["token"] == token_a
    assert leftovers(lock) == []
    assert release(lock, token_a) is True


def test_a_takeover_never_removes_a_lock_that_is_being_created(lock, monkeypatch):
    # Both deployers find the same stale lock WITHOUT owner.json. B computes its age; then A
    # takes the lock over and has made its new directory but not yet written owner.json.
    # B's rename now moves A's directory: having no owner.json either, it must not pass for
    # the stale one (A would go on believing it holds the lock).
    # Real time here: A's new directory gets the real clock's mtime.
    now = time.time()
    plant(lock, mtime=now - 2 * STALE)
    real_age, calls = module.lock_age, []

    def age_then_a_takes_over(lock_dir, owner, now):
        age = real_age(lock_dir, owner, now)
        calls.append(age)
        if len(calls) == 1:
            os.rename(lock_dir, lock_dir + ".stale-a")
            os.rmdir(lock_dir + ".stale-a")
            os.mkdir(lock_dir)  # A, between its mkdir and its owner.json
        return age

    monkeypatch.setattr(module, "lock_age", age_then_a_takes_over)
    with pytest.raises(Held):
        acquire(lock, {"owner": "b"}, STALE, now=now)
    assert calls[0] >= 2 * STALE  # B did find the old lock stale
    assert os.path.isdir(lock) and read_owner(lock) is None  # A's directory is back in place
    assert leftovers(lock) == []


# --- release -------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "f" * 32])
def test_release_without_the_owner_token_keeps_the_lock(lock, token):
    mine, _ = acquire(lock, INFO, STALE, now=NOW)
    assert release(lock, token) is False
    assert read_owner(lock)["token"] == mine


def test_release_with_the_token_removes_the_lock(lock):
    token, _ = acquire(lock, INFO, STALE, now=NOW)
    assert release(lock, token) is True
    assert not os.path.exists(lock)
    assert release(lock, token) is False  # already gone


def test_release_never_removes_a_lock_without_owner_json(lock):
    plant(lock)
    assert release(lock, "anything") is False
    assert os.path.isdir(lock)


# --- backup floor --------------------------------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    ({"lock_wait_seconds": 900, "run_timeout_seconds": 10800}, 900 + 10800 + 600),
    ({"lock_wait_seconds": "900", "run_timeout_seconds": "3600", "other": 1}, 900 + 3600 + 600),
    ({"run_timeout_seconds": 3600}, 900 + 3600 + 600),
    ({}, 900 + 10800 + 600),  # a configuration without the keys: credinet-backup's own defaults
    ({"lock_wait_seconds": "soon"}, 0),
    ({"lock_wait_seconds": None}, 0),
    ([900, 3600], 0),
    ("900", 0),
])
def test_backup_floor_from_the_backup_settings(tmp_path, content, expected):
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(content))
    assert backup_floor(str(path)) == expected


@pytest.mark.parametrize("text", [None, "", "{not json", "\x00\x01"])
def test_backup_floor_of_a_missing_or_unreadable_file_is_zero(tmp_path, text):
    path = tmp_path / "backup.json"
    if text is not None:
        path.write_text(text)
    assert backup_floor(str(path)) == 0


# --- the module ----------------------------------------------------------------------------------

def test_module_acquires_and_releases(tmp_path, capsys):
    path = str(tmp_path / "state" / "lock")  # the parent is made when missing
    code, out = run_module(module, {"path": path, "state": "acquired", "owner": "ana", "target": "abc", "ref": "main"}, capsys)
    assert code == 0 and out["changed"] is False and out["took_over"] is None and out["stale_after"] == 1800
    owner = read_owner(path)
    assert owner["token"] == out["token"] and (owner["owner"], owner["target"], owner["ref"]) == ("ana", "abc", "main")
    code, again = run_module(module, {"path": path, "state": "released", "token": "wrong"}, capsys)
    assert code == 0 and again["released"] is False and os.path.isdir(path)
    code, again = run_module(module, {"path": path, "state": "released", "token": out["token"]}, capsys)
    assert code == 0 and again["released"] is True and not os.path.exists(path)


def test_module_failure_names_the_host_and_the_holder(lock, capsys):
    plant(lock, {"owner": "luis@desk", "token": "1" * 32, "epoch": time.time() - 120, "time": "2026-11-29T10:00:00-0600",
                 "target": "def456"})
    code, out = run_module(module, {"path": lock, "state": "acquired", "owner": "ana", "host": "credicuenta3"}, capsys)
    assert code == 1
    assert "credicuenta3" in out["msg"] and "luis@desk" in out["msg"]
    assert "2026-11-29T10:00:00-0600" in out["msg"] and "def456" in out["msg"] and lock in out["msg"]
    assert out["holder"]["owner"] == "luis@desk"
    assert read_owner(lock)["owner"] == "luis@desk"


def test_module_stale_age_is_raised_to_the_backup_floor(tmp_path, lock, capsys):
    # floor = 900 + 3600 + 600 = 5100 s > stale_after 1800 s; the lock is 3000 s old: between both.
    config = tmp_path / "backup.json"
    config.write_text(json.dumps({"lock_wait_seconds": 900, "run_timeout_seconds": 3600}))
    plant(lock, {"owner": "luis@desk", "token": "1" * 32, "epoch": time.time() - 3000})
    args = {"path": lock, "state": "acquired", "owner": "ana", "host": "h", "stale_after": 1800}
    code, out = run_module(module, dict(args, backup_config=str(config)), capsys)
    assert code == 1 and out["stale_after"] == 5100 and "5100" in out["msg"]
    assert read_owner(lock)["owner"] == "luis@desk"
    # Without the backup settings the same lock is stale: the floor made the difference.
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["took_over"]["owner"] == "luis@desk" and out["stale_after"] == 1800


def test_module_stale_after_above_the_floor_wins(tmp_path, lock, capsys):
    config = tmp_path / "backup.json"
    config.write_text(json.dumps({"lock_wait_seconds": 10, "run_timeout_seconds": 20}))
    code, out = run_module(module, {"path": lock, "state": "acquired", "stale_after": 7200, "backup_config": str(config)}, capsys)
    assert code == 0 and out["stale_after"] == 7200


def test_module_check_mode_takes_nothing(lock, capsys):
    code, out = run_module(module, {"path": lock, "state": "acquired", "_ansible_check_mode": True}, capsys)
    assert code == 0 and out["token"] == "" and out["holder"] is None
    assert not os.path.exists(lock)
