"""roles/pitr/files/credinet-pitr: what it refuses before any change, the volume swap and the
offsite guard. Docker, pgBackRest and rclone are replaced by recorders here; the real ones run
in Molecule scenario `pitr`."""
import argparse
import datetime as dt
import json
import os
import zoneinfo
from pathlib import Path

import pytest

from conftest import load_source
from credinet_ops import job

cmd = load_source("roles/pitr/files/credinet-pitr")
MX = zoneinfo.ZoneInfo("America/Mexico_City")


@pytest.fixture
def cfg(tmp_path):
    return {"compose_project": "credinet", "db_service": "postgres", "db_user": "credinet", "db_name": "credinet",
            "db_volume": "credinet_pgdata", "stanza": "credinet", "image": "credinet-postgres-pitr:abc",
            "repo_dir": str(tmp_path / "repo"), "pgbackrest_conf": "/etc/credinet/pgbackrest.conf",
            "data_dir": "/var/lib/postgresql/data", "lock_file": str(tmp_path / "pitr.lock"),
            "offsite_lock_file": str(tmp_path / "offsite.lock"), "state_dir": str(tmp_path / "state"),
            "repo_uid": os.getuid(), "repo_gid": os.getgid(), "tz": MX, "critical_tables": ["payments"],
            "offsite": {"enabled": True, "rclone_config": "/etc/credinet/rclone.conf", "remote": "offsite:pgbackrest",
                        "staging_dir": str(tmp_path / "staging")}}


@pytest.fixture
def calls(monkeypatch):
    """Every docker / external command the command would run (none may run in these tests
    unless a test allows it)."""
    seen = []

    def refuse(argv, **_kw):
        seen.append(argv)
        raise AssertionError("unexpected command: %s" % argv)

    monkeypatch.setattr(cmd.pg, "run", refuse)
    return seen


def restore_args(target, yes=True, source="local"):
    return argparse.Namespace(target=target, yes=yes, source=source)


@pytest.mark.parametrize("target", ["2026-13-01 10:00:00", "mañana", "2999-01-01 00:00:00", "2026-12-04"])
def test_a_restore_to_an_unusable_time_changes_nothing(cfg, calls, target):
    with pytest.raises(job.JobError, match="Nothing was changed"):
        cmd.cmd_restore(cfg, restore_args(target))
    assert calls == []
    assert not os.path.exists(cfg["lock_file"])


def test_a_restore_needs_yes(cfg, calls):
    with pytest.raises(job.JobError, match="--yes"):
        cmd.cmd_restore(cfg, restore_args("latest", yes=False))
    assert calls == []


def make_volume(root, name, content=None):
    data = root / name / "_data"
    data.mkdir(parents=True)
    if content:
        (data / "PG_VERSION").write_text(content)
    return str(data)


@pytest.fixture
def volumes(tmp_path, monkeypatch):
    root = tmp_path / "volumes"
    mounts = {"live": make_volume(root, "live", "old"), "fresh": make_volume(root, "fresh", "restored"),
              "prev": make_volume(root, "prev")}
    removed = []
    monkeypatch.setattr(cmd, "volume_mountpoint", lambda name: mounts[name])
    monkeypatch.setattr(cmd, "docker", lambda *a, **kw: removed.append(a))
    return mounts, removed


def test_the_swap_trades_data_directories(cfg, volumes):
    mounts, removed = volumes
    cmd.trade_data(cfg, "live", "fresh", "prev")
    assert (Path(mounts["live"]) / "PG_VERSION").read_text() == "restored"
    assert (Path(mounts["prev"]) / "PG_VERSION").read_text() == "old"
    assert os.listdir(mounts["fresh"]) == []
    assert ("volume", "rm", "fresh") in removed
    # The journal of a swap in progress is gone once it is done.
    assert not os.path.exists(os.path.join(cfg["state_dir"], "pitr-swap.json"))


def test_a_failed_second_rename_puts_the_live_data_back(cfg, volumes, monkeypatch):
    mounts, _ = volumes
    real_rename = os.rename

    def rename(src, dst):
        if src == mounts["fresh"]:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(cmd.os, "rename", rename)
    with pytest.raises(OSError):
        cmd.trade_data(cfg, "live", "fresh", "prev")
    assert (Path(mounts["live"]) / "PG_VERSION").read_text() == "old"
    assert (Path(mounts["fresh"]) / "PG_VERSION").read_text() == "restored"


def test_a_swap_across_filesystems_is_refused_before_any_rename(cfg, volumes, monkeypatch):
    mounts, _ = volumes
    monkeypatch.setattr(cmd, "volume_mountpoint", lambda name: "/mnt/nfs/x" if name == "fresh" else mounts[name])
    with pytest.raises(job.JobError, match="cannot swap"):
        cmd.trade_data(cfg, "live", "fresh", "prev")
    assert (Path(mounts["live"]) / "PG_VERSION").read_text() == "old"


@pytest.mark.parametrize("info", [
    [],
    [{"name": "credinet", "status": {"code": 1, "message": "missing stanza path"}, "backup": []}],
    [{"name": "credinet", "status": {"code": 0, "message": "ok"}, "backup": []}],
])
def test_offsite_never_mirrors_a_repository_without_backups(cfg, calls, monkeypatch, info):
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("c1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: True)
    monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: info)
    with pytest.raises(job.JobError, match="nothing copied or removed offsite"):
        cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert calls == []


def test_offsite_copies_data_before_info_and_prunes_only_when_asked(cfg, monkeypatch):
    info = [{"name": "credinet", "status": {"code": 0, "message": "ok"},
             "backup": [{"type": "full", "timestamp": {"stop": 1}}]}]
    monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: info)
    monkeypatch.setattr(cmd, "write_metrics", lambda _cfg: None)
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("c1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: True)
    monkeypatch.setattr(cmd, "same_cluster", lambda *_a: None)
    seen = []
    monkeypatch.setattr(cmd.pg, "run", lambda argv, **kw: seen.append(argv[3:]))
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=False))
    assert [c[0] for c in seen] == ["copy", "copy"]
    assert "--exclude" in seen[0] and "*.info" in seen[0] and "--include" in seen[1]
    seen.clear()
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert [c[0] for c in seen] == ["copy", "copy", "sync"]
    assert "*.pgbackrest.tmp" in seen[2]
    state = json.loads((Path(cfg["state_dir"]) / "pitr-offsite.json").read_text())
    assert state["last_success"] > 0


@pytest.mark.parametrize("command", ["backup", "check", "offsite"])
def test_jobs_of_a_database_that_does_not_archive_are_skipped(cfg, monkeypatch, calls, command):
    """A restart production has not allowed yet: logged, not failed (the metrics alert on it)."""
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("c1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: False)
    args = argparse.Namespace(type="diff", prune=True)
    assert cmd.COMMANDS[command](cfg, args) == 0
    assert calls == []


INFO_FILE = "[backrest]\nbackrest-format=5\n\n[db]\ndb-id=1\ndb-system-id=%d\ndb-version=\"17\"\n"


class Proc:
    def __init__(self, rc, stdout=b""):
        self.returncode, self.stdout = rc, stdout


@pytest.mark.parametrize(("remote", "refused"), [(None, False), (111, False), (222, True)])
def test_offsite_refuses_to_copy_over_another_clusters_history(cfg, monkeypatch, remote, refused):
    info_dir = Path(cfg["repo_dir"]) / "backup" / "credinet"
    info_dir.mkdir(parents=True)
    (info_dir / "backup.info").write_text(INFO_FILE % 111)
    answer = Proc(1) if remote is None else Proc(0, (INFO_FILE % remote).encode())
    monkeypatch.setattr(cmd.pg, "run", lambda argv, **kw: answer)
    if refused:
        with pytest.raises(job.JobError, match="another database cluster"):
            cmd.same_cluster(cfg, "offsite:pgbackrest")
    else:
        cmd.same_cluster(cfg, "offsite:pgbackrest")


def test_check_config(tmp_path, cfg, capsys):
    good = {k: v for k, v in cfg.items() if k != "tz"}
    path = tmp_path / "pitr.json"
    path.write_text(json.dumps(good))
    assert cmd.cmd_check_config(None, argparse.Namespace(file=str(path))) == 0
    bad = dict(good, image="", offsite=dict(good["offsite"], remote=""))
    path.write_text(json.dumps(bad))
    assert cmd.cmd_check_config(None, argparse.Namespace(file=str(path))) == 1
    err = capsys.readouterr().err
    assert "image is missing" in err and "offsite.remote is missing" in err


def test_restore_side_leaves_nothing_behind_when_recovery_fails(cfg, monkeypatch):
    seen = []

    def docker(*args, **_kw):
        seen.append(args)
        if args[:2] == ("run", "--rm") and "restore" in args:
            raise job.JobError("pgbackrest restore failed: unable to find backup set")

    monkeypatch.setattr(cmd, "docker", docker)
    monkeypatch.setattr(cmd, "check_space", lambda *_a: None)
    monkeypatch.setattr(cmd.job, "now", lambda _cfg: dt.datetime(2026, 12, 4, 10, 0, tzinfo=MX))
    with pytest.raises(job.JobError, match="unable to find"):
        cmd.restore_side(cfg, None, cfg["repo_dir"], "pitr-drill")
    assert ("volume", "rm", "-f", "credinet-pitr-drill-20261204T100000") in seen


def test_a_restore_that_would_fill_the_disk_is_refused_before_any_change(cfg, monkeypatch, tmp_path):
    info = [{"name": "credinet", "status": {"code": 0}, "backup": [{"type": "full", "info": {"size": 1 << 60}}]}]
    monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: info)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    (tmp_path / "volumes" / "live" / "_data").mkdir(parents=True)
    monkeypatch.setattr(cmd, "volume_mountpoint", lambda _name: str(tmp_path / "volumes" / "live" / "_data"))
    with pytest.raises(job.JobError, match="not enough free space"):
        cmd.check_space(cfg, cfg["repo_dir"], "live")
