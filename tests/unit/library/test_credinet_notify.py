"""The credinet_notify module, run in-process against the loopback fakes."""
import json
import time


from conftest import FAKE_TOKEN, load_source, run_module

module = load_source("library/credinet_notify.py")


def test_sends_to_all_configured_channels(fakes, capsys):
    code, out = run_module(module, {"event": "notify_test", "level": "info", "text": "hola", "settings": fakes.settings,
                                    "channels": ["all"], "host": "sandbox-prod"}, capsys)
    assert code == 0
    assert out["changed"] is True
    assert set(out["delivery"]) == {"telegram_chat", "telegram_group", "discord", "email"}
    assert len(fakes.received()) == 4
    assert FAKE_TOKEN not in json.dumps(out)


def test_check_mode_reports_and_sends_nothing(fakes, capsys):
    code, out = run_module(module, {"event": "x", "text": "hola", "settings": fakes.settings, "channels": ["all"],
                                    "_ansible_check_mode": True}, capsys)
    assert code == 0 and out["changed"] is False
    assert all(r["detail"].startswith("would send") for r in out["delivery"].values())
    assert fakes.received() == []


def test_failures_are_reported_and_fail_only_when_asked(fakes, capsys, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    settings = dict(fakes.settings, TELEGRAM_API_BASE="http://127.0.0.1:1")
    args = {"event": "x", "text": "hola", "settings": settings, "channels": ["telegram_group", "discord"]}
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["failed_channels"] == ["telegram_group"]
    code, out = run_module(module, dict(args, fail_on_error=True), capsys)
    assert code == 1 and "telegram_group" in out["msg"]
    assert FAKE_TOKEN not in json.dumps(out) and FAKE_TOKEN.replace(":", "%3A") not in json.dumps(out)


def test_unknown_channel_is_refused(fakes, capsys):
    code, out = run_module(module, {"event": "x", "text": "y", "settings": fakes.settings, "channels": ["sms"]}, capsys)
    assert code == 1 and "unknown channel(s): sms" in out["msg"]
