import datetime as dt
import json
import os

import pytest

import credinet_backup as cb

MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=MX)


def make_set(directory, moment, status="good", db="credinet", size=100):
    key = cb.set_key(db, moment)
    suffix = ".failed" if status == "failed" else ""
    dump = directory / (key + ".dump.zst" + suffix)
    dump.write_bytes(b"x" * size)
    (directory / (key + ".globals.sql.zst")).write_bytes(b"g")
    if status != "incomplete":
        (directory / (key + ".manifest.json")).write_text(json.dumps({"status": status}))
    return key


def bset(days_ago, status="good", hour=2):
    moment = NOW - dt.timedelta(days=days_ago)
    moment = moment.replace(hour=hour)
    return cb.BackupSet(cb.set_key("credinet", moment), moment, status, (), 100)


class TestScan:
    def test_sets_group_their_files_and_read_status(self, tmp_path):
        good = make_set(tmp_path, NOW)
        failed = make_set(tmp_path, NOW - dt.timedelta(days=1), "failed")
        sets = {s.key: s for s in cb.scan(str(tmp_path))}
        assert sets[good].status == "good"
        assert sorted(os.path.basename(f) for f in sets[good].files) == sorted(
            [good + ".dump.zst", good + ".globals.sql.zst", good + ".manifest.json"])
        assert sets[failed].status == "failed"
        assert not sets[failed].restorable

    def test_dump_without_manifest_is_incomplete_not_good(self, tmp_path):
        key = make_set(tmp_path, NOW, "incomplete")
        (backup,) = cb.scan(str(tmp_path))
        assert (backup.key, backup.status, backup.restorable) == (key, "incomplete", False)

    def test_corrupt_manifest_is_incomplete(self, tmp_path):
        key = make_set(tmp_path, NOW)
        (tmp_path / (key + ".manifest.json")).write_text("{not json")
        assert cb.scan(str(tmp_path))[0].status == "incomplete"

    def test_sorted_oldest_first_and_offset_respected(self, tmp_path):
        make_set(tmp_path, NOW)
        make_set(tmp_path, NOW - dt.timedelta(hours=1))
        sets = cb.scan(str(tmp_path))
        assert sets[0].taken_at < sets[1].taken_at
        assert sets[1].taken_at == NOW

    def test_unrelated_files_are_ignored(self, tmp_path):
        (tmp_path / "notes.txt").write_text("x")
        (tmp_path / ".credinet_x.tmp.1").write_text("x")
        assert cb.scan(str(tmp_path)) == []

    def test_missing_directory_is_empty(self, tmp_path):
        assert cb.scan(str(tmp_path / "nope")) == []

    def test_legacy_sql_gz_recognised_with_name_time(self, tmp_path):
        legacy = tmp_path / "legacy"
        legacy.mkdir()
        (legacy / "credinet_backup_20260115_020000.sql.gz").write_bytes(b"gz")
        (legacy / "random.sql.gz").write_bytes(b"gz")
        os.utime(legacy / "random.sql.gz", (1_700_000_000, 1_700_000_000))
        (legacy / "readme.txt").write_text("x")
        sets = cb.scan(str(tmp_path / "none"), [str(legacy)], tz=MX)
        assert [s.status for s in sets] == ["legacy", "legacy"]
        assert sets[0].taken_at == dt.datetime.fromtimestamp(1_700_000_000, MX)
        assert sets[1].taken_at == dt.datetime(2026, 1, 15, 2, 0, tzinfo=MX)
        assert all(s.restorable for s in sets)


class TestPlan:
    def test_sixty_days_of_failures_never_delete_the_last_good(self):
        good = [bset(d) for d in range(60, 67)]
        failed = [bset(d, "failed") for d in range(0, 60)]
        keep, delete = cb.plan(good + failed, NOW, cb.Policy(keep_days=30, min_good=7))
        assert all(s.key in keep for s in good)
        assert all("newest-7-good" in keep[s.key] for s in good)
        deleted = {s.key for s in delete}
        assert deleted == {s.key for s in failed if (NOW - s.taken_at).days >= 7}

    def test_normal_thirty_day_pruning(self):
        sets = [bset(d) for d in range(0, 45)]
        keep, delete = cb.plan(sets, NOW, cb.Policy(keep_days=30, min_good=7))
        assert sorted((NOW - s.taken_at).days for s in delete) == list(range(30, 45))
        assert len(keep) == 30

    def test_newest_good_counts_only_restorable_sets(self):
        sets = [bset(40), bset(41), bset(1, "failed"), bset(2, "incomplete")]
        keep, delete = cb.plan(sets, NOW, cb.Policy(keep_days=30, min_good=2, failed_keep_days=7))
        assert {s.key for s in delete} == set()
        assert keep[sets[0].key] == ["newest-2-good"]

    def test_legacy_files_follow_the_same_policy(self):
        old = cb.BackupSet("/old/a.sql.gz", NOW - dt.timedelta(days=90), "legacy", ("/old/a.sql.gz",))
        recent = [bset(d) for d in range(0, 10)]
        keep, delete = cb.plan([old] + recent, NOW, cb.Policy(keep_days=30, min_good=7))
        assert delete == [old]
        keep, delete = cb.plan([old], NOW, cb.Policy(keep_days=30, min_good=1))
        assert delete == [] and keep[old.key] == ["newest-1-good"]

    def test_gfs_keeps_newest_per_day_week_month(self):
        sets = [bset(d, hour=h) for d in range(0, 120) for h in (2, 14)]
        keep, delete = cb.plan(sets, NOW, cb.Policy(keep_days=0, min_good=1, daily=7, weekly=4, monthly=3))
        kept = [s for s in sets if s.key in keep]
        daily = [s for s in kept if "daily" in keep[s.key]]
        assert len(daily) == 7 and all(s.taken_at.hour == 14 for s in daily)
        assert len([s for s in kept if "weekly" in keep[s.key]]) == 4
        monthly = [s for s in kept if "monthly" in keep[s.key]]
        assert len(monthly) == 3
        assert len({(s.taken_at.year, s.taken_at.month) for s in monthly}) == 3
        assert len(delete) == len(sets) - len(kept)

    def test_verified_sets_win_over_newer_legacy_files_for_protection(self):
        good = [bset(d) for d in range(60, 62)]
        legacy = cb.BackupSet("/old/new.sql.gz", NOW - dt.timedelta(days=40), "legacy", ("/old/new.sql.gz",))
        keep, delete = cb.plan(good + [legacy], NOW, cb.Policy(keep_days=30, min_good=2))
        assert delete == [legacy]
        keep, delete = cb.plan(good + [legacy], NOW, cb.Policy(keep_days=30, min_good=3))
        assert delete == []

    def test_failed_sets_are_kept_for_failed_keep_days(self):
        sets = [bset(3, "failed"), bset(9, "failed"), bset(0)]
        keep, delete = cb.plan(sets, NOW, cb.Policy(keep_days=30, min_good=1, failed_keep_days=7))
        assert delete == [sets[1]]

    def test_nothing_to_do_on_empty_input(self):
        assert cb.plan([], NOW, cb.Policy()) == ({}, [])

    @pytest.mark.parametrize("bad", [dict(min_good=0), dict(keep_days=-1), dict(daily="7"), dict(weekly=True)])
    def test_invalid_policy_is_refused(self, bad):
        with pytest.raises(ValueError):
            cb.plan([], NOW, cb.Policy(**bad))


class TestSizeAnomaly:
    def test_within_range_is_quiet(self):
        assert cb.size_anomaly(100, [90, 100, 110, 105]) is None

    def test_tiny_dump_warns(self):
        assert "10% of the median" in cb.size_anomaly(10, [100, 100, 100])

    def test_huge_dump_warns(self):
        assert cb.size_anomaly(500, [100, 100, 100]) is not None

    def test_too_little_history_is_quiet(self):
        assert cb.size_anomaly(1, [100, 100]) is None

    def test_only_the_recent_window_counts(self):
        assert cb.size_anomaly(1000, [10] * 20 + [1000] * 7) is None


def test_prometheus_text_format():
    text = cb.prometheus_text({"credinet_backup_last_exit_status": ("Exit status", 0),
                               "credinet_backup_last_duration_seconds": ("Seconds", 1.5)}, {"db": 'cre"dinet'})
    assert '# TYPE credinet_backup_last_exit_status gauge' in text
    assert 'credinet_backup_last_exit_status{db="cre\\"dinet"} 0\n' in text
    assert 'credinet_backup_last_duration_seconds{db="cre\\"dinet"} 1.5' in text


class TestWriteAtomic:
    def test_writes_with_mode_and_no_temp_left(self, tmp_path):
        target = tmp_path / "m.prom"
        cb.write_atomic(str(target), "a 1\n", mode=0o644)
        assert target.read_text() == "a 1\n"
        assert oct(target.stat().st_mode & 0o777) == "0o644"
        assert os.listdir(tmp_path) == ["m.prom"]

    def test_failure_leaves_old_file_and_no_temp(self, tmp_path, monkeypatch):
        target = tmp_path / "m.prom"
        target.write_text("old")
        monkeypatch.setattr(cb.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError):
            cb.write_atomic(str(target), "new")
        assert target.read_text() == "old"
        assert os.listdir(tmp_path) == ["m.prom"]


class TestJobPlumbing:
    def test_lock_is_exclusive_and_names_its_holder(self, tmp_path):
        cfg = {"lock_file": str(tmp_path / "lock"), "lock_wait_seconds": 0}
        with cb.locked(cfg):
            with pytest.raises(cb.JobError, match="holds .*lock \\(pid %d since" % os.getpid()):
                with cb.locked(cfg):
                    pass
        with cb.locked(cfg):  # released
            pass

    def test_notify_records_even_without_a_notifier(self, tmp_path):
        cfg = {"notify_command": str(tmp_path / "missing"), "state_dir": str(tmp_path / "state")}
        assert cb.notify(cfg, "backup_failed", "critical", "x")["result"] == "notifier not installed"
        record = json.loads((tmp_path / "state" / "notifications.jsonl").read_text())
        assert (record["event"], record["level"], record["text"]) == ("backup_failed", "critical", "x")

    def test_notify_passes_event_level_text_and_reports_failure(self, tmp_path):
        script = tmp_path / "notify"
        script.write_text("#!/bin/sh\necho \"$@\" > %s/args\nexit 1\n" % tmp_path)
        script.chmod(0o755)
        cfg = {"notify_command": str(script), "state_dir": str(tmp_path / "state")}
        assert cb.notify(cfg, "offsite_failed", "critical", "sin red")["result"] == "notifier exit 1"
        assert (tmp_path / "args").read_text().strip() == "--event offsite_failed --level critical sin red"

    def test_metrics_are_written_atomically_or_skipped(self, tmp_path):
        cb.write_metrics({"metrics_dir": ""}, "x.prom", {"a": ("h", 1)}, {})
        cb.write_metrics({"metrics_dir": str(tmp_path / "m")}, "x.prom", {"a": ("h", 1)}, {"env": "prod"})
        assert (tmp_path / "m" / "x.prom").read_text().endswith('a{env="prod"} 1\n')


class TestSharedCommandHelpers:
    def test_job_config_gets_its_zone_and_a_validated_policy(self, tmp_path):
        path = tmp_path / "job.json"
        path.write_text(json.dumps({"timezone": "America/Mexico_City", "retention": {"keep_days": 9, "min_good": 2}}))
        cfg = cb.load_job_config(str(path))
        assert str(cfg["tz"]) == "America/Mexico_City" and cfg["policy"] == cb.Policy(keep_days=9, min_good=2)
        path.write_text(json.dumps({"retention": {"min_good": 0}}))
        with pytest.raises(ValueError, match="min_good"):
            cb.load_job_config(str(path))

    def test_localized_falls_back_to_spanish(self):
        catalog = {"es": {"x": "hola {env} {n}"}, "en": {"x": "hello {env} {n}"}}
        assert cb.localized(catalog, {"lang": "en", "env": "prod"}, "x", n=1) == "hello prod 1"
        assert cb.localized(catalog, {"lang": "fr", "env": "dev"}, "x", n=2) == "hola dev 2"

    def test_sha256_of_reads_in_chunks(self, tmp_path):
        path = tmp_path / "f"
        path.write_bytes(b"a" * (3 << 20))
        import hashlib
        assert cb.sha256_of(str(path)) == hashlib.sha256(b"a" * (3 << 20)).hexdigest()
