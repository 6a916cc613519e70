"""The run-summary callback: summary text, silence when unconfigured, delivery, no leaks."""
import configparser
import json
from types import SimpleNamespace

import pytest

from conftest import FAKE_HOOK_TOKEN, FAKE_TOKEN, ROOT, load_source
from credinet_ops import envfile

callback = load_source("callback_plugins/credinet_run_summary.py")

COUNTS = {"ok": 10, "changed": 2, "failures": 0, "unreachable": 0, "skipped": 1, "rescued": 0, "ignored": 0}


class Stats:
    def __init__(self, per_host):
        self.per_host = per_host
        self.processed = dict.fromkeys(per_host, 1)

    def summarize(self, host):
        return self.per_host[host]


def failed_result(msg, no_log=False):
    return SimpleNamespace(_result={"msg": msg}, _task=SimpleNamespace(no_log=no_log, get_name=lambda: "Deploy | up"),
                           _host=SimpleNamespace(get_name=lambda: "credicuenta3"))


def test_summary_text_is_spanish_and_complete():
    text = callback.summary_text("deploy.yml", "prod", {"credicuenta3": COUNTS}, 42.4, "Deploy | up en credicuenta3: x")
    assert text.splitlines() == ["Playbook: deploy.yml", "Entorno: prod", "Duración: 42 s",
                                 "credicuenta3: ok=10 changed=2 failed=0 unreachable=0",
                                 "Primer fallo: Deploy | up en credicuenta3: x"]


def test_silent_without_configuration(monkeypatch, fakes):
    monkeypatch.delenv("CREDINET_NOTIFY_ENV_FILE", raising=False)
    cb = callback.CallbackModule()
    cb.v2_playbook_on_stats(Stats({"h": COUNTS}))
    assert fakes.received() == []


@pytest.fixture
def configured(monkeypatch, fakes, tmp_path):
    settings = dict(fakes.settings, NOTIFY_ROUTES="info=discord;critical=discord")
    env_file = tmp_path / "notify.env"
    env_file.write_text("".join("%s=%s\n" % kv for kv in settings.items()))
    monkeypatch.setenv("CREDINET_NOTIFY_ENV_FILE", str(env_file))
    return fakes


def test_failed_run_sends_critical_summary_with_first_failure_redacted(configured):
    cb = callback.CallbackModule()
    cb.playbook = "deploy.yml"
    cb.v2_runner_on_failed(failed_result("POST https://api.telegram.org/bot%s/x failed" % FAKE_TOKEN.replace(":", "%3A")))
    cb.v2_runner_on_failed(failed_result("second failure"))
    cb.v2_playbook_on_stats(Stats({"credicuenta3": dict(COUNTS, failures=1)}))
    (sent,) = configured.received("discord")
    assert sent["payload"]["content"].endswith("playbook_failed")
    body = sent["payload"]["embeds"][0]["description"]
    assert "Primer fallo: Deploy | up en credicuenta3: POST https://api.telegram.org/bot***/x failed (failed)" in body
    assert "second failure" not in body
    assert FAKE_TOKEN.split(":")[1] not in json.dumps(sent["payload"])


def test_no_log_task_output_is_not_forwarded(configured):
    cb = callback.CallbackModule()
    cb.v2_runner_on_failed(failed_result("secret stuff", no_log=True))
    cb.v2_playbook_on_stats(Stats({"h": dict(COUNTS, failures=1)}))
    assert "secret stuff" not in json.dumps(configured.received())
    assert "salida oculta" in configured.received("discord")[0]["payload"]["embeds"][0]["description"]


def test_ignored_errors_are_not_the_first_failure(configured):
    cb = callback.CallbackModule()
    cb.v2_runner_on_failed(failed_result("ignored"), ignore_errors=True)
    cb.v2_playbook_on_stats(Stats({"h": COUNTS}))
    (sent,) = configured.received("discord")
    assert sent["payload"]["content"].endswith("playbook_completed")
    assert "Primer fallo" not in sent["payload"]["embeds"][0]["description"]


def test_undeliverable_summary_only_warns_without_secrets(configured, monkeypatch, capsys):
    monkeypatch.setattr(callback.cn, "post_json", lambda *a, **k: (_ for _ in ()).throw(OSError("refused " + FAKE_HOOK_TOKEN)))
    warnings = []
    cb = callback.CallbackModule()
    monkeypatch.setattr(cb._display, "warning", warnings.append)
    monkeypatch.setattr(callback.cn.time, "sleep", lambda s: None)
    cb.v2_playbook_on_stats(Stats({"h": COUNTS}))
    assert warnings and "not delivered to discord" in warnings[0]
    assert FAKE_HOOK_TOKEN not in warnings[0]


def test_the_callback_is_named_as_ansible_cfg_enables_it():
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "ansible.cfg")
    assert callback.CallbackModule.CALLBACK_NAME == "credinet_run_summary"
    assert "credinet_run_summary" in [c.strip() for c in cfg["defaults"]["callbacks_enabled"].split(",")]
    assert "name: credinet_run_summary" in callback.DOCUMENTATION


def test_reads_a_notify_env_written_by_the_role(monkeypatch, fakes, tmp_path):
    # The role writes every value single-quoted (credinet_env_lines); the callback must read them back.
    settings = dict(fakes.settings, NOTIFY_ROUTES="info=discord")
    env_file = tmp_path / "notify.env"
    env_file.write_text("# managed\n" + "".join(envfile.line(k, v) + "\n" for k, v in settings.items()))
    monkeypatch.setenv("CREDINET_NOTIFY_ENV_FILE", str(env_file))
    cb = callback.CallbackModule()
    assert cb.settings == settings
    cb.v2_playbook_on_stats(Stats({"h": COUNTS}))
    assert len(fakes.received("discord")) == 1
