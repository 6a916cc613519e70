"""The credinet_event module, run in-process with a fake notifier that records its calls."""
import json
import os

import pytest

from conftest import fake_command, load_source, run_module

module = load_source("library/credinet_event.py")
VALUES = {"previous": "abc123", "target": "def456"}


@pytest.fixture
def notifier(tmp_path):
    """A fake notifier that records its calls and exits with NOTIFY_EXIT."""
    return fake_command(tmp_path, "credinet-notify", "sys.exit(int(os.environ.get('NOTIFY_EXIT', '0')))\n")


def event(**overrides):
    return dict({"event": "deploy_started", "values": VALUES, "env": "prod", "host": "credicuenta3"}, **overrides)


@pytest.mark.parametrize("lang, expected", [
    (None, "Despliegue iniciado en credicuenta3 (prod): abc123 → def456"),
    ("es", "Despliegue iniciado en credicuenta3 (prod): abc123 → def456"),
    ("en", "Deploy started on credicuenta3 (prod): abc123 → def456"),
])
def test_renders_the_catalog_text(lang, expected, capsys):
    args = event() if lang is None else event(lang=lang)
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["text"] == expected
    assert out["changed"] is False and out["notified"] == "notifier not installed"


def test_the_host_defaults_to_the_machine_name(capsys, monkeypatch):
    monkeypatch.setattr(module.socket, "gethostname", lambda: "sandbox-prod")
    code, out = run_module(module, event(host=None, event="deploy_succeeded"), capsys)
    assert code == 0 and out["text"] == "Despliegue correcto en sandbox-prod (prod): def456"


@pytest.mark.parametrize("name, values, missing", [
    ("deploy_started", {"target": "def456"}, "previous"),
    ("deploy_rolled_back", {"target": "t", "previous": "p", "failure": "f"}, "backup"),
    ("deploy_succeeded", {}, "target"),
])
def test_a_missing_value_fails_naming_the_message(name, values, missing, capsys):
    code, out = run_module(module, event(event=name, values=values), capsys)
    assert code == 1
    assert out["msg"].startswith("message %s: " % name) and missing in out["msg"]


def test_an_unknown_message_fails_naming_it(capsys):
    code, out = run_module(module, event(event="deploy_exploded"), capsys)
    assert code == 1 and "deploy_exploded" in out["msg"]


@pytest.mark.parametrize("field", ["host", "env", "lang", "name"])
def test_a_value_that_repeats_a_render_argument_fails_cleanly(field, capsys):
    # host and env have their own options (lang and name are the catalog's own arguments): the
    # same name in `values` must fail the task, not crash the module with a TypeError.
    code, out = run_module(module, event(values=dict(VALUES, **{field: "other"})), capsys)
    assert code == 1 and "deploy_started" in out["msg"] and field in out["msg"]


def test_the_audit_line_is_one_json_line_with_event_and_text(tmp_path, capsys, umask_022):
    audit = tmp_path / "deploys.log"
    record = {"sha": "def456", "previous": "abc123", "deployer": "ana@laptop", "result": "deployed", "nota": "sí"}
    code, out = run_module(module, event(audit_file=str(audit), audit=record), capsys)
    assert code == 0
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == dict(record, event="deploy_started", text=out["text"])
    assert "→" in lines[0] and "sí" in lines[0]  # kept readable, not \\u-escaped
    assert os.stat(audit).st_mode & 0o777 == 0o640


def test_audit_lines_are_appended(tmp_path, capsys):
    audit = tmp_path / "deploys.log"
    audit.write_text('{"earlier": true}\n')
    os.chmod(audit, 0o600)
    run_module(module, event(audit_file=str(audit), audit={"n": 1}), capsys)
    run_module(module, event(event="deploy_succeeded", audit_file=str(audit), audit={"n": 2}), capsys)
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert lines[0] == {"earlier": True}
    assert [(r["n"], r["event"]) for r in lines[1:]] == [(1, "deploy_started"), (2, "deploy_succeeded")]
    assert os.stat(audit).st_mode & 0o777 == 0o600  # an existing file keeps its mode


def test_no_audit_without_a_record(tmp_path, capsys):
    audit = tmp_path / "deploys.log"
    code, _ = run_module(module, event(audit_file=str(audit)), capsys)
    assert code == 0 and not audit.exists()


def test_the_notifier_gets_event_level_and_text(notifier, capsys):
    code, out = run_module(module, event(level="critical", notify_command=notifier.path), capsys)
    assert code == 0 and out["notified"] == "sent" and out["changed"] is False
    assert notifier.calls() == [["--event", "deploy_started", "--level", "critical", out["text"]]]


def test_the_level_defaults_to_info(notifier, capsys):
    run_module(module, event(notify_command=notifier.path), capsys)
    assert notifier.calls()[0][:4] == ["--event", "deploy_started", "--level", "info"]


def test_a_failing_notifier_does_not_fail_the_task(notifier, capsys, monkeypatch):
    monkeypatch.setenv("NOTIFY_EXIT", "3")
    code, out = run_module(module, event(notify_command=notifier.path), capsys)
    assert code == 0 and out["notified"] == "notifier exit 3" and len(notifier.calls()) == 1


def test_a_hanging_notifier_is_cut_at_its_timeout(tmp_path, capsys):
    slow = fake_command(tmp_path, "slow-notify", "import time\ntime.sleep(30)\n")
    code, out = run_module(module, event(notify_command=slow.path, notify_timeout=1), capsys)
    assert code == 0 and out["notified"] == "notifier error: TimeoutExpired"


@pytest.mark.parametrize("kind", ["absent", "not executable", "none"])
def test_a_missing_notifier_is_reported_not_failed(kind, tmp_path, capsys):
    args = event()
    if kind != "none":
        path = tmp_path / "credinet-notify"
        if kind == "not executable":
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(0o644)
        args["notify_command"] = str(path)
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["notified"] == "notifier not installed"


def test_check_mode_records_and_sends_nothing(notifier, tmp_path, capsys):
    audit = tmp_path / "deploys.log"
    code, out = run_module(module, event(notify_command=notifier.path, audit_file=str(audit), audit={"n": 1},
                                         _ansible_check_mode=True), capsys)
    assert code == 0 and out["changed"] is False
    assert out["text"].startswith("Despliegue iniciado") and out["notified"] == "check mode: nothing sent"
    assert not audit.exists() and notifier.calls() == []


def test_check_mode_still_refuses_a_broken_message(capsys):
    code, out = run_module(module, event(values={}, _ansible_check_mode=True), capsys)
    assert code == 1 and "deploy_started" in out["msg"]
