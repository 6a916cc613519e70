"""Pure parts of the host command roles/backup/files/credinet-backup (the rest runs in Molecule).

What the command imports from the runtime package (postgres streams, messages, retention) is
tested with the package (tests/unit/module_utils/credinet_ops/).
"""
import datetime as dt
import gzip
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from conftest import load_source, make_set
from credinet_ops import messages, retention, sets

cmd = load_source("roles/backup/files/credinet-backup")
MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=MX)


@pytest.fixture
def cfg(tmp_path):
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    return {"backup_dir": str(backup_dir), "tz": MX, "legacy_dirs": [], "lock_file": str(tmp_path / "lock"),
            "state_dir": str(tmp_path / "state"), "retention": {"keep_days": 30, "min_good": 2, "max_deletes": 10}}


def test_every_command_has_a_parser_and_every_failure_event_a_message():
    for name in cmd.COMMANDS:
        assert cmd.parser().parse_args([name] + (["--yes"] if name == "restore" else [])).command == name
    for event in list(cmd.FAILURE_EVENTS.values()) + ["command_failed"]:
        assert event in messages.CATALOG["es"] and event in messages.CATALOG["en"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["run"], {"no_prune": False}),
    (["run", "--no-prune"], {"no_prune": True}),
    (["verify"], {"set": "latest", "file": None}),
    (["verify", "KEY", "--file", "/tmp/copy"], {"set": "KEY", "file": "/tmp/copy"}),
    (["restore"], {"set": "latest", "yes": False, "force_legacy_sql": False}),
    (["restore", "--set", "K", "--yes", "--force-legacy-sql"], {"set": "K", "yes": True, "force_legacy_sql": True}),
    (["prune", "--dry-run"], {"dry_run": True}),
    (["list", "--json"], {"json": True}),
    (["drill"], {"set": "latest"}),
    (["check-config", "/etc/credinet/backup.json"], {"file": "/etc/credinet/backup.json"}),
])
def test_command_line(argv, expected):
    args = vars(cmd.parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


class TestKeysAndPublishing:
    def test_free_key_numbers_runs_in_the_same_second(self, cfg):
        first = cmd.free_key(cfg, "credinet.v2", NOW)
        assert first == sets.set_key("credinet.v2", NOW) and "%2E" in first
        open(os.path.join(cfg["backup_dir"], first + ".dump.zst"), "w").close()
        second = cmd.free_key(cfg, "credinet.v2", NOW)
        assert second == first + "_1"
        open(os.path.join(cfg["backup_dir"], second + ".manifest.json"), "w").close()
        assert cmd.free_key(cfg, "credinet.v2", NOW) == first + "_2"
        assert cmd.free_key(cfg, "credinet.v2", NOW + dt.timedelta(seconds=1)) == sets.set_key("credinet.v2", NOW + dt.timedelta(seconds=1))

    def test_publish_never_replaces_an_existing_set(self, tmp_path):
        tmp, final = tmp_path / ".x.partial", tmp_path / "x.dump.zst"
        tmp.write_text("new")
        cmd.publish(str(tmp), str(final))
        assert final.read_text() == "new" and not tmp.exists()
        tmp.write_text("newer")
        with pytest.raises(FileExistsError):
            cmd.publish(str(tmp), str(final))
        assert final.read_text() == "new"

    def test_remove_partials_removes_only_leftover_partials(self, cfg):
        names = [".credinet_x_20261129T020000-0600.dump.zst.partial", ".credinet_x.globals.zst.partial",
                 "credinet_x_20261129T020000-0600.dump.zst", ".other.partial", "notes.partial"]
        for name in names:
            open(os.path.join(cfg["backup_dir"], name), "w").close()
        cmd.remove_partials(cfg["backup_dir"])
        assert sorted(os.listdir(cfg["backup_dir"])) == sorted(names[2:])


class TestLegacySql:
    @pytest.mark.parametrize(("sql", "statement"), [
        ("CREATE TABLE loans (id int);\n\\connect credinet\n", "\\connect"),
        ("\\c credinet\n", "\\c"),
        ("DROP DATABASE credinet;\n", "DROP DATABASE"),
        ("CREATE ROLE app;\n", "CREATE ROLE"),
        ("ALTER USER app PASSWORD 'x';\n", "ALTER USER"),
        ("CREATE TABLE loans (id int);\nCOPY loans FROM stdin;\n1\n\\.\n", None),
        ("INSERT INTO notes VALUES ('CREATE DATABASE x');\n", None),
    ])
    def test_cluster_statements_are_found(self, tmp_path, sql, statement):
        path = tmp_path / "old.sql.gz"
        path.write_bytes(gzip.compress(sql.encode()))
        assert cmd.legacy_cluster_statements(str(path)) == statement


class TestCheckConfig:
    def write(self, tmp_path, data):
        path = tmp_path / "backup.json"
        path.write_text(json.dumps(data))
        return cmd.parser().parse_args(["check-config", str(path)])

    @pytest.fixture
    def valid(self):
        return {"backup_dir": "/var/backups/credinet", "compose_project": "credinet", "db_service": "db",
                "critical_tables": ["loans"], "lock_file": "/var/lib/credinet/jobs.lock", "state_dir": "/var/lib/credinet",
                "timezone": "America/Mexico_City", "retention": {"keep_days": 30, "max_deletes": 5}}

    def test_a_valid_configuration(self, tmp_path, valid, capsys):
        assert cmd.cmd_check_config(self.write(tmp_path, valid)) == 0
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize(("change", "fragment"), [
        ({"critical_tables": []}, "critical_tables is missing or empty"),
        ({"backup_dir": "backups"}, "backup_dir must be an absolute path"),
        ({"compression": "xz"}, "compression must be one of"),
        ({"retention": {"keep_days": 30, "keep_weeks": 2}}, "unknown retention setting(s): keep_weeks"),
        ({"retention": {"max_deletes": 0}}, "max_deletes must be >= 1"),
    ])
    def test_errors_are_listed(self, tmp_path, valid, capsys, change, fragment):
        assert cmd.cmd_check_config(self.write(tmp_path, dict(valid, **change))) == 1
        assert fragment in capsys.readouterr().err

    def test_an_unreadable_file_through_main(self, tmp_path, capsys):
        assert cmd.main(["check-config", str(tmp_path / "missing.json")]) == 1
        assert "cannot read" in capsys.readouterr().err


class TestPrune:
    def test_dry_run_deletes_nothing(self, cfg, monkeypatch):
        monkeypatch.setattr(cmd.job, "now", lambda cfg: NOW)
        for day in (0, 1, 40, 41):
            make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=day))
        before = sorted(os.listdir(cfg["backup_dir"]))
        assert len(cmd.prune(cfg, dry_run=True)) == 2
        assert sorted(os.listdir(cfg["backup_dir"])) == before

    def test_prune_removes_every_file_of_old_sets(self, cfg, monkeypatch):
        monkeypatch.setattr(cmd.job, "now", lambda cfg: NOW)
        keep = [make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=d)) for d in (0, 1)]
        make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=40))
        make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=41), "failed")
        make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=42), "incomplete")
        deleted = cmd.prune(cfg, dry_run=False)
        assert len(deleted) == 3
        assert sorted({n.split(".")[0] for n in os.listdir(cfg["backup_dir"])}) == sorted(keep)

    def test_a_clock_jump_refuses_and_deletes_nothing(self, cfg, monkeypatch):
        monkeypatch.setattr(cmd.job, "now", lambda cfg: NOW)
        for day in (40, 41, 42):
            make_set(Path(cfg["backup_dir"]), NOW - dt.timedelta(days=day))
        make_set(Path(cfg["backup_dir"]), NOW + dt.timedelta(days=1))
        before = sorted(os.listdir(cfg["backup_dir"]))
        with pytest.raises(retention.RetentionRefused):
            cmd.prune(cfg, dry_run=False)
        assert sorted(os.listdir(cfg["backup_dir"])) == before


def test_list_json(cfg, capsys):
    key = make_set(Path(cfg["backup_dir"]), NOW, db="mi base")
    assert cmd.cmd_list(cfg, cmd.parser().parse_args(["list", "--json"])) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["key"], listed["status"], listed["size"]) == (key, "good", 100)
    assert listed["taken_at"] == NOW.isoformat() and len(listed["files"]) == 3
    age = (dt.datetime.now(MX) - NOW).total_seconds()
    assert abs(listed["age_seconds"] - age) < 60


def test_find_set_errors_name_what_was_wanted(cfg):
    with pytest.raises(cmd.job.JobError, match="no restorable backup in"):
        cmd.find_set(cfg, "latest")
    with pytest.raises(cmd.job.JobError, match="backup 'credinet_nope' not found"):
        cmd.find_set(cfg, "credinet_nope")


def test_run_prunes_while_it_holds_the_job_lock(cfg, monkeypatch):
    """Pruning outside the lock raced with an offsite cryptcheck of the same files (a false
    'copy does not match' alert): prune runs inside the lock the backup holds."""
    import contextlib

    state = {"held": False, "pruned_under_lock": None}

    @contextlib.contextmanager
    def fake_lock(_cfg):
        state["held"] = True
        try:
            yield
        finally:
            state["held"] = False

    def fake_prune(_cfg, dry_run):
        state["pruned_under_lock"] = state["held"]
        return []

    monkeypatch.setattr(cmd.job, "locked", fake_lock)
    monkeypatch.setattr(cmd, "backup_once", lambda *a: {"status": "good", "key": "k", "size": 1, "verify_ok": 1,
                                                         "anomaly": 0, "warning": None})
    monkeypatch.setattr(cmd, "prune", fake_prune)
    monkeypatch.setattr(cmd, "report_run", lambda *a: None)
    monkeypatch.setattr(cmd, "run_post_success", lambda *a: None)
    assert cmd.cmd_run(cfg, cmd.parser().parse_args(["run"])) == 0
    assert state["pruned_under_lock"] is True


def test_a_run_over_its_time_limit_fails_clearly_and_leaves_no_partial(cfg, monkeypatch, tmp_path):
    """A dump stuck behind a lock must not hold the job lock forever: run_timeout_seconds ends it."""
    import contextlib
    import time as time_

    partial = tmp_path / "stuck.partial"
    reported = {}

    def stuck(_cfg, _t0, partials):
        partial.write_text("half a dump")
        partials.append(str(partial))
        time_.sleep(5)
        return {"status": "good"}

    monkeypatch.setattr(cmd.job, "locked", lambda _cfg: contextlib.nullcontext())
    monkeypatch.setattr(cmd, "backup_once", stuck)
    monkeypatch.setattr(cmd, "report_run", lambda _cfg, result, *a: reported.update(result))
    started = time_.monotonic()
    assert cmd.cmd_run(dict(cfg, run_timeout_seconds=1), cmd.parser().parse_args(["run", "--no-prune"])) == 1
    assert time_.monotonic() - started < 4
    assert reported["status"] == "failed" and "run_timeout_seconds" in reported["error"]
    assert not partial.exists()


def test_a_refused_prune_is_alerted(cfg, monkeypatch):
    """A clock jump makes retention refuse to delete: the operators hear of it (critical)."""
    sent = []
    monkeypatch.setattr(cmd.job.Outcome, "report", lambda self: None)
    monkeypatch.setattr(cmd.job, "notify", lambda _cfg, event, level, text: sent.append((event, level, text)) or {})
    monkeypatch.setattr(cmd.job, "record_notification", lambda *a: None)
    result = {"status": "good", "key": "k", "size": 1, "verify_ok": 1, "anomaly": 0, "warning": None,
              "prune_refused": 1, "prune_error": "newest set dated after the clock"}
    cmd.report_run(cfg, result, 0.0, 1.0)
    assert [(e, lvl) for e, lvl, _ in sent] == [("backup_prune_refused", "critical")]
    assert "newest set dated after the clock" in sent[0][2]


def test_run_no_post_skips_the_post_success_command(cfg, monkeypatch):
    """A pre-deploy backup (`run --no-prune --no-post`) must not wait for the offsite upload."""
    import contextlib

    posted = []
    monkeypatch.setattr(cmd.job, "locked", lambda _cfg: contextlib.nullcontext())
    monkeypatch.setattr(cmd, "backup_once", lambda *a: {"status": "good", "key": "k", "size": 1, "verify_ok": 1,
                                                         "anomaly": 0, "warning": None})
    monkeypatch.setattr(cmd, "prune", lambda *a: [])
    monkeypatch.setattr(cmd, "report_run", lambda *a: None)
    monkeypatch.setattr(cmd, "run_post_success", lambda *a: posted.append(1))
    assert cmd.cmd_run(cfg, cmd.parser().parse_args(["run", "--no-prune", "--no-post"])) == 0
    assert posted == []
    assert cmd.cmd_run(cfg, cmd.parser().parse_args(["run", "--no-prune"])) == 0
    assert posted == [1]


PSQL_EXECUTE = cmd.pg.Psql.execute


class FakeCluster:
    """Databases and their ALLOW_CONNECTIONS flag; psql sessions that stop on the first error
    (ON_ERROR_STOP), as the real ones do: later queries of that session raise. Renames fail as
    PostgreSQL's do when the source is missing or the target exists."""

    def __init__(self, fail_on=None, error="server closed the connection", failures=1, faults=None):
        self.databases = {"credinet": True, "credinet__restore_1": True}
        # {statement prefix: [error, times]}: that statement errors `times` times with `error`.
        self.faults = dict(faults or {})
        if fail_on:
            self.faults[fail_on] = [error, failures]
        self.interrupt_on = None  # a statement prefix that raises KeyboardInterrupt (a signal)
        self.on_statement = {}  # {statement prefix: callable run when it is executed}
        self.log = []

    @property
    def fail_on(self):
        return next(iter(self.faults), None)

    @property
    def failures(self):
        return next(iter(self.faults.values()), [None, 0])[1]

    def fault(self, sql):
        for prefix, fault in list(self.faults.items()):
            if sql.startswith(prefix):
                fault[1] -= 1
                if not fault[1]:
                    del self.faults[prefix]
                return fault[0]
        return None

    def session(self, _cid, _user, db):
        cluster = self

        class Session:
            error = None
            pending = []

            def query(self, sql, rows=1):
                cluster.log.append((db, sql))
                if self.error:
                    raise cmd.job.JobError("psql: psql:<stdin>:1: ERROR:  %s" % self.error)
                if cluster.interrupt_on and sql.startswith(cluster.interrupt_on):
                    cluster.interrupt_on = None
                    raise KeyboardInterrupt
                for prefix, action in cluster.on_statement.items():
                    if sql.startswith(prefix):
                        action()
                self.error = cluster.fault(sql) or self.error
                if self.error:
                    return [] if rows == 0 else self.query(sql, rows)
                try:
                    return cluster.execute(self, sql)
                except cmd.job.JobError as exc:
                    self.error = str(exc)
                    return [] if rows == 0 else self.query(sql, rows)

            execute = PSQL_EXECUTE  # the real one, over this fake query()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False
        return Session()

    def execute(self, session, sql):
        words = sql.replace('"', "").split()
        names = sql.split("'")[1::2]
        if sql == "BEGIN":
            session.pending = []
        elif sql.startswith("ALTER DATABASE") and "RENAME TO" in sql:
            source, target = words[2], words[5]
            seen = set(self.databases)  # as this transaction sees them
            for old, new in session.pending:
                seen = (seen - {old}) | {new}
            if source not in seen:
                raise cmd.job.JobError('database "%s" does not exist' % source)
            if target in seen:
                raise cmd.job.JobError('database "%s" already exists' % target)
            session.pending.append((source, target))
        elif sql == "COMMIT":
            for old, new in session.pending:
                self.databases[new] = self.databases.pop(old)
        elif sql.startswith("ALTER DATABASE"):
            self.databases[words[2]] = words[-1] == "true"
        elif "bool_or" in sql:
            return ["t" if names[0] in self.databases and names[1] not in self.databases else "f"]
        elif "FROM pg_database" in sql:
            return [str(sum(name in self.databases for name in names))]
        elif "pg_stat_activity" in sql or sql == "SELECT 1":
            return ["0"] if "count" in sql else ["1"]
        return []


@pytest.mark.parametrize("fail_on", [None, "ALTER DATABASE \"credinet__restore_1\" RENAME", "COMMIT"])
def test_swap_databases_always_gives_connections_back(monkeypatch, fail_on):
    cluster = FakeCluster(fail_on)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    if fail_on:
        with pytest.raises(cmd.job.JobError):
            cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
        # Not swapped: the live database is where it was and takes connections again.
        assert cluster.databases == {"credinet": True, "credinet__restore_1": True}
        assert ("template1", 'ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS true') in cluster.log
    else:
        cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
        assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}


SWAP_STATEMENTS = ['ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS false', 'ALTER DATABASE "credinet" RENAME',
                   'ALTER DATABASE "credinet__restore_1" RENAME', "COMMIT",
                   'ALTER DATABASE "credinet__pre_restore_1" WITH ALLOW_CONNECTIONS true',
                   'ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS true']


@pytest.mark.parametrize("fail_on", SWAP_STATEMENTS)
def test_a_transient_catalogue_conflict_is_retried_and_the_swap_completes(monkeypatch, fail_on):
    """CI once failed a restore with "tuple concurrently updated" while clients kept
    reconnecting: another session changed the same pg_database row at that moment. The step is
    run again in a new session; the swap completes and both databases take connections."""
    cluster = FakeCluster(fail_on, error="tuple concurrently updated", failures=2)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    pauses = []
    monkeypatch.setattr(cmd.pg.time, "sleep", pauses.append)  # the module time: every pause
    cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}
    assert cluster.fail_on is None and len(pauses) == 2


def test_a_conflict_that_does_not_clear_fails_the_swap_and_gives_connections_back(monkeypatch):
    cluster = FakeCluster('ALTER DATABASE "credinet__restore_1" RENAME', error="tuple concurrently updated",
                          failures=99)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.pg.time, "sleep", lambda _s: None)
    with pytest.raises(cmd.job.JobError, match="tuple concurrently updated"):
        cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
    assert cluster.databases == {"credinet": True, "credinet__restore_1": True}
    assert cluster.failures == 99 - 5, "five attempts, then the error is reported"


def test_a_signal_in_the_middle_of_a_swap_gives_connections_back(monkeypatch):
    cluster = FakeCluster()
    cluster.interrupt_on = "BEGIN"
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    with pytest.raises(KeyboardInterrupt):
        cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
    assert cluster.databases["credinet"] is True


SWAP = ("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")


def test_a_stop_signal_after_the_commit_waits_for_the_connections_and_is_no_failure(monkeypatch, capsys):
    """A real SIGINT just as the previous database is opened again: it is noted, both databases
    take connections, and the committed swap is no failure."""
    cluster = FakeCluster()
    cluster.on_statement['ALTER DATABASE "credinet__pre_restore_1" WITH ALLOW_CONNECTIONS true'] = \
        lambda: os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    cmd.swap_databases(*SWAP)
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}
    assert "stop signal(s) 2 came during the swap" in capsys.readouterr().out


def test_a_stop_signal_before_the_renames_stops_the_swap_and_gives_connections_back(monkeypatch):
    cluster = FakeCluster()
    cluster.on_statement['ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS false'] = \
        lambda: os.kill(os.getpid(), signal.SIGTERM)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    with pytest.raises(SystemExit) as stopped:
        cmd.swap_databases(*SWAP)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not [sql for _db, sql in cluster.log if "RENAME" in sql], "stopped between the steps"
    assert cluster.databases == {"credinet": True, "credinet__restore_1": True}


def test_a_log_whose_reader_is_gone_does_not_keep_connections_closed(monkeypatch):
    """SIGHUP with the SSH session gone: stdout is a broken pipe. The logging of the failed
    step must not skip giving connections back."""
    class Gone:
        def write(self, _text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")
    cluster = FakeCluster('ALTER DATABASE "credinet__restore_1" RENAME', error="permission denied")
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    monkeypatch.setattr(sys, "stdout", Gone())
    with pytest.raises(cmd.job.JobError, match="permission denied"):
        cmd.swap_databases(*SWAP)
    assert cluster.databases == {"credinet": True, "credinet__restore_1": True}


def test_a_leftover_database_named_like_the_kept_copy_is_no_swap(monkeypatch):
    """The rename meets "already exists": the swap did not happen although a database of the
    kept copy's name exists; it fails and the live database takes connections again."""
    cluster = FakeCluster()
    cluster.databases["credinet__pre_restore_1"] = True
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    with pytest.raises(cmd.job.JobError, match="already exists"):
        cmd.swap_databases(*SWAP)
    assert cluster.databases == {"credinet": True, "credinet__restore_1": True, "credinet__pre_restore_1": True}


@pytest.mark.parametrize(("db", "taken", "error"), [
    ("credinet", None, None),
    ("credinet", "credinet__pre_restore_1", "exists already"),
    ("credinet", "credinet__restore_1", "exists already"),
    ("c" * 35, None, None),  # exactly 63 bytes with the suffix
    ("c" * 36, None, "longer than PostgreSQL's 63 bytes"),
    ("ñ" * 18, None, "longer than PostgreSQL's 63 bytes"),  # 36 bytes in UTF-8
])
def test_restore_names_are_checked_before_any_change(monkeypatch, db, taken, error):
    cluster = FakeCluster()
    cluster.databases = {db: True} if taken is None else {db: True, taken: True}
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    fresh, previous = db + "__restore_1", db + "__pre_restore_1"
    if db != "credinet":
        fresh, previous = db + "__restore_20261204093000", db + "__pre_restore_20261204093000"
    if error is None:
        cmd.check_restore_names("cid", "credinet", fresh, previous)
    else:
        with pytest.raises(cmd.job.JobError, match=error + ".*nothing was changed"):
            cmd.check_restore_names("cid", "credinet", fresh, previous)
    assert not [sql for _db, sql in cluster.log if not sql.startswith("SELECT")], "read-only"


def test_connections_are_given_back_with_a_lock_timeout(monkeypatch):
    """An ALTER DATABASE waiting behind another session's lock fails (and is retried) instead of
    waiting for ever while stop signals are only noted."""
    cluster = FakeCluster()
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    cmd.swap_databases(*SWAP)
    settle = [sql for db, sql in cluster.log if db == "template1"]
    assert settle[1] == "SET lock_timeout = '5s'" and "ALLOW_CONNECTIONS true" in settle[2]


def test_a_container_lookup_that_cannot_even_start_is_retried(monkeypatch):
    cluster = FakeCluster()
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    pauses = []
    monkeypatch.setattr(cmd.pg.time, "sleep", pauses.append)
    failures = [OSError(11, "Resource temporarily unavailable"), ValueError("bad answer")]

    def find_container():
        if failures:
            raise failures.pop(0)
        return "cid"
    cmd.swap_databases(*SWAP, find_container=find_container)
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}
    assert pauses == [cmd.SETTLE_PAUSE] * 2


def test_connections_are_given_back_through_the_container_found_at_each_try(monkeypatch):
    """The database container was recreated (new id) during the swap: each try looks it up again."""
    cluster = FakeCluster('ALTER DATABASE "credinet__pre_restore_1" WITH ALLOW_CONNECTIONS true',
                          error="No such container: old", failures=2)
    seen = []
    monkeypatch.setattr(cmd.pg, "Psql", lambda cid, user, db: (seen.append(cid), cluster.session(cid, user, db))[1])
    monkeypatch.setattr(cmd.pg.time, "sleep", lambda _s: None)
    ids = iter(["old", "old", "new", "new"])
    cmd.swap_databases(*SWAP, find_container=lambda: next(ids))
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}
    assert seen[-1] == "new"


def test_any_error_while_connections_are_given_back_is_retried(monkeypatch):
    """The swap failed for good (permission denied) and the first sessions that open the live
    database again die: they are retried until it takes connections; the real error is reported."""
    cluster = FakeCluster(faults={'ALTER DATABASE "credinet__restore_1" RENAME': ["permission denied", 1],
                                  'ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS true':
                                  ["server closed the connection unexpectedly", 3]})
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.pg.time, "sleep", lambda _s: None)
    with pytest.raises(cmd.job.JobError, match="permission denied"):
        cmd.swap_databases(*SWAP)
    assert cluster.databases == {"credinet": True, "credinet__restore_1": True}


def test_connections_that_cannot_be_given_back_say_how_to_do_it_by_hand(monkeypatch):
    cluster = FakeCluster('ALTER DATABASE "credinet__pre_restore_1" WITH ALLOW_CONNECTIONS true',
                          error="server closed the connection unexpectedly", failures=99)
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    pauses = []
    monkeypatch.setattr(cmd.pg.time, "sleep", pauses.append)
    with pytest.raises(cmd.job.JobError, match='template1 run ALTER DATABASE "credinet" WITH ALLOW_CONNECTIONS '
                                               'true .and the same for "credinet__pre_restore_1"'):
        cmd.swap_databases(*SWAP)
    assert len(pauses) == cmd.SETTLE_ATTEMPTS - 1


def test_a_session_lost_after_its_commit_is_not_swapped_twice(monkeypatch, capsys):
    """COMMIT went through but its session reported a transient error: the retry finds the swap
    done and renames nothing more (a second swap would meet "already exists")."""
    cluster = FakeCluster()
    real_execute = cluster.execute

    def execute_then_fail(session, sql):
        rows = real_execute(session, sql)
        if sql == "COMMIT" and not getattr(cluster, "failed", False):
            cluster.failed = True
            raise cmd.job.JobError("tuple concurrently updated")
        return rows
    cluster.execute = execute_then_fail
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.pg.time, "sleep", lambda _s: None)
    cmd.swap_databases(*SWAP)
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}
    assert sum("RENAME" in sql for _db, sql in cluster.log) == 2
    assert "already exists" not in capsys.readouterr().out


@pytest.mark.parametrize("db", ["postgres", "template1"])
def test_a_restore_never_swaps_postgresql_own_databases(cfg, tmp_path, monkeypatch, db):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    with gzip.open(legacy / "credinet_20261128_020000.sql.gz", "wt") as fh:
        fh.write("CREATE TABLE loans (id int);\n")
    cfg["legacy_dirs"] = [str(legacy)]
    monkeypatch.setattr(cmd.pg, "db_container", lambda _cfg: "cid")
    monkeypatch.setattr(cmd.pg, "container_facts", lambda _cid: {})
    monkeypatch.setattr(cmd.pg, "db_identity", lambda _cfg, _facts: ("credinet", db))
    monkeypatch.setattr(cmd.pg, "Psql", lambda *a: pytest.fail("no session may open: %r" % (a,)))
    args = cmd.parser().parse_args(["restore", "--yes"])
    with pytest.raises(cmd.job.JobError, match="PostgreSQL's own '%s'" % db):
        cmd.restore(cfg, args, {"app": "untouched"})


def test_a_signal_just_after_the_commit_is_no_failure(monkeypatch):
    """SIGTERM right after COMMIT: the catalogue says the swap happened, so the restored data is
    live and the previous database takes connections again; nothing reports a failure."""
    cluster = FakeCluster()
    real_execute = cluster.execute

    def execute_then_interrupt(session, sql):
        rows = real_execute(session, sql)
        if sql == "COMMIT":
            raise KeyboardInterrupt
        return rows
    cluster.execute = execute_then_interrupt
    monkeypatch.setattr(cmd.pg, "Psql", cluster.session)
    monkeypatch.setattr(cmd.time, "sleep", lambda _s: None)
    cmd.swap_databases("cid", "credinet", "credinet", "credinet__restore_1", "credinet__pre_restore_1")
    assert cluster.databases == {"credinet": True, "credinet__pre_restore_1": True}


@pytest.mark.parametrize("allow, refused", [(False, True), (True, False)])
def test_a_set_of_another_environment_is_refused_unless_allowed(cfg, monkeypatch, allow, refused):
    """A prod backup restored on dev is legitimate only when asked for; nothing is touched otherwise."""
    import contextlib
    import types

    backup = types.SimpleNamespace(key="credinet_credinet_20261129T020000", status=sets.GOOD, dump="/nonexistent")
    manifest = types.SimpleNamespace(env="prod", host="credicuenta3", dump=types.SimpleNamespace(sha256="x"),
                                     row_counts=dict)
    touched = []
    monkeypatch.setattr(cmd.job, "locked", lambda _cfg: contextlib.nullcontext())
    monkeypatch.setattr(cmd, "find_set", lambda _cfg, _key: backup)
    monkeypatch.setattr(cmd, "manifest_of", lambda _cfg, _b: manifest)
    monkeypatch.setattr(cmd.job, "sha256_of", lambda path: touched.append("sha256") or "y")
    args = cmd.parser().parse_args(["restore", "--yes"] + (["--allow-other-env"] if allow else []))
    with pytest.raises(cmd.job.JobError) as failure:
        cmd.restore(dict(cfg, env="dev"), args, {"app": "untouched"})
    if refused:
        assert "refusing to mix environments" in str(failure.value) and touched == []
    else:
        assert "sha256" in str(failure.value), "allowed: it went on to the checksum check"


@pytest.fixture
def fake_restore(cfg, monkeypatch):
    """restore() with the containers faked: returns the list of what it did."""
    import contextlib
    import types

    backup = types.SimpleNamespace(key="credinet_credinet_20261129T020000", status=sets.GOOD, dump="/d")
    tables = {"public.pagos": {"rows": 2, "checksum": "77"}}
    manifest = types.SimpleNamespace(env="", host="h", dump=types.SimpleNamespace(sha256="s"), tables=tables,
                                     row_counts=lambda: {t: v["rows"] for t, v in tables.items()})
    actions = Actions()

    class FakePsql:
        def __init__(self, *a):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def query(self, _sql, rows=1):
            return ["0"] * rows  # no database of the restore's names exists yet

    def table_stats(session, checksums):
        actions.append(("table_stats", checksums))
        return {t: v if checksums else dict(v, checksum="0") for t, v in actions.restored.items()}

    actions.restored = {"public.pagos": {"rows": 2, "checksum": "77"}}
    monkeypatch.setattr(cmd.job, "locked", lambda _cfg: contextlib.nullcontext())
    monkeypatch.setattr(cmd, "find_set", lambda _cfg, _key: backup)
    monkeypatch.setattr(cmd, "manifest_of", lambda _cfg, _b: manifest)
    monkeypatch.setattr(cmd.job, "sha256_of", lambda path: "s")
    monkeypatch.setattr(cmd.pg, "db_container", lambda _cfg: "cid")
    monkeypatch.setattr(cmd.pg, "container_facts", lambda _cid: {})
    monkeypatch.setattr(cmd.pg, "db_identity", lambda _cfg, _facts: ("credinet", "credinet"))
    monkeypatch.setattr(cmd.pg, "Psql", FakePsql)
    monkeypatch.setattr(cmd.pg, "table_stats", table_stats)
    monkeypatch.setattr(cmd, "globals_of", lambda _cfg, _b, _m: "/d.globals")
    monkeypatch.setattr(cmd, "create_missing_roles", lambda cid, user, path: actions.append(("roles", path)))
    monkeypatch.setattr(cmd, "restore_into", lambda *a: actions.append("restore_into"))
    monkeypatch.setattr(cmd, "compose_services", lambda _cfg, services, action: actions.append((action, list(services)))
                        or list(services))
    monkeypatch.setattr(cmd, "swap_databases", lambda *a, **_k: actions.append("swap"))
    monkeypatch.setattr(cmd, "wait_http", lambda url: actions.append("wait_http") or actions.healthy)
    actions.healthy = True
    return actions


class Actions(list):
    pass


@pytest.mark.parametrize("healthy, app_state", [(True, "up"), (False, "down")])
def test_a_failed_swap_starts_the_stopped_services_again_and_says_whether_the_app_is_up(cfg, monkeypatch, fake_restore,
                                                                                       healthy, app_state):
    def fake_swap(*a, **_k):
        fake_restore.append("swap")
        raise cmd.job.JobError('database "credinet" is being accessed by other users')

    monkeypatch.setattr(cmd, "swap_databases", fake_swap)
    fake_restore.healthy = healthy
    state = {"app": "untouched"}
    with pytest.raises(cmd.job.JobError, match="being accessed"):
        cmd.restore(dict(cfg, app_services=["backend", "frontend"], health_url="http://127.0.0.1:8000/health"),
                    cmd.parser().parse_args(["restore", "--yes"]), state)
    assert [a for a in fake_restore if a != "wait_http"] == [
        ("roles", "/d.globals"), "restore_into", ("table_stats", False), ("stop", ["backend", "frontend"]), "swap",
        ("start", ["backend", "frontend"])]
    assert state["app"] == app_state, "the failure notification says whether the app is up"


def test_a_stop_after_the_swap_is_reported_with_the_restored_data_live(cfg, monkeypatch, fake_restore, capsys):
    """SIGTERM while the app is waited for after a committed swap: the failure says the
    restored data is live and where the previous data is, not only "143"."""
    def stopped_while_waiting(_url):
        raise SystemExit(143)
    monkeypatch.setattr(cmd, "wait_http", stopped_while_waiting)
    monkeypatch.setattr(cmd.job.Outcome, "report", lambda self: None)
    cfg = dict(cfg, app_services=["backend"], health_url="http://127.0.0.1:8000/health")
    assert cmd.cmd_restore(cfg, cmd.parser().parse_args(["restore", "--yes"])) == 1
    assert fake_restore.count("swap") == 1 and ("start", ["backend"]) in fake_restore
    out = capsys.readouterr().out
    assert re.search(r"RESTORE FAILED: 143 \(the databases were swapped: the restored data is live, the previous "
                     r"data is kept as database credinet__pre_restore_\d{14}\)", out), out


def test_a_restore_checks_its_names_and_swaps_through_the_container_it_finds(cfg, monkeypatch, fake_restore):
    calls = {}
    monkeypatch.setattr(cmd, "check_restore_names", lambda *a: calls.setdefault("names", a))
    monkeypatch.setattr(cmd, "swap_databases", lambda *a, **k: calls.setdefault("swap", k))
    monkeypatch.setattr(cmd.pg, "db_container", lambda _cfg: "cid-now")
    cmd.restore(cfg, cmd.parser().parse_args(["restore", "--yes"]), {"app": "untouched"})
    assert calls["names"][2].startswith("credinet__restore_") and calls["names"][3].startswith("credinet__pre_restore_")
    assert calls["swap"]["find_container"]() == "cid-now"


def test_a_restore_creates_the_missing_roles_before_loading_the_dump(cfg, fake_restore):
    """The dump's GRANTs name roles that a rebuilt host lacks: pg_restore would stop on them."""
    cmd.restore(cfg, cmd.parser().parse_args(["restore", "--yes"]), {"app": "untouched"})
    assert fake_restore.index(("roles", "/d.globals")) < fake_restore.index("restore_into")


def test_a_restore_with_the_app_not_running_does_not_wait_for_it(cfg, monkeypatch, fake_restore):
    """A rebuild restores before it starts the app: the restore neither starts it nor waits for it."""
    monkeypatch.setattr(cmd, "compose_services", lambda _cfg, services, action: fake_restore.append(action) or [])
    monkeypatch.setattr(cmd.pg, "compose_containers", lambda project, service, running_only=True, status=None: [])
    state = {"app": "untouched"}
    assert cmd.restore(dict(cfg, app_services=["backend"], health_url="http://127.0.0.1:8000/health", compose_project="p"),
                       cmd.parser().parse_args(["restore", "--yes"]), state) == 0
    assert "swap" in fake_restore and "wait_http" not in fake_restore
    assert state["app"] == "not_running"


def test_a_restore_while_the_app_restarts_still_waits_for_its_health(cfg, monkeypatch, fake_restore):
    """A backend stuck restarting was not stopped, but it exists: the restore must not say the
    app was not running, it checks whether it answers."""
    monkeypatch.setattr(cmd, "compose_services", lambda _cfg, services, action: fake_restore.append(action) or [])
    monkeypatch.setattr(cmd.pg, "compose_containers",
                        lambda project, service, running_only=True, status=None: ["c1"] if status == "restarting" else [])
    fake_restore.healthy = False
    state = {"app": "untouched"}
    with pytest.raises(cmd.job.JobError, match="not healthy"):
        cmd.restore(dict(cfg, app_services=["backend"], health_url="http://127.0.0.1:8000/health", compose_project="p"),
                    cmd.parser().parse_args(["restore", "--yes"]), state)
    assert "wait_http" in fake_restore and state["app"] == "down"


def test_full_check_of_a_set_taken_without_checksums_compares_rows(cfg, fake_restore, monkeypatch):
    fake_restore.restored = {"public.pagos": {"rows": 2, "checksum": "123"}}
    manifest = cmd.manifest_of(cfg, None)
    manifest.tables["public.pagos"] = {"rows": 2, "checksum": "0"}
    assert cmd.restore(cfg, cmd.parser().parse_args(["restore", "--yes", "--full-check"]), {"app": "untouched"}) == 0


@pytest.mark.parametrize("full_check, restored_checksum, fails", [
    (False, "77", False),
    (False, "78", False),   # row counts only: a changed row goes unseen
    (True, "77", False),
    (True, "78", True),
])
def test_full_check_compares_every_table_checksum_before_the_swap(cfg, fake_restore, full_check, restored_checksum,
                                                                   fails):
    fake_restore.restored = {"public.pagos": {"rows": 2, "checksum": restored_checksum}}
    args = cmd.parser().parse_args(["restore", "--yes"] + (["--full-check"] if full_check else []))
    if fails:
        with pytest.raises(cmd.job.JobError, match="row counts or checksums differ, live database untouched"):
            cmd.restore(cfg, args, {"app": "untouched"})
        assert "swap" not in fake_restore
    else:
        assert cmd.restore(cfg, args, {"app": "untouched"}) == 0
        assert "swap" in fake_restore
    assert ("table_stats", full_check) in fake_restore


GLOBALS = r'''--
-- PostgreSQL database cluster dump
--

\restrict AbCdEf
SET default_transaction_read_only = off;

CREATE ROLE credinet;
ALTER ROLE credinet WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:old';
CREATE ROLE reportes;
ALTER ROLE reportes WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:rep';
CREATE ROLE "Auditoría ""2026""";
ALTER ROLE "Auditoría ""2026""" WITH NOLOGIN;
GRANT pg_read_all_data TO reportes WITH INHERIT TRUE GRANTED BY credinet;
CREATE TABLESPACE rapido OWNER credinet LOCATION '/mnt/ssd';
CREATE ROLE reportes;

\unrestrict AbCdEf
'''


@pytest.mark.parametrize("existing, missing", [
    # A rebuilt host: only the stack's own user exists.
    (["credinet", "pg_read_all_data"], ["reportes", 'Auditoría "2026"']),
    # Every role there: nothing to create.
    (["credinet", "reportes", 'Auditoría "2026"'], []),
    (["credinet", "reportes"], ['Auditoría "2026"']),
])
def test_missing_roles(existing, missing):
    assert cmd.missing_roles(GLOBALS, existing) == missing


def test_missing_roles_are_created_bare_without_login_password_or_attributes():
    sql = cmd.bare_roles_sql(cmd.missing_roles(GLOBALS, ["credinet"]))
    assert sql == 'CREATE ROLE "reportes" NOLOGIN;\nCREATE ROLE "Auditoría ""2026""" NOLOGIN;\n'


@pytest.mark.parametrize("dump", [
    # A role name holding a newline spans lines in the dump: none of its lines is a whole
    # CREATE ROLE statement, so nothing of it reaches psql as SQL.
    'CREATE ROLE "x\nCREATE ROLE evil SUPERUSER LOGIN PASSWORD \'p\'; --";\n',
    'CREATE ROLE "x\nCREATE ROLE evil SUPERUSER; --";\n',
    'CREATE ROLE evil; ALTER ROLE evil SUPERUSER;\n',
    "CREATE ROLE evil LOGIN SUPERUSER;\n",
])
def test_a_hostile_role_name_never_becomes_sql(dump):
    assert cmd.missing_roles(dump, []) == []


def test_a_name_line_that_looks_like_a_role_is_created_bare_and_quoted():
    """At worst a fragment of a hostile name is itself a bare role name: created unable to log in."""
    names = cmd.missing_roles('CREATE ROLE "x\nCREATE ROLE evil;\n";\n', [])
    assert names == ["evil"]
    assert cmd.bare_roles_sql(names) == 'CREATE ROLE "evil" NOLOGIN;\n'
    assert cmd.bare_roles_sql(['a"b\nc']) == 'CREATE ROLE "a""b\nc" NOLOGIN;\n'


def test_no_role_without_a_globals_file():
    assert cmd.create_missing_roles("cid", "credinet", None) == []


def test_a_missing_or_damaged_globals_file_only_skips_the_roles(tmp_path):
    import types

    backup = types.SimpleNamespace(dump=str(tmp_path / "k.dump.zst"))
    manifest = types.SimpleNamespace(globals=types.SimpleNamespace(name="k.globals.sql.zst", sha256="ab"))
    assert cmd.globals_of({"backup_dir": str(tmp_path)}, backup, manifest) is None
    (tmp_path / "k.globals.sql.zst").write_bytes(b"damaged")
    assert cmd.globals_of({"backup_dir": str(tmp_path)}, backup, manifest) is None
    manifest.globals.sha256 = cmd.job.sha256_of(str(tmp_path / "k.globals.sql.zst"))
    assert cmd.globals_of({"backup_dir": str(tmp_path)}, backup, manifest) == str(tmp_path / "k.globals.sql.zst")


@pytest.mark.parametrize("tables, full_check, expected", [
    ({"t": {"rows": 2, "checksum": "77"}}, False, {"t": {"rows": 2}}),
    ({"t": {"rows": 2, "checksum": "77"}}, True, {"t": {"rows": 2, "checksum": "77"}}),
    # backup_table_checksums: false records "0" for a table with rows: its rows only.
    ({"t": {"rows": 2, "checksum": "0"}}, True, {"t": {"rows": 2}}),
    # An empty table's checksum is 0 by definition: compared as it is.
    ({"t": {"rows": 0, "checksum": "0"}}, True, {"t": {"rows": 0, "checksum": "0"}}),
])
def test_expected_stats(tables, full_check, expected):
    assert cmd.expected_stats(tables, full_check) == expected
    restored = {t: {"rows": v["rows"], "checksum": "99"} for t, v in tables.items()}
    assert set(cmd.restored_stats(restored, expected)["t"]) == set(expected["t"])


class TestReleaseRecord:
    """Every manifest carries the release record of its time: what a rebuild deploys."""

    SHA = "0123456789abcdef0123456789abcdef01234567"

    def test_the_record_is_copied(self, cfg, tmp_path):
        (tmp_path / "release.json").write_text(json.dumps({"sha": self.SHA, "ref": "main", "previous": None}))
        cfg["release_file"] = str(tmp_path / "release.json")
        assert cmd.current_release(cfg) == {"sha": self.SHA, "ref": "main", "previous": None}

    @pytest.mark.parametrize("content", [None, "", "{", "[]", '{"sha": "main"}', "[" * 100000 + "]" * 100000,
                                         '{"ref": "\\ud800"}', '{"ref": "%s"}' % ("x" * 70000), "\xff\xfe"])
    def test_no_record_or_a_bad_one_never_fails_a_backup(self, cfg, tmp_path, content, capsys):
        path = tmp_path / "release.json"
        if content is not None:
            path.write_text(content)
        cfg["release_file"] = str(path)
        assert cmd.current_release(cfg) is None
        assert ("not copied into the manifest" in capsys.readouterr().out) is (content is not None)

    def test_no_release_file_configured(self, cfg):
        assert cmd.current_release(cfg) is None
