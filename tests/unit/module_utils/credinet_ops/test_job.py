"""credinet_ops.job: settings, atomic writes, metrics, notification order, the lock, the top level."""
import errno
import hashlib
import json
import os
import signal
import sys

import pytest

from conftest import FakeCommand, fake_command, json_lines
from credinet_ops import job


def raise_enospc(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def notifier(tmp_path):
    """A fake credinet-notify: its calls, each with its argv and which bookkeeping files existed then."""
    watched = [str(tmp_path / "state" / "notifications.jsonl"), str(tmp_path / "metrics" / "x.prom")]
    existing = tmp_path / "notifier.existing"
    fake = fake_command(tmp_path, "credinet-notify", """
        with open(%r, 'a') as fh:
            fh.write(json.dumps([p for p in %r if os.path.exists(p)]) + '\\n')
        """ % (str(existing), watched))

    def calls_made():
        return [{"argv": argv, "existing": seen} for argv, seen in zip(fake.calls(), json_lines(existing))]

    return FakeCommand(fake.path, calls_made)


@pytest.fixture
def cfg(tmp_path, notifier):
    return {"notify_command": notifier.path, "state_dir": str(tmp_path / "state"), "metrics_dir": str(tmp_path / "metrics"),
            "env": "prod", "lang": "es"}


@pytest.fixture
def process_state():
    """job.main sets the umask and signal handlers of the process: give pytest its own back."""
    umask = os.umask(0o022)
    os.umask(umask)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    os.umask(umask)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


class TestSettings:
    def test_job_config_gets_its_zone(self, tmp_path):
        path = tmp_path / "job.json"
        path.write_text(json.dumps({"timezone": "America/Mexico_City", "retention": {"keep_days": 9}}))
        cfg = job.load_config(str(path))
        assert str(cfg["tz"]) == "America/Mexico_City" and cfg["retention"] == {"keep_days": 9}
        path.write_text(json.dumps({"timezone": ""}))
        assert str(job.load_config(str(path))["tz"]) == job.DEFAULT_TIMEZONE

    @pytest.mark.parametrize(("text", "fragment"), [("{", "not valid JSON"), ("[]", "must hold a JSON object"),
                                                    ('{"timezone": "Mars/Base"}', "unknown timezone"),
                                                    ('{"timezone": "../etc"}', "unknown timezone"), (None, "cannot read")])
    def test_bad_settings_are_job_errors(self, tmp_path, text, fragment):
        path = tmp_path / "job.json"
        if text is not None:
            path.write_text(text)
        with pytest.raises(job.JobError, match=fragment):
            job.load_config(str(path))

    def test_require_names_missing_and_empty_settings(self):
        assert job.require({"a": 1, "b": "", "c": [], "d": {}, "e": 0}, "a", "b", "c", "d", "e", "f") == [
            "b is missing or empty", "c is missing or empty", "d is missing or empty", "f is missing or empty"]

    def test_message_in_the_job_language_with_env(self):
        assert "prod" in job.message({"lang": "en", "env": "prod"}, "backup_failed", error="disk full")
        assert job.message({"lang": "en", "env": "prod"}, "backup_failed", error="x").startswith("Backup FAILED")
        assert job.message({}, "backup_failed", error="x").startswith("FALLÓ")

    def test_sha256_of_reads_in_chunks(self, tmp_path):
        path = tmp_path / "f"
        path.write_bytes(b"a" * (3 << 20))
        assert job.sha256_of(str(path)) == hashlib.sha256(b"a" * (3 << 20)).hexdigest()


class TestWriteAtomic:
    def test_writes_with_mode_and_no_temp_left(self, tmp_path):
        target = tmp_path / "m.prom"
        job.write_atomic(str(target), "a 1\n", mode=0o644)
        assert target.read_text() == "a 1\n"
        assert oct(target.stat().st_mode & 0o777) == "0o644"
        assert os.listdir(tmp_path) == ["m.prom"]

    def test_bytes_and_default_mode(self, tmp_path):
        target = tmp_path / "state.json"
        job.write_atomic(str(target), b"\x00\xff")
        assert target.read_bytes() == b"\x00\xff" and oct(target.stat().st_mode & 0o777) == "0o600"

    def test_failure_leaves_old_file_and_no_temp(self, tmp_path, monkeypatch):
        target = tmp_path / "m.prom"
        target.write_text("old")
        monkeypatch.setattr(job.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
        with pytest.raises(OSError):
            job.write_atomic(str(target), "new")
        assert target.read_text() == "old"
        assert os.listdir(tmp_path) == ["m.prom"]

    def test_full_disk_at_fsync_leaves_old_content_and_no_temp(self, tmp_path, monkeypatch):
        target = tmp_path / "m.prom"
        target.write_text("old")
        monkeypatch.setattr(job.os, "fsync", raise_enospc)
        with pytest.raises(OSError) as err:
            job.write_atomic(str(target), "new" * 1000)
        assert err.value.errno == errno.ENOSPC
        assert target.read_text() == "old"
        assert os.listdir(tmp_path) == ["m.prom"]

    def test_missing_directory_creates_nothing(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            job.write_atomic(str(tmp_path / "nope" / "m.prom"), "x")
        assert os.listdir(tmp_path) == []


class TestMetrics:
    def test_prometheus_text_format(self):
        text = job.prometheus_text({"credinet_backup_last_exit_status": ("Exit status", 0),
                                    "credinet_backup_last_duration_seconds": ("Seconds", 1.5)}, {"db": 'cre"dinet'})
        assert '# TYPE credinet_backup_last_exit_status gauge' in text
        assert 'credinet_backup_last_exit_status{db="cre\\"dinet"} 0\n' in text
        assert 'credinet_backup_last_duration_seconds{db="cre\\"dinet"} 1.5' in text

    def test_label_values_are_escaped(self):
        text = job.prometheus_text({"m": ("h", True)}, {"host": "a\\b\nc"})
        assert 'm{host="a\\\\b\\nc"} 1\n' in text

    def test_metrics_are_written_atomically_or_skipped(self, tmp_path):
        assert job.write_metrics({"metrics_dir": ""}, "x.prom", {"a": ("h", 1)}, {}) is None
        assert job.write_metrics({"metrics_dir": str(tmp_path / "m")}, "x.prom", {"a": ("h", 1)}, {"env": "prod"}) is None
        assert (tmp_path / "m" / "x.prom").read_text().endswith('a{env="prod"} 1\n')

    def test_a_stale_file_is_removed_when_it_cannot_be_rewritten(self, tmp_path, monkeypatch):
        (tmp_path / "x.prom").write_text('credinet_backup_last_exit_status{env="prod"} 0\n')  # yesterday's "ok"
        monkeypatch.setattr(job.os, "fsync", raise_enospc)
        error = job.write_metrics({"metrics_dir": str(tmp_path)}, "x.prom", {"a": ("h", 1)}, {})
        assert "not written" in error and "No space left on device" in error and "old file removed" in error
        assert os.listdir(tmp_path) == []

    def test_an_unremovable_stale_file_is_reported_not_raised(self, tmp_path, monkeypatch):
        (tmp_path / "x.prom").write_text("old")
        monkeypatch.setattr(job.os, "fsync", raise_enospc)
        real_unlink = os.unlink

        def unlink(path, *args, **kwargs):
            if str(path).endswith("/x.prom"):
                raise PermissionError(errno.EACCES, "Permission denied")
            return real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(job.os, "unlink", unlink)
        error = job.write_metrics({"metrics_dir": str(tmp_path)}, "x.prom", {"a": ("h", 1)}, {})
        assert "not written" in error and "NOT removed" in error
        assert os.listdir(tmp_path) == ["x.prom"]

    def test_a_metrics_dir_that_cannot_exist_is_an_error_text(self, tmp_path):
        (tmp_path / "file").write_text("x")
        assert "not written" in job.write_metrics({"metrics_dir": str(tmp_path / "file" / "m")}, "x.prom", {}, {})


class TestNotify:
    def test_notify_without_a_notifier_still_records(self, tmp_path):
        cfg = {"notify_command": str(tmp_path / "missing"), "state_dir": str(tmp_path / "state")}
        record = job.notify(cfg, "backup_failed", "critical", "x")
        assert record["result"] == "notifier not installed"
        assert job.record_notification(cfg, record) is None
        stored = json.loads((tmp_path / "state" / "notifications.jsonl").read_text())
        assert (stored["event"], stored["level"], stored["text"]) == ("backup_failed", "critical", "x")

    def test_notify_passes_event_level_text_and_reports_failure(self, tmp_path):
        notify = fake_command(tmp_path, "notify", "sys.exit(1)\n")
        cfg = {"notify_command": notify.path, "state_dir": str(tmp_path / "state")}
        assert job.notify(cfg, "offsite_failed", "critical", "sin red")["result"] == "notifier exit 1"
        assert notify.calls() == [["--event", "offsite_failed", "--level", "critical", "sin red"]]

    def test_a_hung_notifier_is_bounded(self, tmp_path, monkeypatch):
        hung = fake_command(tmp_path, "notify", "import time\ntime.sleep(30)\n")
        monkeypatch.setattr(job, "NOTIFY_TIMEOUT_SECONDS", 0.2)
        assert job.notify({"notify_command": hung.path}, "x", "info", "t")["result"] == "notifier error: TimeoutExpired"

    def test_the_record_carries_the_systemd_invocation(self, tmp_path, monkeypatch):
        monkeypatch.setenv("INVOCATION_ID", "abc123")
        assert job.notify({}, "x", "info", "t")["invocation"] == "abc123"

    def test_record_notification_reports_instead_of_raising(self, tmp_path):
        (tmp_path / "file").write_text("x")
        error = job.record_notification({"state_dir": str(tmp_path / "file" / "state")}, {"event": "x"})
        assert error.startswith("notification record not written")


class TestOutcome:
    def test_notifies_before_any_bookkeeping_write(self, cfg, notifier, tmp_path):
        outcome = job.Outcome(cfg, "backup_completed", "info", "todo bien", "x.prom", {"a": ("h", 1)})
        assert outcome.report() == []
        (call,) = notifier.calls()
        assert call["argv"] == ["--event", "backup_completed", "--level", "info", "todo bien"]
        assert call["existing"] == []  # neither the record nor the metrics were written yet
        assert json.loads((tmp_path / "state" / "notifications.jsonl").read_text())["result"] == "sent"
        assert (tmp_path / "metrics" / "x.prom").exists()

    def test_bookkeeping_failures_are_notified_too(self, cfg, notifier, tmp_path, monkeypatch):
        (tmp_path / "blocker").write_text("x")
        cfg["state_dir"] = str(tmp_path / "blocker" / "state")  # cannot be created: like a full or broken disk
        monkeypatch.setattr(job.os, "fsync", raise_enospc)
        errors = job.Outcome(cfg, "backup_failed", "critical", "falló", "x.prom", {"a": ("h", 0)}).report()
        assert len(errors) == 2
        assert errors[0].startswith("notification record not written") and errors[1].startswith("metrics")
        first, second = notifier.calls()
        assert first["argv"] == ["--event", "backup_failed", "--level", "critical", "falló"]
        assert second["argv"][:4] == ["--event", "bookkeeping_failed", "--level", "critical"]
        assert "No space left on device" in second["argv"][4] and "prod" in second["argv"][4]

    def test_without_metrics_only_the_record_is_written(self, cfg, notifier, tmp_path):
        assert job.Outcome(cfg, "restore_completed", "warning", "ok").report() == []
        assert len(notifier.calls()) == 1
        assert not (tmp_path / "metrics").exists()


class TestLock:
    def test_lock_is_exclusive_and_names_its_holder(self, tmp_path):
        cfg = {"lock_file": str(tmp_path / "lock"), "lock_wait_seconds": 0}
        holder = "holds .*lock \\(pid %d .* since" % os.getpid()
        # A second lock while the first is held:
        with job.locked(cfg), pytest.raises(job.JobError, match=holder) as err, job.locked(cfg):
            pass
        assert os.path.basename(sys.argv[0]) in str(err.value)
        assert str(err.value).endswith("Nothing was changed.")  # every job takes its locks before any work
        with job.locked(cfg):  # released
            pass

    def test_a_lock_released_while_waiting_is_taken(self, tmp_path, monkeypatch):
        cfg = {"lock_file": str(tmp_path / "lock"), "lock_wait_seconds": 60}
        holder = job.locked(cfg)
        holder.__enter__()
        waits = []

        def release_on_first_wait(seconds):
            waits.append(seconds)
            holder.__exit__(None, None, None)

        monkeypatch.setattr(job.time, "sleep", release_on_first_wait)
        with job.locked(cfg):
            assert "pid %d" % os.getpid() in (tmp_path / "lock").read_text()
        assert waits == [2]

    def test_an_unopenable_lock_is_a_job_error(self, tmp_path):
        with pytest.raises(job.JobError, match="cannot open the job lock"), job.locked(
                {"lock_file": str(tmp_path / "missing-dir" / "lock")}):
            pass


class TestMain:
    @pytest.fixture
    def config(self, tmp_path, cfg):
        path = tmp_path / "job.json"
        path.write_text(json.dumps(cfg))
        return str(path)

    def test_success_returns_the_run_status_without_notifying(self, config, notifier, process_state):
        assert job.main("credinet-backup run", lambda cfg: 0, "backup_failed", config) == 0
        assert notifier.calls() == []

    def test_an_unexpected_exception_is_notified(self, config, notifier, tmp_path, process_state):
        def run(cfg):
            return None.missing  # a bug: AttributeError

        assert job.main("credinet-backup run", run, "backup_failed", config) == 1
        (call,) = notifier.calls()
        assert call["argv"][:4] == ["--event", "backup_failed", "--level", "critical"]
        assert "AttributeError" in call["argv"][4] and "missing" in call["argv"][4]
        record = json.loads((tmp_path / "state" / "notifications.jsonl").read_text())
        assert record["event"] == "backup_failed" and record["result"] == "sent"

    def test_a_crash_report_quotes_no_secret(self, tmp_path, cfg, notifier, process_state, capsys):
        token = "123456:FAKE-bot-token-for-tests"
        (tmp_path / "notify.env").write_text("TELEGRAM_BOT_TOKEN='%s'\n" % token)
        path = tmp_path / "job.json"
        path.write_text(json.dumps(dict(cfg, notify_env_file=str(tmp_path / "notify.env"), db_password="hunter2-fake")))

        def run(cfg):
            raise ValueError("cannot post to https://api.telegram.org/bot%s/x with hunter2-fake (%s)"
                             % (token, token.replace(":", "%3A")))

        assert job.main("credinet-backup run", run, "backup_failed", str(path)) == 1
        logged = capsys.readouterr().out
        (call,) = notifier.calls()
        for text in (logged, " ".join(call["argv"])):
            assert "ValueError" in text and "***" in text
            assert "FAKE-bot-token" not in text and "hunter2" not in text

    def test_secrets_are_found_at_any_depth_and_odd_settings_never_break_the_report(self, tmp_path):
        cfg = {"offsite": {"crypt_password": 123456, "remote": "drive:"}, "list": [{"smtp_token": "t0k"}],
               "notify_env_file": 7, "flag_secret": True}
        assert sorted(job.known_secrets(cfg)) == ["123456", "t0k"]
        assert job.known_secrets({"notify_env_file": str(tmp_path / "absent")}) == []

    def test_a_job_error_is_notified_with_its_message(self, config, notifier, process_state):
        def run(cfg):
            raise job.JobError("database container not running")

        assert job.main("credinet-offsite run", run, "offsite_failed", config) == 1
        (call,) = notifier.calls()
        assert call["argv"][1] == "offsite_failed" and "database container not running" in call["argv"][4]

    @pytest.mark.parametrize("event", ["backup_failed", "restore_failed", "restore_drill_failed", "offsite_failed",
                                       "command_failed"])
    def test_every_failure_event_of_the_commands_can_be_reported(self, config, notifier, process_state, event):
        # Some of these messages need more than the error (an app state, a set key): a crash
        # must still reach the operators.
        def run(cfg):
            raise KeyError("boom")

        assert job.main("credinet-backup x", run, event, config) == 1
        (call,) = notifier.calls()
        assert call["argv"][:4] == ["--event", event, "--level", "critical"]
        assert "KeyError" in call["argv"][4]

    def test_unreadable_settings_use_the_fallback_notifier(self, tmp_path, notifier, monkeypatch, process_state):
        monkeypatch.setattr(job, "FALLBACK_CONFIG", {"notify_command": notifier.path, "state_dir": str(tmp_path / "state")})
        assert job.main("credinet-backup run", lambda cfg: 0, "backup_failed", str(tmp_path / "missing.json")) == 1
        (call,) = notifier.calls()
        assert call["argv"][1] == "backup_failed" and "cannot read" in call["argv"][4]

    def test_the_process_is_prepared_for_a_scheduled_run(self, config, process_state):
        seen = {}

        def run(cfg):
            seen["umask"] = os.umask(0o077)
            seen["sigterm"] = signal.getsignal(signal.SIGTERM)
            return 0

        job.main("credinet-backup run", run, "backup_failed", config)
        assert seen["umask"] == 0o077
        with pytest.raises(SystemExit) as exit_info:
            seen["sigterm"](signal.SIGTERM, None)
        assert exit_info.value.code == 128 + signal.SIGTERM


def test_signals_deferred_notes_stop_signals_and_puts_the_handlers_back():
    before = {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS}
    with job.signals_deferred() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        done = "the block ran to its end"
    assert done and signals.received == [signal.SIGINT, signal.SIGTERM]
    assert {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS} == before


def test_signals_deferred_with_stop_stops_on_the_first_signal_then_only_notes():
    before = {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS}
    reached = []
    with job.signals_deferred(stop=True) as signals:
        with pytest.raises(SystemExit) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            reached.append("after the first signal")
        os.kill(os.getpid(), signal.SIGHUP)
        reached.append("after the second")
    assert stopped.value.code == 128 + signal.SIGTERM
    assert reached == ["after the second"] and signals.received == [signal.SIGTERM, signal.SIGHUP]
    assert {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS} == before


def test_signals_deferred_puts_the_handlers_back_when_the_block_fails():
    before = {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS}
    with pytest.raises(ValueError), job.signals_deferred():
        raise ValueError("bug")
    assert {sig: signal.getsignal(sig) for sig in job.STOP_SIGNALS} == before


def test_log_never_raises_when_its_reader_is_gone(monkeypatch):
    class Gone:
        def write(self, _text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(sys, "stdout", Gone())
    job.log("still %s", "here")
