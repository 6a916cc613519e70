"""Role `notify` + host jobs, against loopback Telegram/Discord/SMTP servers in the host.

Part of the backup scenario (both converge notify + backup on the prod host): one host, one
converge and one idempotence run for both roles."""
import json
import re
import urllib.parse
from pathlib import Path

import pytest
from backup_helpers import side_config

FAKES = "/opt/credinet-fakes/received.jsonl"
TOKEN = "123456:FAKE-sandbox-telegram-token"
HOOK_TOKEN = "FAKE-sandbox-discord-token"
SMTP_PASSWORD = "sandbox-fake-smtp-password"
SECRET_FORMS = sorted({f for s in (TOKEN, HOOK_TOKEN, SMTP_PASSWORD)
                       for f in (s, urllib.parse.quote(s, safe=""), urllib.parse.quote(s, safe="").lower())})
APP_ENV = "/home/jair/proyectos/credinet-v2/.env"


def received(host, channel=None):
    rows = [json.loads(line) for line in host.file(FAKES).content_string.splitlines()]
    return [r for r in rows if channel is None or r["channel"] == channel]


def leaks(text):
    return [f for f in SECRET_FORMS if f in text]


@pytest.fixture
def fresh(host):
    host.run_expect([0], "truncate -s0 %s" % FAKES)


def inject(host, port, *statuses):
    host.run_expect([0], "python3 -c \"import json,urllib.request; urllib.request.urlopen(urllib.request.Request("
                         "'http://127.0.0.1:%d/_control', data=json.dumps({'respond': %s}).encode(), method='POST'))\""
                    % (port, list(statuses)))


def test_settings_files_are_0600_and_complete(host):
    conf = host.file("/etc/credinet/notify.env")
    assert conf.mode == 0o600 and conf.user == "root"
    # Values are single-quoted: Compose/.env rules read them back literally ($, " #", quotes).
    assert conf.contains("^TELEGRAM_BOT_TOKEN='%s'$" % TOKEN)
    assert conf.contains("^SMTP_PORT='18025'$")
    assert conf.contains("^CREDINET_ENV='prod'$")
    # The app's .env (here the fixture stack's) belongs to role app: no notifier setting lands in it.
    assert not re.search("TELEGRAM|DISCORD|SMTP_", host.file(APP_ENV).content_string)


def test_host_command_reaches_every_channel(host, hostname, fresh):
    result = host.run("credinet-notify --event notify_test --level critical 'Préstamo #42 (vencido) -10.5%'")
    assert result.rc == 0, result.stdout + result.stderr
    telegram = received(host, "telegram")
    assert sorted(r["payload"]["chat_id"] for r in telegram) == ["-1000000000001", "-1000000000002"]
    assert all(r["payload"]["parse_mode"] == "MarkdownV2" and r["answered"] == 200 for r in telegram)
    assert "Préstamo \\#42 \\(vencido\\) \\-10\\.5%" in telegram[0]["payload"]["text"]
    assert "\\[prod\\] %s" % hostname.replace("-", "\\-") in telegram[0]["payload"]["text"]
    (discord,) = received(host, "discord")
    assert discord["path"] == "/api/webhooks/000000/%s?wait=true" % HOOK_TOKEN
    assert discord["payload"]["embeds"][0]["description"] == "Préstamo #42 (vencido) -10.5%"
    (mail,) = received(host, "email")
    assert mail["tls"] is True and mail["user"] == "alertas"
    assert mail["to"] == ["<equipo@credinet.example.test>"]
    assert not leaks(result.stdout + result.stderr)


def test_backup_failure_is_notified_in_spanish(host, hostname, fresh):
    # A copy of the settings naming a Compose project that does not run (the real one does).
    env = side_config(host, "nostack", compose_project="no-such-project")
    assert host.run("%s credinet-backup run" % env).rc == 1
    (discord,) = received(host, "discord")
    description = discord["payload"]["embeds"][0]["description"]
    assert "FALLÓ el respaldo en %s (prod): " % hostname in description and "no-such-project" in description
    assert discord["payload"]["content"].endswith("backup_failed")
    # The side settings keep their state (and so the notification record) in /tmp/nostack/state.
    record = json.loads(host.file("/tmp/nostack/state/notifications.jsonl").content_string.splitlines()[-1])
    assert (record["event"], record["result"]) == ("backup_failed", "sent")


def test_one_channel_down_does_not_stop_the_others(host, fresh):
    inject(host, 18081, *[500] * 8)
    result = host.run("credinet-notify --event backup_failed --level critical 'sin telegram'")
    assert result.rc == 1
    assert "telegram_chat   FAIL gave up after 4 attempt(s): HTTP 500" in result.stdout
    assert "discord         ok" in result.stdout and "email           ok" in result.stdout
    assert len(received(host, "discord")) == 1 and len(received(host, "email")) == 1
    assert not leaks(result.stdout + result.stderr)


def test_telegram_429_retry_after_is_honoured(host, fresh):
    inject(host, 18081, 429)
    result = host.run("credinet-notify --event x --level info 'hola'")
    assert result.rc == 0
    assert [r["answered"] for r in received(host, "telegram")] == [429, 200]


def test_malformed_settings_fail_in_preflight_without_leaking(host, hostname, playbook, scenario_dir):
    before = host.file("/etc/credinet/notify.env").content_string
    result = playbook(scenario_dir / "converge.yml", hostname, "-e", "notify_telegram_chat_id=@canal",
                      "-e", "notify_smtp_port=99999")
    assert result.rc != 0
    assert "TELEGRAM_CHAT_ID must be a numeric chat id" in result.output
    assert "SMTP_PORT must be a number from 1 to 65535" in result.output
    assert result.recap(hostname)["changed"] == 0
    assert host.file("/etc/credinet/notify.env").content_string == before
    assert not leaks(result.output)


def test_tokens_never_appear_in_verbose_ansible_output(hostname, playbook, scenario_dir):
    result = playbook(scenario_dir / "converge.yml", hostname, "-vv", check=True)
    assert not leaks(result.output)


def test_tokens_only_in_the_0600_config_files(host):
    # The fakes' own record (the "SaaS side") is left out: it logs request paths with tokens. So are
    # the engine's image layers (read-only images); containers' settings and volumes are searched.
    pattern = " ".join("-e %s" % json.dumps(f) for f in SECRET_FORMS)
    out = host.run("grep -rlaF %s /etc /var/log /var/lib /var/backups /tmp /home /root /usr/local /opt "
                   "--exclude-dir=credinet-fakes --exclude-dir=overlay2 --exclude-dir=image 2>/dev/null" % pattern).stdout.split()
    assert out == ["/etc/credinet/notify.env"]


def test_notify_test_playbook_check_mode_sends_nothing(host, hostname, playbook, fresh):
    result = playbook(Path(__file__).parents[3] / "playbooks" / "notify-test.yml", hostname, "--check", check=True)
    assert "would send" in result.output
    assert received(host) == []


def test_notify_test_playbook_prints_a_table_and_delivers(host, hostname, playbook, fresh):
    result = playbook(Path(__file__).parents[3] / "playbooks" / "notify-test.yml", hostname, check=True)
    for channel in ("telegram_chat", "telegram_group", "discord", "email"):
        assert "%-15s ok" % channel in result.output
    assert len(received(host)) == 4
    assert not leaks(result.output)


@pytest.fixture
def controller_fakes(tmp_path):
    from fakes.loopback import Fakes  # the same fakes, on the controller's loopback
    fakes = Fakes(tmp_path)
    fakes.settings.update(TELEGRAM_BOT_TOKEN=TOKEN, DISCORD_WEBHOOK_URL="https://discord.example.test/api/webhooks/000000/"
                          + HOOK_TOKEN, SMTP_PASSWORD=SMTP_PASSWORD, NOTIFY_ROUTES="info=discord;critical=discord")
    env_file = tmp_path / "notify.env"
    env_file.write_text("".join("%s=%s\n" % kv for kv in fakes.settings.items()))
    env_file.chmod(0o600)
    yield fakes, {"CREDINET_NOTIFY_ENV_FILE": str(env_file)}
    fakes.close()


def test_callback_posts_a_run_summary(hostname, playbook, scenario_dir, controller_fakes):
    fakes, env = controller_fakes
    # The summary is what is tested here: the notifier role alone is run enough.
    ok = playbook(scenario_dir / "converge.yml", hostname, "--tags", "notify", check=True, env=env)
    (discord,) = fakes.received("discord")
    body = discord["payload"]["embeds"][0]["description"]
    assert discord["payload"]["content"].endswith("playbook_completed")
    assert "Playbook: converge.yml" in body and "Entorno: prod" in body
    assert "%s: ok=" % hostname in body and "failed=0" in body
    failed = playbook(scenario_dir / "converge.yml", hostname, "-e", "notify_smtp_port=0", env=env)
    assert failed.rc != 0
    bad = fakes.received("discord")[-1]
    assert bad["payload"]["content"].endswith("playbook_failed")
    assert ("Primer fallo: notify : Preflight | Assert the notifier settings are well-formed en %s: "
            "Malformed notifier settings: SMTP_PORT" % hostname) in bad["payload"]["embeds"][0]["description"]
    # Request paths carry the tokens by protocol; everything else must not.
    bodies = json.dumps([{k: v for k, v in r.items() if k != "path"} for r in fakes.received()])
    assert not leaks(ok.output + failed.output + bodies)


def first_result(output, task):
    """The first result line printed under the header of a task."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("TASK [") and task in line)
    return next(line for line in lines[start + 1:] if line.strip())


def test_the_runtime_package_is_copied_only_when_it_differs_and_drift_is_repaired(host, hostname, playbook,
                                                                                 scenario_dir):
    """Role runtime (a dependency of notify) skips the copy of an intact package and repairs an
    edited module, a mode drift and a folder that would shadow a module."""
    package = "/usr/local/lib/credinet-ops/credinet_ops"
    state = ("cd %s && find . -path ./__pycache__ -prune -o -printf '%%p %%m %%u %%g\\n' | sort && sha256sum *.py"
             % package)
    good = host.check_output(state)
    copy = "The credinet_ops package (only when it differs"
    intact = playbook(scenario_dir / "converge.yml", hostname, "--tags", "notify", check=True)
    assert first_result(intact.output, copy).startswith("skipping:")
    assert intact.recap(hostname)["changed"] == 0
    host.run_expect([0], "cd %s && echo '# edited on the host' >> sets.py && chmod 666 notify.py"
                         " && mkdir job && touch job/__init__.py" % package)
    repaired = playbook(scenario_dir / "converge.yml", hostname, "--tags", "notify", check=True)
    assert first_result(repaired.output, copy).startswith("changed:")
    assert repaired.recap(hostname)["changed"] == 2, "the shadowing folder removed, the package copied"
    assert host.check_output(state) == good
