"""roles/pitr/files/credinet-pitr: what it refuses before any change, the volume swap and the
offsite guard. Docker, pgBackRest and rclone are replaced by recorders here; the real ones run
in Molecule scenario `pitr`."""
import argparse
import datetime as dt
import json
import os
import time
import zoneinfo
from pathlib import Path

import pytest

from conftest import load_source
from credinet_ops import job

cmd = load_source("roles/pitr/files/credinet-pitr")
MX = zoneinfo.ZoneInfo("America/Mexico_City")
TIMELINES = {"timeline": 2, "parent": 1, "bound": None, "system_id": 7}


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


def restore_args(target, yes=True, source="local", discard=False, timeline=None):
    return argparse.Namespace(target=target, yes=yes, source=source, discard_unarchived=discard, timeline=timeline)


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
    compared = [True]
    monkeypatch.setattr(cmd, "offsite_guard", lambda *_a: compared[0])
    # The oldest full kept here is older than the recovery window (14 days): retention had reason to expire.
    record = [{"label": label, "db_id": 1, "start": "000000010000000000000010", "stop": stop}
              for label, stop in ((FULL, time.time() - 15 * 86400), ("20261206-013001F", time.time()))]
    cmd.write_state(cfg, cmd.MADE_RECORD, {"backups": record})
    info_dir = Path(cfg["repo_dir"]) / "backup" / "credinet"
    info_dir.mkdir(parents=True)
    (info_dir / "backup.info").write_text(BACKUP_INFO % (111, FULL))
    seen = []

    expired, lost = "20261122-013001F/backup.manifest", FULL + "/pg_data/base/1/123.zst"

    def rclone(argv, **_kw):
        seen.append(argv[3:])
        if argv[3] == "lsf":
            return Proc(0, ("backup/credinet/%s\nbackup/credinet/%s\n" % (expired, lost)).encode())
        if argv[3] == "delete":
            deleted.append(Path(argv[-1]).read_text())
            return Proc(0)
        if argv[3] == "copy" and argv[4] == cfg["repo_dir"]:
            # A backup finishing while the data files go up: its info must not go up this time.
            (info_dir / "backup.info").write_text(BACKUP_INFO % (111, FULL + "={}\n20261206-013001F"))
        else:
            assert not (Path(argv[4]) / "prune.list").exists()  # the deletion list never goes offsite
            uploaded.append((Path(argv[4]) / "backup" / "credinet" / "backup.info").read_text())

    uploaded, deleted = [], []
    monkeypatch.setattr(cmd.pg, "run", rclone)
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=False))
    assert [c[0] for c in seen] == ["copy", "copy"]
    assert "*.info" in seen[0] and seen[1][1] != cfg["repo_dir"]
    assert "20261206-013001F" not in uploaded[0]
    seen.clear()
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert [c[0] for c in seen] == ["copy", "lsf", "delete", "copy"]
    # Two fulls here now (retention 2): only the older, expired backup's file goes; a kept backup's
    # file missing here (lost, not expired) stays. The offsite backup.info is not consulted: the
    # 5-minute copies have replaced it long before the daily prune.
    assert deleted == ["backup/credinet/%s\n" % expired]
    assert list(Path(cfg["state_dir"]).glob("pitr-info-*")) == []  # the snapshot is removed
    state = json.loads((Path(cfg["state_dir"]) / "pitr-offsite.json").read_text())
    assert state["last_success"] > 0
    # No offsite history compared before the copy (absent, unreadable): copied, nothing removed.
    seen.clear()
    compared[0] = False
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert [c[0] for c in seen] == ["copy", "copy"]
    # Fulls this host did not record making count for nothing: nothing removed.
    seen.clear()
    compared[0] = True
    cmd.write_state(cfg, cmd.MADE_RECORD, {"backups": record[1:]})
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert [c[0] for c in seen] == ["copy", "copy"]
    # An unreadable record is no record.
    seen.clear()
    (Path(cfg["state_dir"]) / cmd.MADE_RECORD).write_text('["not", "an object"]')
    cmd.cmd_offsite(cfg, argparse.Namespace(prune=True))
    assert [c[0] for c in seen] == ["copy", "copy"]


def test_a_backup_run_records_the_one_backup_it_made(cfg, monkeypatch):
    """Label and WAL start of the new backup go to root's state folder (the prune's source), read
    before and after the backup; anything unclear (no info, several new labels, a broken record)
    records nothing and fails no backup; expired backups leave the record."""
    def entry(label):
        return {"label": label, "type": "full", "archive": {"start": "000000010000000000000010"}, "database": {"id": 1}}

    listed = []
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("c1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: True)
    monkeypatch.setattr(cmd, "write_metrics", lambda _cfg: None)

    def backup(*a, **_kw):
        if listed[0] is not None:
            listed[0] = listed[0] + [entry(next_label.pop(0))]

    def repo_info(_cfg, repo_dir=None):
        if listed[0] is None:
            raise job.JobError("boom")
        return [{"name": "credinet", "backup": list(listed[0])}]

    monkeypatch.setattr(cmd, "exec_pgbackrest", backup)
    monkeypatch.setattr(cmd, "repo_info", repo_info)

    def run(before, labels):
        listed[:] = [before]
        next_label[:] = labels
        assert cmd.cmd_backup(cfg, argparse.Namespace(type="full")) == 0

    def recorded():
        return [e["label"] for e in cmd.read_state(cfg, cmd.MADE_RECORD).get("backups", [])]

    next_label = []
    run([], [FULL])
    assert recorded() == [FULL]
    run(None, ["20261206-013001F"])                                  # no info: nothing recorded
    assert recorded() == [FULL]
    run([entry(FULL), entry("20261207-013001F")], ["20261208-013001F"])
    assert recorded() == [FULL, "20261208-013001F"]
    run([entry("20261208-013001F")], ["20261215-013001F"])           # FULL expired: it leaves the record
    assert recorded() == ["20261208-013001F", "20261215-013001F"]
    (Path(cfg["state_dir"]) / cmd.MADE_RECORD).write_text("{broken")
    run([entry("20261215-013001F")], ["20261222-013001F"])
    assert recorded() == ["20261222-013001F"]
    (Path(cfg["state_dir"]) / cmd.MADE_RECORD).unlink()
    (Path(cfg["state_dir"]) / cmd.MADE_RECORD).mkdir()             # unwritable: logged, the backup still passes
    run([entry("20261222-013001F")], ["20261229-013001F"])


@pytest.mark.parametrize("command", ["backup", "check", "offsite"])
def test_jobs_of_a_database_that_does_not_archive_are_skipped(cfg, monkeypatch, calls, command):
    """A restart production has not allowed yet: logged, not failed (the metrics alert on it)."""
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("c1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: False)
    args = argparse.Namespace(type="diff", prune=True)
    assert cmd.COMMANDS[command](cfg, args) == 0
    assert calls == []


INFO_FILE = "[backrest]\nbackrest-format=5\n\n[db]\ndb-id=1\ndb-system-id=%d\ndb-version=\"17\"\n"
BACKUP_INFO = "[backrest]\nbackrest-format=5\n\n[backup:current]\n%s\n\n[db]\ndb-id=1\ndb-system-id=%d\n"
BACKUP_INFO = "[backrest]\nbackrest-format=5\n\n[db]\ndb-id=1\ndb-system-id=%d\n\n[backup:current]\n%s={}\n"
FULL = "20261129-013001F"


class Proc:
    def __init__(self, rc, stdout=b""):
        self.returncode, self.stdout = rc, stdout


@pytest.mark.parametrize(("answer", "outcome"), [
    (Proc(3), False),                                             # directory not found: nothing there yet
    (Proc(4), False),                                             # file not found
    (Proc(0, (BACKUP_INFO % (111, FULL)).encode()), True),        # the same history: compared, a prune may follow
    (Proc(0, (INFO_FILE % 111).encode()), False),                 # no backup section yet
    (Proc(0, b"garbage"), False),                                 # nothing to compare with
    (Proc(0, (BACKUP_INFO % (222, FULL)).encode()), "another database cluster"),
    (Proc(1), "cannot read"),                                     # a rate limit is not "absent"
    (Proc(5), "cannot read"),
    # A wiped repository made again: the offsite one lists older backups retention did not remove.
    (Proc(0, (BACKUP_INFO % (111, "20261115-013001F={}\n20261122-013001F")).encode()), "no reason to remove"),
])
def test_offsite_guard(cfg, monkeypatch, tmp_path, answer, outcome):
    """Refusals (a message), else whether the offsite history was compared (only then a prune)."""
    info_dir = tmp_path / "snap" / "backup" / "credinet"
    info_dir.mkdir(parents=True)
    (info_dir / "backup.info").write_text(BACKUP_INFO % (111, FULL))
    monkeypatch.setattr(cmd.pg, "run", lambda argv, **kw: answer)
    if isinstance(outcome, str):
        with pytest.raises(job.JobError, match=outcome) as err:
            cmd.offsite_guard(cfg, "offsite:pgbackrest", str(tmp_path / "snap"))
        assert "nothing copied or removed" in str(err.value)
    else:
        assert cmd.offsite_guard(cfg, "offsite:pgbackrest", str(tmp_path / "snap")) is outcome


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
        return Proc(0)

    monkeypatch.setattr(cmd, "docker", docker)
    monkeypatch.setattr(cmd, "check_space", lambda *_a: None)
    monkeypatch.setattr(cmd, "plan_restore", lambda *_a: {"timeline": 1, "set": "20261204-031500F", "newest": None,
                                                         "epoch": None})
    monkeypatch.setattr(cmd.job, "now", lambda _cfg: dt.datetime(2026, 12, 4, 10, 0, tzinfo=MX))
    with pytest.raises(job.JobError, match="unable to find"):
        cmd.restore_side(cfg, None, cfg["repo_dir"], "pitr-drill")
    assert ("volume", "rm", "-f", "credinet-pitr-drill-20261204T100000") in seen
    # The restoring container has a name, so a timeout (which kills only the client) cannot leave it running.
    assert ("rm", "-f", "-v", "credinet-pitr-drill-20261204T100000-restore") in seen


def test_a_restore_that_would_fill_the_disk_is_refused_before_any_change(cfg, monkeypatch, tmp_path):
    info = [{"name": "credinet", "status": {"code": 0}, "backup": [{"type": "full", "info": {"size": 1 << 60}}]}]
    monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: info)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    (tmp_path / "volumes" / "live" / "_data").mkdir(parents=True)
    monkeypatch.setattr(cmd, "volume_mountpoint", lambda _name: str(tmp_path / "volumes" / "live" / "_data"))
    with pytest.raises(job.JobError, match="not enough free space"):
        cmd.check_space(cfg, cfg["repo_dir"], "live")


def live_restore(cfg, monkeypatch, running=True, archiving=True, ready=0, oldest=1):
    """cmd_restore's surroundings: a stack and a repository; every docker call recorded."""
    seen = []
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("db1", running))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: archiving)
    monkeypatch.setattr(cmd, "data_volume", lambda *_a: "credinet_pgdata")
    monkeypatch.setattr(cmd, "stopped_data", lambda *_a: (True, ready))
    monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: [
        {"name": "credinet", "status": {"code": 0, "message": "ok"},
         "backup": [{"type": "full", "timestamp": {"stop": oldest}}]}])
    monkeypatch.setattr(cmd, "project_containers", lambda _cfg, running_only: ["db1", "backend1"])
    monkeypatch.setattr(cmd.job, "now", lambda _cfg: dt.datetime(2026, 12, 4, 10, 0, tzinfo=MX))
    monkeypatch.setattr(cmd, "docker", lambda *args, **_kw: seen.append(args) or Proc(0))
    monkeypatch.setattr(cmd, "plan_restore", lambda *_a, **_kw: {"timeline": 1, "set": F1["label"]})
    monkeypatch.setattr(cmd, "live_timeline", lambda *_a: 1)
    monkeypatch.setattr(cmd, "psql", lambda *_a, **_kw: "000000010000000000000005|0/5000000")
    return seen


@pytest.mark.parametrize("running, archiving, ready, fragment", [
    (False, True, 2, "the WAL segment it was writing and 2 more never archived"),
    (False, True, 0, "start the database to recover everything"),
    (True, False, 0, "does not run the archiving image"),
])
def test_latest_that_would_silently_drop_unarchived_data_is_refused(cfg, monkeypatch, running, archiving, ready,
                                                                     fragment):
    seen = live_restore(cfg, monkeypatch, running, archiving, ready)
    with pytest.raises(job.JobError, match=fragment) as err:
        cmd.cmd_restore(cfg, restore_args("latest"))
    assert str(err.value).endswith("Nothing was changed.")
    assert seen == []
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: (_ for _ in ()).throw(job.JobError("got past the refusal")))
    with pytest.raises(job.JobError, match="got past the refusal"):
        cmd.cmd_restore(cfg, restore_args("latest", discard=True))


def test_a_target_before_the_oldest_backup_is_refused(cfg, monkeypatch):
    oldest = dt.datetime(2026, 11, 22, 3, 30, tzinfo=MX).timestamp()
    seen = live_restore(cfg, monkeypatch, oldest=oldest)
    with pytest.raises(job.JobError, match="earliest moment this repository reaches is 2026-11-22 03:30:00") as err:
        cmd.cmd_restore(cfg, restore_args("2026-11-22 03:29:59"))
    assert str(err.value).endswith("Nothing was changed.")
    assert seen == []


def test_a_failure_after_the_app_stopped_starts_it_again(cfg, monkeypatch):
    """`latest` stops the app before the last segment is archived: when that check fails, the app
    runs again on its untouched data."""
    seen = live_restore(cfg, monkeypatch)
    started = []
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: (_ for _ in ()).throw(job.JobError("check failed")))
    monkeypatch.setattr(cmd, "start_stack", lambda _cfg, cid, running: started.append((cid, running)))
    with pytest.raises(job.JobError, match="check failed"):
        cmd.cmd_restore(cfg, restore_args("latest"))
    assert ("stop", "-t", "60", "backend1") in seen
    assert started == [("db1", ["db1", "backend1"])]


def test_a_failure_to_start_after_the_swap_says_the_data_was_swapped(cfg, monkeypatch):
    live_restore(cfg, monkeypatch)
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: ("fresh", "fresh-side", {"payments": 3}, "2026-12-04T09:59:00",
                                                                 TIMELINES))
    monkeypatch.setattr(cmd, "stop_side", lambda _name: None)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    monkeypatch.setattr(cmd, "trade_data", lambda *_a: None)

    def start_stack(_cfg, _cid, _running):
        raise job.JobError("the database did not accept connections")

    monkeypatch.setattr(cmd, "start_stack", start_stack)
    with pytest.raises(job.JobError, match="data WAS swapped .*credinet-before-pitr-20261204T100000"):
        cmd.cmd_restore(cfg, restore_args("latest"))
    record = json.loads((Path(cfg["state_dir"]) / "pitr-restores.jsonl").read_text())
    assert record["previous_volume"] == "credinet-before-pitr-20261204T100000"


def test_seeding_moves_the_offsite_copy_in_and_sets_the_old_repository_aside(cfg, monkeypatch, tmp_path):
    repo, staging = Path(cfg["repo_dir"]), Path(cfg["offsite"]["staging_dir"])
    (repo / "archive").mkdir(parents=True)
    (repo / "archive" / "new-cluster.wal").write_text("new")
    for part in ("archive", "backup"):
        (staging / part).mkdir(parents=True)
        (staging / part / (part + ".info")).write_text(part)
    moved = []
    real_move = cmd.shutil.move
    monkeypatch.setattr(cmd.shutil, "move", lambda src, dst: moved.append(os.path.basename(src)) or real_move(src, dst))
    monkeypatch.setattr(cmd.job, "now", lambda _cfg: dt.datetime(2026, 12, 4, 10, 0, tzinfo=MX))
    cmd.seed_local_repo(cfg, str(staging))
    assert sorted(p.name for p in repo.iterdir()) == ["archive", "backup"]
    assert (repo / "backup" / "backup.info").read_text() == "backup"
    aside = tmp_path / "pgbackrest-set-aside-20261204T100000"
    assert (aside / "archive" / "new-cluster.wal").read_text() == "new"
    assert moved[-2:] == ["archive", "backup"]  # backup/ (its info files) last


@pytest.mark.parametrize("seed", [True, False])
def test_latest_from_the_offsite_copy(cfg, monkeypatch, seed):
    """Seeding (a rebuilt host) happens only after the swap; a local repository of the same
    cluster has newer WAL than the copy, so `latest` from the copy is refused."""
    seen = live_restore(cfg, monkeypatch)
    order = []
    monkeypatch.setattr(cmd, "stop_offsite_units", lambda _cfg: order.append("stop units"))
    monkeypatch.setattr(cmd, "fetch_offsite", lambda _cfg: order.append("fetch") or "/staging")
    monkeypatch.setattr(cmd.pitr, "seed_needed", lambda *_a: seed)
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda _cfg, _t, repo_dir, *_a: order.append("restore from " + repo_dir)
                        or ("fresh", "fresh-side", {}, "-", TIMELINES))
    monkeypatch.setattr(cmd, "stop_side", lambda _name: None)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    monkeypatch.setattr(cmd, "trade_data", lambda *_a: order.append("swap"))
    monkeypatch.setattr(cmd, "seed_local_repo", lambda _cfg, staging: order.append("seed " + staging))
    monkeypatch.setattr(cmd, "start_stack", lambda *_a: order.append("start"))
    monkeypatch.setattr(cmd.subprocess, "run", lambda *_a, **_kw: None)
    monkeypatch.setattr(cmd.job, "Outcome", lambda *_a: argparse.Namespace(report=lambda: None))
    monkeypatch.setattr(cmd.job, "message", lambda *_a, **_kw: "")
    if not seed:
        with pytest.raises(job.JobError, match="restore_from=local.*Nothing was changed"):
            cmd.cmd_restore(cfg, restore_args("latest", source="offsite"))
        assert order == ["stop units", "fetch"] and seen == []
        return
    assert cmd.cmd_restore(cfg, restore_args("latest", source="offsite")) == 0
    assert order == ["stop units", "fetch", "restore from /staging", "swap", "seed /staging", "start"]


def test_volumes_made_for_a_swap_that_never_began_are_removed(cfg, monkeypatch):
    seen = live_restore(cfg, monkeypatch)
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: ("fresh", "fresh-side", {}, "-", TIMELINES))
    monkeypatch.setattr(cmd, "stop_side", lambda _name: None)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: False)
    answers = iter([["db1", "backend1"]])

    def project_containers(_cfg, running_only):
        for answer in answers:  # the first call answers, the one just before the swap fails
            return answer
        raise job.JobError("docker ps failed")

    monkeypatch.setattr(cmd, "project_containers", project_containers)
    monkeypatch.setattr(cmd, "start_stack", lambda *_a: None)
    with pytest.raises(job.JobError, match="docker ps failed"):
        cmd.cmd_restore(cfg, restore_args("2026-12-04 09:00:00"))
    removed = [a[3] for a in seen if a[:3] == ("volume", "rm", "-f")]
    assert removed == ["fresh", "credinet-before-pitr-20261204T100000", "credinet_pgdata"]


# --- restore plans: timeline, backup set, holes (a repository tree as pgBackRest lays it out) ---------

UTC = dt.timezone.utc
T1 = dt.datetime(2026, 12, 1, 9, 51, 42, tzinfo=UTC)      # the first restore's target
T = dt.datetime(2026, 12, 1, 9, 51, 47, tzinfo=UTC)       # a later, better guess: between T1 and the swap
SWAP_1 = dt.datetime(2026, 12, 1, 9, 52, 0, tzinfo=UTC)   # the first restore's data went live
F1 = {"label": "20261208-035137F", "type": "full", "archive": {"start": "000000010000000000000002"},
      "lsn": {"start": "0/2000028", "stop": "0/2000100"},
      "timestamp": {"start": T1.timestamp() - 9, "stop": T1.timestamp() - 8}}
F2 = {"label": "20261208-035300F", "type": "full", "archive": {"start": "000000020000000000000006"},
      "lsn": {"start": "0/6000028", "stop": "0/6000100"},
      "timestamp": {"start": SWAP_1.timestamp() + 5, "stop": SWAP_1.timestamp() + 9}}


def plant_repo(cfg, segments, history_2=True, record=True):
    """The stanza's archive id folder with segments {tli: [numbers]}, timeline 2's history, and the
    record of when timeline 2 went live."""
    folder = Path(cfg["repo_dir"]) / "archive" / "credinet" / "15-1"
    for tli, numbers in segments.items():
        for n in numbers:
            name = "%08X%016X" % (tli, n)
            (folder / name[:16]).mkdir(parents=True, exist_ok=True)
            (folder / name[:16] / ("%s-%s.zst" % (name, "0" * 40))).write_text("wal")
    if history_2:
        (folder / "00000002.history").write_text("1\t0/3016668\tbefore 2026-12-01 09:51:43.41564+00\n\n")
    if record:
        (Path(cfg["repo_dir"]) / "credinet-timelines.json").write_text(json.dumps(
            {"timelines": [{"timeline": 2, "parent": 1, "live_from": SWAP_1.timestamp()}]}))


@pytest.fixture
def repo_info_of(cfg, monkeypatch):
    def set_backups(*backups):
        info = [{"name": "credinet", "status": {"code": 0, "message": "ok"}, "backup": list(backups),
                 "db": [{"id": 1, "version": "15", "system-id": 7}]}]
        monkeypatch.setattr(cmd, "repo_info", lambda _cfg, repo_dir=None: info)
        return info
    return set_backups


def utc_target(when):
    return when.strftime("%Y-%m-%d %H:%M:%S+00")


def test_a_second_restore_to_a_time_before_the_first_swap_follows_the_timeline_live_then(cfg, repo_info_of):
    """The defect: without --target-timeline recovery follows the newest timeline, stops at its
    fork and returns the first restore's point."""
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 5, 6, 7]})
    repo_info_of(F1, F2)
    plan = cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(T))
    assert (plan["timeline"], plan["set"]) == (1, F1["label"])
    later = cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(SWAP_1 + dt.timedelta(seconds=30)))
    assert (later["timeline"], later["set"]) == (2, F2["label"])
    latest = cmd.plan_restore(cfg, cfg["repo_dir"], None)
    assert (latest["timeline"], latest["set"], latest["newest"]) == (2, F2["label"], "000000020000000000000007")


def test_restore_passes_the_planned_set_and_timeline_to_pgbackrest(cfg, monkeypatch):
    seen = []
    monkeypatch.setattr(cmd, "throwaway_pgbackrest", lambda _cfg, _repo, *args, **_kw: seen.append(args))
    cmd.restore_into(cfg, "vol", "/repo", "2026-12-08 09:51:47+00", "name", {"timeline": 1, "set": F1["label"]})
    assert seen == [("--type=time", "--target=2026-12-08 09:51:47+00", "--target-action=promote",
                     "--set=" + F1["label"], "--target-timeline=1", "restore")]


def test_an_unrecorded_timeline_that_may_have_been_live_is_refused(cfg, repo_info_of):
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 5]}, record=False)
    repo_info_of(F1, F2)
    with pytest.raises(job.JobError, match="timeline 2 .*restore_target_timeline.*Nothing was changed"):
        cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(T))
    assert cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(T), timeline=1)["timeline"] == 1
    with pytest.raises(job.JobError, match="timeline 5 is not in the archive"):
        cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(T), timeline=5)


def test_latest_over_a_hole_in_the_archive_is_refused_before_any_change(cfg, repo_info_of):
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 6, 7]})
    repo_info_of(F1)
    with pytest.raises(job.JobError, match="segment 000000020000000000000005 is missing.*up to segment "
                                           "000000020000000000000007.*Nothing was changed"):
        cmd.plan_restore(cfg, cfg["repo_dir"], None)
    # A restore to a time before the hole is still possible.
    assert cmd.plan_restore(cfg, cfg["repo_dir"], utc_target(T))["set"] == F1["label"]


def test_the_recovery_end_is_checked_on_the_side_server(cfg, monkeypatch):
    answers = {"psql": "000000030000000000000003",
               "cat": "1\t0/3016668\tbefore 2026-12-01 09:51:43.41564+00\n\n2\t0/3016810\tbefore 2026-12-01 09:52:04+00\n"}
    monkeypatch.setattr(cmd, "psql", lambda *_a, **_kw: answers["psql"])
    monkeypatch.setattr(cmd, "docker", lambda *args, **_kw: Proc(0, answers["cat"].encode()))
    plan = {"timeline": 1, "epoch": T.timestamp(), "newest": None}
    with pytest.raises(job.JobError, match="ended on timeline 2.*not on timeline 1.*Nothing was swapped"):
        cmd.check_recovery_end(cfg, "side", plan, "credinet", "credinet")
    answers["cat"] = "1\t0/30167B8\tbefore 2026-12-01 09:51:47.538043+00\n"
    tli, bound = cmd.check_recovery_end(cfg, "side", plan, "credinet", "credinet")
    assert tli == 3 and bound == pytest.approx(T.timestamp() + 0.538043)
    # A history file that is no history (its text is never repeated in the error).
    answers["cat"] = "root:$6$secret:19000:0:99999:7:::\n"
    with pytest.raises(job.JobError, match=r"unreadable timeline history \(line 1\)") as err:
        cmd.check_recovery_end(cfg, "side", plan, "credinet", "credinet")
    assert "secret" not in str(err.value)


def record(cfg, tli, live_from, system_id=7):
    cmd.record_timeline(cfg, {"timeline": tli, "parent": 1, "live_from": live_from}, "2026-12-08 03:51:42", system_id)


def test_the_timeline_record_keeps_each_timeline_once_in_root_state_and_the_repository(cfg):
    os.makedirs(cfg["repo_dir"])
    record(cfg, 2, SWAP_1.timestamp())
    record(cfg, 3, SWAP_1.timestamp() + 60)
    record(cfg, 3, SWAP_1.timestamp() + 61)
    expected = {2: SWAP_1.timestamp(), 3: SWAP_1.timestamp() + 61}
    assert cmd.pitr.timeline_records(cmd.read_timeline_record(cfg["repo_dir"])) == expected
    assert cmd.timeline_record(cfg, cfg["repo_dir"], 7) == expected
    assert cmd.timeline_record(cfg, cfg["repo_dir"], 8) == {}  # another cluster's record
    assert oct(os.stat(os.path.join(cfg["repo_dir"], "credinet-timelines.json")).st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("text", ['{"timelines": 5}', '[1, 2]', '{"timelines": [{"timeline": "2", "live_from": 1}]}',
                                  '{"timelines": [{"live_from": 1}, {"timeline": true, "live_from": 1}]}',
                                  '{"timelines": [{"timeline": 2, "live_from": NaN}, {"timeline": 3, "live_from": true}]}',
                                  "not json"])
def test_a_rewritten_repository_record_is_ignored_and_rewritten(cfg, text):
    """The repository is writable by the database container: odd content never breaks the
    record of a new restore, nor counts."""
    os.makedirs(cfg["repo_dir"])
    Path(cfg["repo_dir"], "credinet-timelines.json").write_text(text)
    assert cmd.timeline_record(cfg, cfg["repo_dir"], 7) == {}
    record(cfg, 4, SWAP_1.timestamp())
    assert cmd.timeline_record(cfg, cfg["repo_dir"], 7) == {4: SWAP_1.timestamp()}


def test_links_and_fifos_planted_in_the_repository_are_not_followed(cfg, tmp_path):
    os.makedirs(cfg["repo_dir"])
    secret = tmp_path / "shadow"
    secret.write_text("root:secret\n")
    os.symlink(secret, os.path.join(cfg["repo_dir"], "credinet-timelines.json"))
    assert cmd.read_timeline_record(cfg["repo_dir"]) == ""
    record(cfg, 2, SWAP_1.timestamp())  # replaces the link, never writes through it
    assert secret.read_text() == "root:secret\n"
    assert not os.path.islink(os.path.join(cfg["repo_dir"], "credinet-timelines.json"))
    fifo = os.path.join(cfg["repo_dir"], "fifo")
    os.mkfifo(fifo)
    assert cmd.read_timeline_record(cfg["repo_dir"], "fifo") == ""  # at once, not blocked


def test_a_swapped_restore_records_its_timeline_in_the_repository(cfg, monkeypatch):
    live_restore(cfg, monkeypatch)
    os.makedirs(cfg["repo_dir"])
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: ("fresh", "fresh-side", {}, "-", {"timeline": 3, "parent": 1,
                                                                                "bound": None, "system_id": 7}))
    monkeypatch.setattr(cmd, "stop_side", lambda _name: None)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    monkeypatch.setattr(cmd, "trade_data", lambda *_a: None)
    monkeypatch.setattr(cmd, "start_stack", lambda *_a: None)
    monkeypatch.setattr(cmd.subprocess, "run", lambda *_a, **_kw: None)
    monkeypatch.setattr(cmd.job, "Outcome", lambda *_a: argparse.Namespace(report=lambda: None))
    monkeypatch.setattr(cmd.job, "message", lambda *_a, **_kw: "")
    before = time.time()
    assert cmd.cmd_restore(cfg, restore_args("2026-12-04 09:00:00")) == 0
    recorded = cmd.pitr.timeline_records(cmd.read_timeline_record(cfg["repo_dir"]))
    assert list(recorded) == [3] and recorded[3] >= before - 0.001  # milliseconds kept


def test_a_time_target_archives_the_old_timelines_last_segment_before_the_swap(cfg, monkeypatch):
    seen = live_restore(cfg, monkeypatch)
    checks = []
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda _cfg, cid, *args, **_kw: checks.append((cid, args, len(seen)))
                        or Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: ("fresh", "fresh-side", {}, "-", TIMELINES))
    monkeypatch.setattr(cmd, "stop_side", lambda _name: None)
    monkeypatch.setattr(cmd, "volume_exists", lambda _name: True)
    monkeypatch.setattr(cmd, "trade_data", lambda *_a: None)
    monkeypatch.setattr(cmd, "record_timeline", lambda *_a: None)
    monkeypatch.setattr(cmd, "start_stack", lambda *_a: None)
    monkeypatch.setattr(cmd.subprocess, "run", lambda *_a, **_kw: None)
    monkeypatch.setattr(cmd.job, "Outcome", lambda *_a: argparse.Namespace(report=lambda: None))
    monkeypatch.setattr(cmd.job, "message", lambda *_a, **_kw: "")
    cmd.cmd_restore(cfg, restore_args("2026-12-04 09:00:00"))
    assert [c[:2] for c in checks] == [("db1", ("check",))]
    stops = [i for i, a in enumerate(seen) if a[0] == "stop"]
    # The app stops first, the check archives with the database still up, then everything stops.
    assert seen[stops[0]] == ("stop", "-t", "60", "backend1") and stops[0] < checks[0][2] <= stops[1]
    assert seen[stops[1]] == ("stop", "-t", "60", "db1", "backend1")


def test_a_gap_starts_one_full_backup(cfg, monkeypatch, repo_info_of):
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 6, 7]})
    info = repo_info_of(F1)
    started = []
    monkeypatch.setattr(cmd.subprocess, "run", lambda argv, **_kw: started.append(argv))
    now = time.time()
    # Segments after the hole just arrived: async archive-push may still store the missing one.
    assert cmd.watch_gap(cfg, info, now) == 0 and started == []
    now += cmd.GAP_SETTLE_SECONDS + 1
    assert cmd.watch_gap(cfg, info, now) == 1
    assert cmd.watch_gap(cfg, info, now + 120) == 1  # the next metrics run: not again
    assert started == [["systemctl", "start", "--no-block", "credinet-pitr-full.service"]]
    assert cmd.watch_gap(cfg, info, now + 3700) == 1  # an hour later (the full failed): once more
    assert len(started) == 2
    plant_repo(cfg, {2: [5]})
    assert cmd.watch_gap(cfg, info, now + 3800) == 0


def test_no_backup_on_the_live_timelines_history_counts_as_a_gap(cfg, monkeypatch, repo_info_of):
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 5]})
    info = repo_info_of(F2)
    monkeypatch.setattr(cmd.subprocess, "run", lambda argv, **_kw: None)
    # Timeline 1 runs again (its volume switched back by hand): F2 of timeline 2 is no base for it.
    assert cmd.watch_gap(cfg, info, time.time(), tli=1) == 1


def test_a_gap_that_cannot_be_recorded_starts_no_full_backup(cfg, monkeypatch, repo_info_of):
    plant_repo(cfg, {1: [1, 2, 3, 4], 2: [3, 4, 6, 7]})
    info = repo_info_of(F1)
    started = []
    monkeypatch.setattr(cmd.subprocess, "run", lambda argv, **_kw: started.append(argv))
    monkeypatch.setattr(cmd, "write_state", lambda *_a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    assert cmd.watch_gap(cfg, info, time.time() + 120) == 1
    assert started == []


def test_the_drill_is_skipped_while_the_database_does_not_archive(cfg, monkeypatch):
    """Production waiting for its allowed restart: no false failure every Sunday."""
    monkeypatch.setattr(cmd, "live_db", lambda _cfg: ("db1", True))
    monkeypatch.setattr(cmd, "archiving_configured", lambda *_a: False)
    monkeypatch.setattr(cmd, "restore_side", lambda *_a: (_ for _ in ()).throw(AssertionError("restored")))
    assert cmd.cmd_drill(cfg, argparse.Namespace()) == 0
    assert not os.path.exists(os.path.join(cfg["state_dir"], "pitr-drill.json"))


def test_window_history_keeps_the_oldest_reach_and_a_drill_due_date(cfg):
    first = cmd.window_history(cfg, 1000, 5000)
    assert first == {"promised": 14 * 86400, "history_start": 1000, "drill_due": 5000 + 8 * 86400}
    # Retention moved the window start on: the history keeps the oldest reach.
    assert cmd.window_history(cfg, 3000, 9000)["history_start"] == 1000
    assert cmd.window_history(cfg, 3000, 9000, drill_success=8000)["drill_due"] == 8000 + 8 * 86400


def test_the_guard_takes_exact_stops_from_backup_info_for_entries_recorded_without(cfg, monkeypatch, tmp_path):
    """A full expired by retention is still listed offsite; the oldest full here is 15 days old by
    backup.info, and its record entry (made before stops were kept) must not make it look younger."""
    stop = time.time() - 15 * 86400
    # Its label says 15 days too: the +2-day allowance for stop-less entries would make it 13.
    old, kept = "20261101-031501F", dt.datetime.fromtimestamp(stop, UTC).strftime("%Y%m%d-%H%M%SF")
    here = BACKUP_INFO.replace("%s={}", '%s={"backup-timestamp-stop":' + str(int(stop)) + '}') % (111, kept)
    snap = tmp_path / "snap" / "backup" / "credinet"
    snap.mkdir(parents=True)
    (snap / "backup.info").write_text(here)
    cmd.write_state(cfg, cmd.MADE_RECORD, {"backups": [{"label": kept, "db_id": 1, "start": "000000010000000000000010"}]})
    there = BACKUP_INFO % (111, old + "={}\n" + kept)
    monkeypatch.setattr(cmd.pg, "run", lambda *_a, **_kw: Proc(0, there.encode()))
    assert cmd.offsite_guard(cfg, "offsite:pgbackrest", str(tmp_path / "snap")) is True


def test_a_recorded_stop_is_held_between_the_run_start_and_now(cfg, monkeypatch):
    """A database container that lies `stop: 0` cannot make a new full look old enough to expire others."""
    before = [{"name": "credinet", "backup": []}]
    after = [{"name": "credinet", "backup": [{"label": "20261208-031501F", "type": "full",
                                               "archive": {"start": "000000010000000000000010"}, "database": {"id": 1},
                                               "timestamp": {"start": 0, "stop": 0}}]}]
    monkeypatch.setattr(cmd, "info_or_none", lambda _cfg: after)
    began = time.time() - 30
    cmd.record_made_backup(cfg, before, "full", began)
    entry = cmd.read_made_record(cfg)[0]
    assert int(began) <= entry["stop"] <= time.time()


def test_the_info_snapshot_never_reads_through_a_link(cfg, tmp_path):
    """backup.info.copy made a link to a host file (or /dev/zero) by the database container:
    the offsite copy stops, nothing is read through it."""
    info_dir = Path(cfg["repo_dir"]) / "backup" / "credinet"
    info_dir.mkdir(parents=True)
    (info_dir / "backup.info").write_text("[backrest]\n")
    secret = tmp_path / "rclone.conf"
    secret.write_text("token = FAKE-drive-token\n")
    os.symlink(secret, info_dir / "backup.info.copy")
    with pytest.raises(OSError), cmd.info_snapshot(cfg) as snapshot:
        raise AssertionError("snapshot %s taken through a link" % snapshot)
    assert not any("FAKE-drive-token" in p.read_text() for p in Path(cfg["state_dir"]).rglob("*") if p.is_file())


def test_latest_refuses_when_the_running_timeline_cannot_be_read(cfg, monkeypatch):
    seen = live_restore(cfg, monkeypatch)
    monkeypatch.setattr(cmd, "live_timeline", lambda *_a: None)
    with pytest.raises(job.JobError, match="timeline cannot be read.*Nothing was changed"):
        cmd.cmd_restore(cfg, restore_args("latest"))
    assert seen == []  # nothing stopped


def test_latest_stops_when_the_database_switched_timeline_under_it(cfg, monkeypatch):
    seen = live_restore(cfg, monkeypatch)
    monkeypatch.setattr(cmd, "psql", lambda *_a, **_kw: "000000020000000000000005|0/5000000")  # planned 1
    started = []
    monkeypatch.setattr(cmd, "start_stack", lambda _cfg, cid, running: started.append(cid))
    with pytest.raises(job.JobError, match="now writes timeline 2, not 1"):
        cmd.cmd_restore(cfg, restore_args("latest"))
    assert ("stop", "-t", "60", "backend1") in seen and started == ["db1"]  # the app runs again


def test_latest_of_another_timeline_than_the_running_one_takes_no_live_position(cfg, monkeypatch):
    """The operator asks for the end of timeline 2 while the database writes timeline 1: the live
    WAL position says nothing about timeline 2 and is not compared."""
    live_restore(cfg, monkeypatch)
    asked = []
    monkeypatch.setattr(cmd, "exec_pgbackrest", lambda *_a, **_kw: Proc(0))
    monkeypatch.setattr(cmd, "restore_side", lambda _cfg, _t, _repo, _purpose, _live, timeline, min_end:
                        asked.append((timeline, min_end)) or (_ for _ in ()).throw(job.JobError("stop here")))
    monkeypatch.setattr(cmd, "start_stack", lambda *_a: None)
    with pytest.raises(job.JobError, match="stop here"):
        cmd.cmd_restore(cfg, restore_args("latest", timeline=2))
    with pytest.raises(job.JobError, match="stop here"):
        cmd.cmd_restore(cfg, restore_args("latest"))
    assert asked == [(2, None), (1, 0x5000000)]
