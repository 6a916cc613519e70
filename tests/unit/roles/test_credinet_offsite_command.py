"""roles/offsite/files/credinet-offsite against a fake rclone whose remote is a local folder.

The fake understands what the command runs (lsjson, copy, check/cryptcheck, delete with
--files-from-raw) and records every call; the real rclone and remotes run in Molecule.
"""
import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import fake_command, load_source, make_set
from credinet_ops import job, retention
from credinet_ops.manifest import FileEntry, Manifest

cmd = load_source("roles/offsite/files/credinet-offsite")
MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime.now(MX).replace(microsecond=0)

# What the fake rclone does after recording its call (conftest.fake_command).
FAKE_RCLONE = r'''
import filecmp, shutil

while args and args[0] in ("--config", "--retries", "--low-level-retries", "--contimeout", "--timeout"):
    args = args[2:]
command, args = args[0], args[1:]
flags = {}
rest = []
while args:
    if args[0] in ("--files-from-raw", "--bwlimit", "--min-age"):
        flags[args[0]], args = args[1], args[2:]
    elif args[0].startswith("-"):
        flags[args[0]], args = True, args[1:]
    else:
        rest, args = rest + [args[0]], args[1:]
listed = open(flags["--files-from-raw"]).read().split() if "--files-from-raw" in flags else []
if command == "lsjson":
    folder = rest[0]
    if not os.path.isdir(folder):
        sys.exit(3)
    print(json.dumps([{"Path": n, "Name": n, "Size": os.path.getsize(os.path.join(folder, n)), "IsDir": False}
                      for n in sorted(os.listdir(folder))]))
elif command == "copy":
    source, dest = rest
    os.makedirs(dest, exist_ok=True)
    for name in listed:
        if not ("--immutable" in flags and os.path.exists(os.path.join(dest, name))):
            shutil.copyfile(os.path.join(source, name), os.path.join(dest, name))
elif command in ("check", "cryptcheck"):
    source, dest = rest
    bad = [n for n in listed if not os.path.exists(os.path.join(dest, n))
           or not filecmp.cmp(os.path.join(source, n), os.path.join(dest, n), shallow=False)]
    for name in bad:
        print("2026/11/29 02:00:00 ERROR : %s: files differ" % name, file=sys.stderr)
    sys.exit(1 if bad else 0)
elif command == "delete":
    for name in listed:
        os.unlink(os.path.join(rest[0], name))
else:
    sys.exit(2)
'''


def seal(directory, key):
    """Give a set's manifest the real sizes and hashes of its files (the fetch checks them)."""
    path = os.path.join(directory, key + ".manifest.json")
    manifest = Manifest.read(path)
    entries = {}
    for field in ("dump", "globals"):
        name = getattr(manifest, field).name
        full = os.path.join(directory, name)
        entries[field] = FileEntry(name, os.path.getsize(full), job.sha256_of(full))
    dataclasses.replace(manifest, **entries).write(path)


@pytest.fixture
def offsite(tmp_path):
    backup_dir, remote = tmp_path / "backups", tmp_path / "remote"
    backup_dir.mkdir()
    fake = fake_command(tmp_path, "rclone", FAKE_RCLONE)
    cfg = {"rclone": fake.path, "rclone_config": str(tmp_path / "rclone.conf"), "remote": str(remote),
           "backup_dir": str(backup_dir), "lock_file": str(tmp_path / "lock"), "state_dir": str(tmp_path / "state"),
           "metrics_dir": str(tmp_path / "metrics"), "notify_command": "", "tz": MX, "env": "prod",
           "retention": {"keep_days": 90, "min_good": 2, "max_deletes": 10}}
    cfg["calls"] = fake.calls
    return cfg


def run(cfg):
    return cmd.cmd_run(cfg, cmd.parser().parse_args(["run"]))


def sealed_set(cfg, moment, status="good"):
    key = make_set(Path(cfg["backup_dir"]), moment, status)
    if status == "good":
        seal(cfg["backup_dir"], key)
    return key


def notifications(cfg):
    return [json.loads(line) for line in Path(cfg["state_dir"], "notifications.jsonl").read_text().splitlines()]


class TestRun:
    def test_copies_complete_good_sets_only_and_reports(self, offsite):
        good = sealed_set(offsite, NOW - dt.timedelta(days=1))
        sealed_set(offsite, NOW - dt.timedelta(days=2), "failed")
        sealed_set(offsite, NOW - dt.timedelta(days=3), "incomplete")
        assert run(offsite) == 0
        assert sorted(os.listdir(offsite["remote"])) == sorted(
            [good + ".dump.zst", good + ".globals.sql.zst", good + ".manifest.json"])
        metrics = Path(offsite["metrics_dir"], "credinet_offsite.prom").read_text().splitlines()
        assert [m.rsplit(" ", 1)[1] for m in metrics if m.startswith("credinet_offsite_files_copied{")] == ["3"]
        assert notifications(offsite)[-1]["event"] == "offsite_completed"
        assert json.loads(Path(offsite["state_dir"], "offsite-state.json").read_text())["last_success"] > 0

    def test_a_second_run_copies_nothing_and_never_syncs(self, offsite):
        sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        calls = len(offsite["calls"]())
        assert run(offsite) == 0
        commands = [c[c.index("--timeout") + 2] for c in offsite["calls"]()[calls:]]
        assert "copy" not in commands and "sync" not in commands
        assert "cryptcheck" in commands

    def test_a_damaged_remote_copy_fails_the_run(self, offsite):
        key = sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        with open(os.path.join(offsite["remote"], key + ".dump.zst"), "wb") as fh:
            fh.write(b"bit rot")
        assert run(offsite) == 1
        last = notifications(offsite)[-1]
        assert last["event"] == "offsite_failed" and key + ".dump.zst" in last["text"]

    def test_local_pruning_never_deletes_offsite_history(self, offsite):
        old = sealed_set(offsite, NOW - dt.timedelta(days=40))
        sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        for name in os.listdir(offsite["backup_dir"]):
            if name.startswith(old):
                os.unlink(os.path.join(offsite["backup_dir"], name))
        assert run(offsite) == 0
        assert any(n.startswith(old) for n in os.listdir(offsite["remote"]))

    def test_offsite_retention_refuses_a_clock_jump(self, offsite):
        for days in (1, 2, 3):
            sealed_set(offsite, NOW - dt.timedelta(days=days))
        run(offsite)
        future = sealed_set(offsite, NOW + dt.timedelta(days=2))
        before = sorted(os.listdir(offsite["remote"]))
        assert run(offsite) == 1  # copied, then retention refused: nothing deleted
        assert "clock" in notifications(offsite)[-1]["text"]
        assert sorted(os.listdir(offsite["remote"])) == sorted(before + [future + ".dump.zst", future + ".globals.sql.zst",
                                                                         future + ".manifest.json"])


class TestPruneRemote:
    def test_old_sets_are_deleted_beyond_the_newest_good(self, offsite):
        for days in (1, 2, 100, 101):
            sealed_set(offsite, NOW - dt.timedelta(days=days))
        cmd.copy_and_verify(offsite)
        assert cmd.prune_remote(offsite) == 2
        assert len(os.listdir(offsite["remote"])) == 2 * 3
        (delete,) = [c for c in offsite["calls"]() if "delete" in c]
        assert delete[delete.index("--min-age") + 1] == "24h"

    def test_max_deletes_refuses(self, offsite):
        offsite["retention"] = {"keep_days": 30, "min_good": 1, "max_deletes": 1}
        for days in (1, 100, 101):
            sealed_set(offsite, NOW - dt.timedelta(days=days))
        cmd.copy_and_verify(offsite)
        with pytest.raises(retention.RetentionRefused, match="limit 1"):
            cmd.prune_remote(offsite)
        assert len(os.listdir(offsite["remote"])) == 3 * 3


class TestListingAndFetch:
    def test_a_missing_remote_folder_is_an_empty_listing(self, offsite):
        assert cmd.remote_listing(offsite) == []

    def test_an_rclone_failure_names_its_exit_code(self, offsite):
        offsite["rclone"] = "/bin/false"
        with pytest.raises(job.JobError, match="usage or configuration error.*exit 1"):
            cmd.remote_listing(offsite)

    def test_fetch_restores_a_verified_set(self, offsite, capsys):
        key = sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        shutil.rmtree(offsite["backup_dir"])
        assert cmd.cmd_fetch(offsite, cmd.parser().parse_args(["fetch"])) == 0
        assert capsys.readouterr().out.strip().endswith(key)
        assert sorted(os.listdir(offsite["backup_dir"])) == sorted(os.listdir(offsite["remote"]))
        assert all(oct(os.stat(os.path.join(offsite["backup_dir"], n)).st_mode & 0o777) == "0o600"
                   for n in os.listdir(offsite["backup_dir"]))

    def test_a_damaged_download_never_replaces_the_local_copy(self, offsite):
        key = sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        with open(os.path.join(offsite["remote"], key + ".dump.zst"), "wb") as fh:
            fh.write(b"damaged")
        local = Path(offsite["backup_dir"], key + ".dump.zst").read_bytes()
        with pytest.raises(job.JobError, match="does not match its manifest"):
            cmd.cmd_fetch(offsite, cmd.parser().parse_args(["fetch", key]))
        assert Path(offsite["backup_dir"], key + ".dump.zst").read_bytes() == local
        assert not [n for n in os.listdir(offsite["backup_dir"]) if n.startswith(".fetch-")]

    def test_a_fetch_removes_what_a_killed_fetch_left(self, offsite):
        key = sealed_set(offsite, NOW - dt.timedelta(days=1))
        run(offsite)
        stale = Path(offsite["backup_dir"], ".fetch-killed")
        stale.mkdir()
        (stale / (key + ".dump.zst")).write_bytes(b"partial")
        assert cmd.cmd_fetch(offsite, cmd.parser().parse_args(["fetch", key])) == 0
        assert not [n for n in os.listdir(offsite["backup_dir"]) if n.startswith(".fetch-")]

    def test_fetch_of_an_unknown_set(self, offsite):
        with pytest.raises(job.JobError, match="not on the remote"):
            cmd.cmd_fetch(offsite, cmd.parser().parse_args(["fetch", "credinet_nope"]))


class TestPureParts:
    def test_files_list_is_removed_even_on_error(self):
        with pytest.raises(RuntimeError), cmd.files_list(["a", "b c"]) as path:
            assert Path(path).read_text() == "a\nb c\n"
            raise RuntimeError
        assert not os.path.exists(path)

    def test_verify_download_needs_a_readable_manifest(self, tmp_path):
        key = make_set(tmp_path, NOW, "incomplete")
        backup = cmd.sets.scan(str(tmp_path))[0]
        with pytest.raises(job.JobError, match="downloaded %s: cannot read manifest" % key):
            cmd.verify_download(str(tmp_path), backup)

    def test_state_is_read_and_updated(self, offsite):
        assert cmd.state(offsite) == {}
        assert cmd.state(offsite, {"last_success": 5}) == {"last_success": 5}
        assert cmd.state(offsite, {"other": 1}) == {"last_success": 5, "other": 1}

    def test_check_config(self, tmp_path, capsys):
        path = tmp_path / "offsite.json"
        path.write_text(json.dumps({"rclone_config": "/etc/credinet/rclone.conf", "remote": "offsite:",
                                    "backup_dir": "/var/backups/credinet", "lock_file": "/l", "state_dir": "/s",
                                    "retention": {"keep_days": 90, "keep_years": 1}}))
        assert cmd.main(["check-config", str(path)]) == 1
        assert "unknown retention setting(s): keep_years" in capsys.readouterr().err
