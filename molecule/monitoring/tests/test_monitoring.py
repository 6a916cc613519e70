"""Role monitoring: the stack runs within its budget, every target is up, alerts reach the loopback
Telegram and Discord servers in Spanish (and resolve), a deploy is silenced and leaves it running."""
import email
import email.policy
import json
import re
import shlex
import time
import urllib.parse

import pytest
from conftest import PROJECT, fake_received, http_json, load_plugin, wait_until

DIR = "/opt/credinet-monitoring"
PROM = "http://127.0.0.1:9090"
AM = "http://127.0.0.1:9093"
SERVICES = ["alertmanager", "blackbox-exporter", "node-exporter", "postgres-exporter", "prometheus"]
BUDGET_MB = 300
SECRETS = ("FAKE-sandbox-telegram-token", "FAKE-sandbox-discord-token", "sandbox-fake-smtp-password",
           "FAKE-sandbox-telegram-token".replace("-", "%2D"))
dashboards = load_plugin("tests/grafana_dashboards.py")


def query(host, promql):
    status, body = http_json(host, "%s/api/v1/query?query=%s" % (PROM, urllib.parse.quote(promql)))
    assert status == 200 and body["status"] == "success", body
    return body["data"]["result"]


def containers(host):
    """{compose service: container id} of the monitoring project."""
    out = host.check_output("docker ps --filter label=com.docker.compose.project=credinet-monitoring "
                            "--format '{{.Label \"com.docker.compose.service\"}} {{.ID}}'")
    return dict(line.split() for line in out.splitlines())


def am_alerts(host, name):
    return [a for a in http_json(host, AM + "/api/v2/alerts")[1] if a["labels"]["alertname"] == name]


def email_text(raw):
    """Subject and text body of a received message, decoded."""
    message = email.message_from_string(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    return "%s\n%s" % (message["Subject"], body.get_content() if body else "")


def texts(host, since):
    """(channel, text) of the Telegram, Discord and email messages received after record `since`."""
    found = []
    for record in fake_received(host)[since:]:
        payload = record.get("payload") or {}
        if record["channel"] == "telegram":
            found.append(("telegram", payload["text"]))
        elif record["channel"] == "discord" and "embeds" in payload:
            found += [("discord", "%s\n%s" % (e.get("title", ""), e.get("description", ""))) for e in payload["embeds"]]
        elif record["channel"] == "email":
            found.append(("email", email_text(record["data"])))
    return found


def wait_for_text(host, since, *needles, seconds=240):
    """Both channels received a text holding every needle; returns those texts."""
    def probe():
        hits = [(channel, t) for channel, t in texts(host, since) if all(n in t for n in needles)]
        return hits if {c for c, _ in hits} >= {"telegram", "discord"} else None
    hits = wait_until(probe, seconds=seconds, interval=3)
    assert hits, "no Telegram + Discord text with %r; received: %r" % (needles, texts(host, since)[-6:])
    return hits


@pytest.fixture(scope="module")
def up(host):
    """Every target has been scraped at least once."""
    def all_up():
        targets = http_json(host, PROM + "/api/v1/targets")[1]["data"]["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None
    targets = wait_until(all_up, seconds=90, interval=2)
    assert targets, http_json(host, PROM + "/api/v1/targets")[1]
    return targets


def test_every_target_is_up_including_the_probes_and_the_peer(up):
    jobs = {(t["labels"]["job"], t["labels"].get("target_name", "")) for t in up}
    assert jobs == {("prometheus", ""), ("alertmanager", ""), ("node", ""), ("blackbox_exporter", ""), ("postgres", ""),
                    ("blackbox", "backend"), ("blackbox", "frontend"), ("peer", "dev-health"), ("peer", "dev-alertmanager")}


def test_probes_and_database_report_success(host, up):
    assert {r["metric"]["target_name"]: r["value"][1] for r in query(host, "probe_success")} == {
        "backend": "1", "frontend": "1", "dev-health": "1", "dev-alertmanager": "1"}
    assert query(host, "pg_up")[0]["value"][1] == "1"


def test_the_textfile_collector_reads_the_jobs_and_container_metrics(host, up):
    assert wait_until(lambda: query(host, 'credinet_container_running{service="backend"} == 1'), seconds=90, interval=3)
    assert query(host, "credinet_backup_last_success_timestamp_seconds"), "the backup job's metrics are read"
    assert query(host, "node_textfile_scrape_error")[0]["value"][1] == "0"


def test_a_separate_project_on_the_loopback_only(host):
    assert set(containers(host)) == set(SERVICES)
    listening = host.check_output("ss -Htlnp")
    for port in (9090, 9093, 9100, 9115, 9187):
        addresses = set(re.findall(r"\s(\S+):%d\s" % port, listening))
        assert addresses == {"127.0.0.1"}, (port, addresses)
    assert ":9094 " not in listening, "no Alertmanager cluster port"


def test_every_container_has_a_memory_limit_within_the_budget_and_the_zone(host):
    limits = {}
    for service, cid in containers(host).items():
        info = json.loads(host.check_output("docker inspect %s" % cid))[0]
        limits[service] = info["HostConfig"]["Memory"]
        assert info["HostConfig"]["Memory"] > 0, service
        if info["HostConfig"]["NetworkMode"] == "host" or service == "postgres-exporter":
            assert "TZ=America/Mexico_City" in info["Config"]["Env"], service
    assert sum(limits.values()) <= BUDGET_MB * 1024 * 1024
    used = host.check_output("docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' %s" % " ".join(containers(host).values()))
    print("monitoring stack memory (docker stats):\n" + used)


def test_secrets_live_in_files_only_the_services_read(host):
    # Alertmanager's own user: nobody (node-exporter, which sees the host's files) cannot read them.
    for name in ("telegram-bot-token", "discord-webhook-url", "smtp-password", "heartbeat-url"):
        secret = host.file("%s/alertmanager/secrets/%s" % (DIR, name))
        assert (secret.mode, secret.uid) == (0o600, 59093), name
    config = host.file(DIR + "/alertmanager/alertmanager.yml")
    assert (config.mode, config.user, config.gid) == (0o640, "root", 59093)
    node_exporter = containers(host)["node-exporter"]
    denied = host.run("docker exec %s cat /host%s/alertmanager/secrets/telegram-bot-token" % (node_exporter, DIR))
    assert denied.rc != 0 and "FAKE" not in denied.stdout
    password = host.file(DIR + "/postgres-exporter/db-password")
    assert (password.mode, password.uid) == (0o600, 65534)
    rendered = host.check_output("cat %s/alertmanager/alertmanager.yml %s/prometheus/prometheus.yml %s/docker-compose.monitoring.yml"
                                 % (DIR, DIR, DIR))
    for secret in SECRETS:
        assert secret not in rendered
    exporter = json.loads(host.check_output("docker inspect %s" % containers(host)["postgres-exporter"]))[0]
    assert "DATA_SOURCE_PASS_FILE=/run/credinet/db-password" in exporter["Config"]["Env"]
    assert not any(e.startswith(("DATA_SOURCE_PASS=", "DATA_SOURCE_NAME=")) for e in exporter["Config"]["Env"])
    assert host.file(DIR + "/postgres-exporter/db-password").content_string.strip() not in json.dumps(exporter)


def test_the_exporter_logs_in_with_least_privilege(host):
    db = host.check_output("docker ps -q --filter label=com.docker.compose.service=postgres")
    row = host.check_output(
        "docker exec %s psql -U credinet -d credinet -Atc \"SELECT rolsuper, rolcreaterole, rolcreatedb, "
        "pg_has_role(oid, 'pg_monitor', 'MEMBER'), rolconnlimit FROM pg_roles WHERE rolname = 'credinet_monitor'\"" % db)
    assert row == "f|f|f|t|3"


def test_grafana_provisioning_names_the_datasource_the_dashboards_use(host):
    datasource = host.file(DIR + "/grafana/provisioning/datasources/credinet.yml").content_string
    assert re.search(r"^\s+uid: credinet-prometheus$", datasource, re.M)
    assert "url: \"http://127.0.0.1:9090\"" in datasource
    uids = set()
    for name in host.check_output("ls %s/grafana/dashboards" % DIR).split():
        dashboard = json.loads(host.file("%s/grafana/dashboards/%s" % (DIR, name)).content_string)
        uids |= {p["datasource"]["uid"] for p in dashboard["panels"] if "datasource" in p}
    assert uids == {"credinet-prometheus"}
    assert "grafana" not in containers(host), "no Grafana image in the sandbox (monitoring_grafana_enabled: false)"


def test_every_dashboard_query_evaluates_and_the_backup_panels_have_data(host, up):
    queries = dashboards.dashboard_queries(PROJECT / "roles/monitoring/files/grafana/dashboards")
    assert queries
    empty_backup_panels = []
    for uid, title, expr in queries:
        result = query(host, expr)  # asserts status success
        if uid == "credinet-backups" and "offsite" not in expr and "drill" not in expr and not result:
            empty_backup_panels.append(title)
    assert not empty_backup_panels, "backup panels without data: %s" % empty_backup_panels


def test_the_watchdog_reaches_the_dead_mans_switch(host):
    def beat():
        return [r for r in fake_received(host, "discord") if r["path"] == "/heartbeat"]
    beats = wait_until(beat, seconds=90, interval=3)
    assert beats, "no heartbeat"
    assert beats[-1]["payload"]["alerts"][0]["labels"]["alertname"] == "watchdog"


def run_silence(playbook, scenario_dir, hostname, action):
    return playbook(scenario_dir / "silence.yml", hostname, "-e", "monitoring_silence_action=%s" % action, check=True)


def test_an_alert_is_silenced_then_delivered_in_spanish_and_resolved(host, hostname, playbook, scenario_dir, up):
    """Backend stopped during a (deploy) silence: Prometheus fires service_down, Alertmanager
    holds it; the backup-stale alert is not silenced and arrives. The silence ends: service_down
    arrives on Telegram and Discord in Spanish with Mexico City time; the backend returns: resolved."""
    since = len(fake_received(host))
    metrics = "/var/lib/prometheus/node-exporter/credinet_backup.prom"
    original = host.file(metrics).content_string
    backend = host.check_output("docker ps -q --filter label=com.docker.compose.service=backend")
    run_silence(playbook, scenario_dir, hostname, "start")
    stale = int(time.time()) - 27 * 3600
    host.run_expect([0], "sed -i -E 's/^(credinet_backup_last_success_timestamp_seconds\\{[^}]*\\}) .*/\\1 %d/' %s"
                    % (stale, metrics))
    host.run_expect([0], "docker stop %s" % backend)
    try:
        stale_texts = wait_for_text(host, since, "No hay respaldo verificado en las últimas 26 horas", seconds=180)
        assert any("🔴 ALERTA" in t for _, t in stale_texts)
        suppressed = wait_until(lambda: [a for a in am_alerts(host, "service_down") if a["status"]["state"] == "suppressed"],
                                seconds=200, interval=3)
        assert suppressed and suppressed[0]["labels"]["target_name"] == "backend"
        assert not [t for _, t in texts(host, since) if "backend no responde" in t], "silenced, not delivered"
        run_silence(playbook, scenario_dir, hostname, "end")
        down = wait_for_text(host, since, "backend no responde en prod", seconds=90)
        assert all(re.search(r"Desde: \d\d/\d\d/\d{4} \d\d:\d\d (CST|CDT)", t) for _, t in down), down
        # Critical: email too (STARTTLS to the loopback relay, AUTH with the password file).
        assert wait_until(lambda: [t for c, t in texts(host, since) if c == "email" and "backend no responde en prod" in t],
                          seconds=60, interval=3), texts(host, since)[-4:]
    finally:
        host.run("docker start %s" % backend)
        host.run("printf %%s %s > %s.tmp && mv %s.tmp %s" % (shlex.quote(original), metrics, metrics, metrics))
    resolved = wait_for_text(host, since, "✅ RESUELTO", "Resuelto: backend no responde", seconds=120)
    assert resolved
    for _, text in texts(host, since):
        for secret in SECRETS:
            assert secret not in text


def deploy_silences(host):
    return {s["id"]: s for s in http_json(host, AM + "/api/v2/silences")[1] if s["createdBy"] == "credinet-ops deploy"}


def test_a_deploy_is_silenced_and_leaves_the_monitoring_project_running(host, hostname, playbook, scenario_dir):
    before, earlier = containers(host), set(deploy_silences(host))
    since = len(fake_received(host))
    result = playbook(PROJECT / "playbooks/deploy.yml", hostname, "-e", "app_force=true", check=True)
    assert "A planned restart does not page" in result.output
    assert containers(host) == before, "the app's deploy (remove_orphans) left the monitoring containers alone"
    new = [s for sid, s in deploy_silences(host).items() if sid not in earlier]
    assert len(new) == 1, "the deploy made its own silence"
    assert new[0]["status"]["state"] == "expired", "and ended it"
    assert new[0]["comment"].endswith("(%s)" % hostname)
    matchers = {m["name"]: m["value"] for m in new[0]["matchers"]}
    assert matchers["env"] == "prod" and "service_down" in matchers["alertname"]
    assert not [t for _, t in texts(host, since) if "ALERTA" in t], "the deploy paged"


def test_a_no_op_deploy_silences_nothing(host, hostname, playbook):
    """The no-op deploy stops early (end_host, which skips any `always`): a silence made before
    that stop would stay for monitoring_deploy_silence_minutes and hide a real outage."""
    earlier = set(deploy_silences(host))
    result = playbook(PROJECT / "playbooks/deploy.yml", hostname, check=True)
    assert "nothing to deploy" in result.flat
    assert result.recap(hostname)["changed"] == 0
    assert set(deploy_silences(host)) == earlier, "no silence was made"


def test_bad_input_is_refused_before_any_change(host, hostname, playbook):
    compose = host.file(DIR + "/docker-compose.monitoring.yml").sha256sum
    result = playbook(PROJECT / "playbooks/monitoring.yml", hostname,
                      "-e", '{"monitoring_memory_limits_mb": {"prometheus": 400, "alertmanager": 30, "node_exporter": 25, '
                            '"blackbox_exporter": 20, "postgres_exporter": 25, "grafana": 90}}', check=False)
    assert result.rc != 0
    assert "over the 300 MB budget. Nothing was changed." in result.flat
    assert host.file(DIR + "/docker-compose.monitoring.yml").sha256sum == compose
