"""roles/notify/files/credinet-notify: exit statuses, the OnFailure= hook's parts, no leaks."""
import json

import pytest

from conftest import FAKE_SMTP_PASSWORD, FAKE_TOKEN, load_source
from credinet_ops import envfile

cmd = load_source("roles/notify/files/credinet-notify")


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Point the command at a notify.env written the way the role writes it."""
    path = tmp_path / "notify.env"

    def write(settings):
        path.write_text("# managed\n" + "".join(envfile.line(k, v) + "\n" for k, v in settings.items()))
        return path

    monkeypatch.setattr(cmd, "CONFIG", str(path))
    return write


def record(state_dir, **fields):
    with open(state_dir / "notifications.jsonl", "a") as fh:
        fh.write(json.dumps(fields) + "\n")


class TestAlreadyReported:
    def test_a_critical_record_of_the_same_run(self, tmp_path):
        record(tmp_path, event="backup_failed", level="critical", invocation="run-1")
        assert cmd.already_reported(str(tmp_path), "run-1") is True

    @pytest.mark.parametrize(("level", "invocation", "asked"), [("info", "run-1", "run-1"), ("critical", "run-0", "run-1"),
                                                                 ("critical", "", ""), ("critical", "run-1", "")])
    def test_anything_else_is_not_reported(self, tmp_path, level, invocation, asked):
        record(tmp_path, event="x", level=level, invocation=invocation)
        assert cmd.already_reported(str(tmp_path), asked) is False

    def test_malformed_lines_and_missing_files_are_ignored(self, tmp_path):
        assert cmd.already_reported(str(tmp_path), "run-1") is False
        (tmp_path / "notifications.jsonl").write_text("{half a line\n")
        record(tmp_path, event="x", level="critical", invocation="run-1")
        assert cmd.already_reported(str(tmp_path), "run-1") is True


class TestLastLines:
    @pytest.mark.parametrize("unit", ["credinet-backup.service", "credinet-backup", "backup.service"])
    def test_the_job_log_of_the_unit(self, tmp_path, unit):
        (tmp_path / "backup.log").write_text("".join("line %d\n" % i for i in range(10)))
        assert cmd.last_lines(unit, str(tmp_path)) == "line 5 | line 6 | line 7 | line 8 | line 9"

    def test_long_logs_are_cut_to_their_end(self, tmp_path):
        (tmp_path / "offsite.log").write_text(("x" * 1000 + "\n") * 3 + "the end\n")
        text = cmd.last_lines("credinet-offsite.service", str(tmp_path))
        assert len(text) == 1500 and text.endswith("the end")

    def test_without_a_log_the_journal_is_asked(self, tmp_path, monkeypatch):
        asked = []

        def journal(argv, **kwargs):
            asked.append(argv)
            return type("Proc", (), {"stdout": "from journal\n"})()

        monkeypatch.setattr(cmd.subprocess, "run", journal)
        assert cmd.last_lines("credinet-backup.service", str(tmp_path)) == "from journal"
        assert asked[0][:3] == ["journalctl", "-u", "credinet-backup.service"]


class TestMain:
    def test_event_is_required(self, config, capsys):
        with pytest.raises(SystemExit) as exit_info:
            cmd.main(["hola"])
        assert exit_info.value.code == 2 and "--event is required" in capsys.readouterr().err

    def test_missing_configuration_exits_2(self, monkeypatch, tmp_path, capsys):
        monkeypatch.setattr(cmd, "CONFIG", str(tmp_path / "missing.env"))
        assert cmd.main(["--event", "x", "hola"]) == 2
        assert "configuration error" in capsys.readouterr().err

    def test_malformed_settings_exit_2_naming_keys_not_values(self, config, capsys):
        config({"TELEGRAM_BOT_TOKEN": "FAKE-bad-token", "SMTP_PORT": "99999", "NOTIFY_ROUTES": "critical=sms"})
        assert cmd.main(["--event", "x", "hola"]) == 2
        err = capsys.readouterr().err
        assert "TELEGRAM_BOT_TOKEN" in err and "SMTP_PORT" in err and "sms" in err
        assert "FAKE-bad-token" not in err

    def test_nothing_configured_is_not_a_failure(self, config, capsys):
        config({"CREDINET_ENV": "prod"})
        assert cmd.main(["--event", "backup_completed", "--level", "info", "hola"]) == 0
        assert "no channel configured for backup_completed/info" in capsys.readouterr().err

    def test_dry_run_json_names_every_configured_channel(self, config, fakes, capsys):
        config(fakes.settings)
        assert cmd.main(["--event", "notify_test", "--all-configured", "--dry-run", "--json", "prueba"]) == 0
        results = json.loads(capsys.readouterr().out)
        assert set(results) == {"telegram_chat", "telegram_group", "discord", "email"}
        assert all(r["detail"].startswith("would send") for r in results.values())
        assert fakes.received() == []

    def test_a_failed_channel_exits_1_and_prints_no_secret(self, config, fakes, capsys, monkeypatch):
        monkeypatch.setattr(cmd.cn.time, "sleep", lambda s: None)
        config(dict(fakes.settings, SMTP_PORT="1"))
        assert cmd.main(["--event", "backup_failed", "--level", "critical", "--channel", "email", "--channel",
                         "discord", "falló"]) == 1
        out = capsys.readouterr().out
        assert "discord" in out and "email" in out and "FAIL" in out
        assert FAKE_SMTP_PASSWORD not in out and FAKE_TOKEN not in out

    def test_text_from_stdin(self, config, fakes, capsys, monkeypatch):
        config(fakes.settings)
        monkeypatch.setattr(cmd.sys, "stdin", type("In", (), {"read": lambda self: "desde stdin"})())
        assert cmd.main(["--event", "x", "--channel", "discord"]) == 0
        assert fakes.received("discord")[0]["payload"]["embeds"][0]["description"] == "desde stdin"

    def test_the_failure_hook_skips_runs_that_reported_themselves(self, config, fakes, tmp_path, monkeypatch, capsys):
        config(fakes.settings)
        monkeypatch.setattr(cmd, "invocation_of", lambda unit: "run-7")
        record(tmp_path, event="backup_failed", level="critical", invocation="run-7")
        assert cmd.main(["--unit-failed", "credinet-backup.service", "--state-dir", str(tmp_path)]) == 0
        assert "already reported" in capsys.readouterr().out
        assert fakes.received() == []

    def test_the_failure_hook_reports_with_the_last_log_lines(self, config, fakes, tmp_path, monkeypatch):
        config(dict(fakes.settings, NOTIFY_ROUTES="job_unit_failed=discord", NOTIFY_LANG="en"))
        monkeypatch.setattr(cmd, "invocation_of", lambda unit: "run-8")
        (tmp_path / "backup.log").write_text("starting\nKilled\n")
        assert cmd.main(["--unit-failed", "credinet-backup.service", "--state-dir", str(tmp_path),
                         "--log-dir", str(tmp_path)]) == 0
        (sent,) = fakes.received("discord")
        assert sent["payload"]["content"].endswith("job_unit_failed")
        body = sent["payload"]["embeds"][0]["description"]
        assert "credinet-backup.service FAILED" in body and "starting | Killed" in body
