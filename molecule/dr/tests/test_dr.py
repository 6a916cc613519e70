"""The rebuilt prod host (playbooks/dr-rebuild.yml on an empty host, from the offsite copy only)."""
import json
import os
import re
import shlex
from pathlib import Path

import pytest

from conftest import fake_received, http_get, telegram_texts

PROJECT = Path(__file__).resolve().parents[3]
STATE = "/var/lib/credinet-deploy"
BACKUPS = "/var/backups/credinet"
REPO = Path(os.environ.get("CREDINET_CACHE", "/var/cache/credinet-ops")) / "git" / "credinet-v2-drtest.git"
# The sandbox's fake secrets: none may show in what the rebuild printed or sent.
FAKE_SECRETS = ("sandbox-fake-crypt-password", "sandbox-fake-crypt-salt", "sandbox-fake-db-password",
                "FAKE-sandbox-telegram-token", "FAKE-sandbox-discord-token")


@pytest.fixture(scope="module")
def before():
    """What prepare recorded on the old host before it was destroyed."""
    return json.loads((Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "dr-before.json").read_text())


def invariants(host):
    script = (PROJECT / "molecule" / "shared" / "invariants.py").read_text()
    return json.loads(host.check_output("python3 -c %s --catalog" % shlex.quote(script)))


def release(host):
    return json.loads(host.file(STATE + "/release.json").content_string)


def test_every_invariant_is_equal_zero_rows_lost(host, before):
    after = invariants(host)
    edge_table = '"Cobranza 2026"."Pagos ""raros"" ñ"'
    # The scenario's data is really there before comparing: not two empty databases.
    assert before["invariants"][edge_table].split()[0] == "3001"
    assert before["invariants"]["public.dr_vacia"].startswith("0 ")
    assert before["invariants"]["sequence public.dr_folio"] == "4242 7"
    assert "view public.dr_resumen" in before["invariants"]
    assert "dr_reportes=r/credinet" in before["invariants"]['grants public.dr_resumen']
    assert "role dr_reportes" in before["invariants"]
    different = {k: (v, after.get(k)) for k, v in before["invariants"].items() if after.get(k) != v}
    assert different == {}, "differs after the rebuild (before, after): %s" % different


def test_the_app_runs_the_recorded_commit_not_the_newer_main(host, before):
    recorded = before["release"]["sha"]
    newer = os.popen("git --git-dir=%s rev-parse main" % shlex.quote(str(REPO))).read().strip()
    assert re.fullmatch(r"[0-9a-f]{40}", newer) and newer != recorded, "main moved on after the backup (prepare)"
    now = release(host)
    assert now["sha"] == recorded and now["ref"] == "main"
    assert re.fullmatch(r"credinet_credinet_\d{8}T\d{6}[+-]\d{4}", now["rebuilt_from"])
    head = host.check_output("runuser -u jair -- git -C /home/jair/proyectos/credinet-v2 rev-parse HEAD")
    assert head == recorded
    branch = host.check_output("runuser -u jair -- git -C /home/jair/proyectos/credinet-v2 symbolic-ref HEAD")
    assert branch == "refs/heads/main", "safe-docker on prod requires the checkout on main"


def test_the_app_is_healthy_on_the_restored_data(host):
    status, body = http_get(host, "http://127.0.0.1:8000/health")
    assert status == 200, body
    services = host.check_output("docker ps --format '{{.Label \"com.docker.compose.service\"}} {{.Status}}'")
    assert {line.split()[0] for line in services.splitlines()} >= {"postgres", "backend", "frontend"}
    assert "unhealthy" not in services


def test_the_scheduled_jobs_run_again(host):
    """The rebuild held them disabled: they are enabled and running again at its end."""
    for timer in ("credinet-backup.timer", "credinet-offsite.timer", "credinet-restore-drill.timer"):
        assert host.service(timer).is_enabled and host.service(timer).is_running, timer


def test_a_fresh_verified_backup_of_the_rebuilt_host_is_offsite(host, before):
    local = json.loads(host.check_output("credinet-backup list --json"))
    good = [s["key"] for s in local if s["status"] == "good"]
    assert len(good) == 2, "the fetched set and the fresh one: %s" % good
    fresh = json.loads(host.file("%s/%s.manifest.json" % (BACKUPS, good[-1])).content_string)
    assert fresh["release"]["sha"] == before["release"]["sha"]
    assert fresh["env"] == "prod"
    assert fresh["tables"] == json.loads(host.file("%s/%s.manifest.json" % (BACKUPS, good[0])).content_string)["tables"]
    remote = json.loads(host.check_output("credinet-offsite list --json"))
    assert good[-1] in [s["key"] for s in remote if s["status"] == "good"], "the fresh set reached the remote"


def test_the_rebuild_printed_and_kept_its_phase_table(host):
    table = host.file("/var/lib/credinet/dr-rebuild-last.txt").content_string
    phases = ["preflight", "base", "docker", "notify, backup and offsite settings", "fetch from the offsite copy",
              "app at the recorded commit, database only", "restore roles and database, compare with the manifest",
              "stack up, health gate", "fresh verified backup, scheduled jobs on"]
    rows = [line for line in table.splitlines() if line.split(" ")[0] in {p.split(" ")[0] for p in phases}]
    assert [row[:len(p)] for row, p in zip(rows, phases)] == phases, table
    total = re.search(r"^total +([0-9.]+)", table, re.M)
    assert total and 0 < float(total.group(1)) < 600, "the rebuild takes under 10 minutes on the sandbox:\n" + table


def test_the_operators_are_told_without_secrets(host):
    texts = telegram_texts(host)
    done = [t for t in texts if "TERMINADA" in t]
    assert done and "Reconstrucción de" in done[-1], texts
    # What was sent (the request path holds the bot token, as Telegram's API wants).
    sent = json.dumps([r["payload"] for r in fake_received(host)], ensure_ascii=False)
    assert "dr_completed" in sent
    for secret in FAKE_SECRETS:
        assert secret not in sent


def test_a_second_rebuild_is_refused_and_changes_nothing(host, hostname, playbook):
    before_release = host.file(STATE + "/release.json").content_string
    before_sets = host.check_output("ls %s" % BACKUPS)
    result = playbook(PROJECT / "playbooks" / "dr-rebuild.yml", hostname,
                      "-e", "dr_confirm=%s" % hostname, "-e", "offsite_enabled=true")
    assert result.rc != 0
    assert "already has the stack" in result.flat and "Nothing was changed." in result.flat
    assert host.file(STATE + "/release.json").content_string == before_release
    assert host.check_output("ls %s" % BACKUPS) == before_sets
    for secret in FAKE_SECRETS:
        assert secret not in result.output


def test_a_prod_rebuild_needs_the_typed_confirmation(hostname, playbook):
    result = playbook(PROJECT / "playbooks" / "dr-rebuild.yml", hostname, "-e", "offsite_enabled=true")
    assert result.rc != 0
    assert "-e dr_confirm=%s to confirm. Nothing was changed." % hostname in result.flat


def psql(host, sql):
    db = host.check_output("docker ps -q --filter label=com.docker.compose.service=postgres")
    return host.check_output("docker exec %s psql -qAtX -U credinet -d credinet -c %s" % (db, shlex.quote(sql)))


RECORD = "/var/lib/credinet/dr-rebuild.json"
EDGE = '"Cobranza 2026"."Pagos ""raros"" ñ"'


def rebuild_again(hostname, playbook, *extra):
    ip = os.popen("docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' dr-remote").read().strip()
    assert re.fullmatch(r"[0-9.]+", ip), ip
    return playbook(PROJECT / "playbooks" / "dr-rebuild.yml", hostname, "-e", "dr_confirm=%s" % hostname,
                    "-e", "@%s" % (PROJECT / "molecule" / "dr" / "vars" / "rebuild.yml"), "-e", "offsite_sftp_host=" + ip,
                    *extra)


def test_a_completed_rebuild_is_not_redone_even_when_forced(host, hostname, playbook):
    assert json.loads(host.file(RECORD).content_string)["state"] == "completed"
    before_release = host.file(STATE + "/release.json").content_string
    result = rebuild_again(hostname, playbook, "-e", "dr_force=true")
    assert result.rc != 0
    assert "was rebuilt completely" in result.flat and "Nothing was changed." in result.flat
    assert host.file(STATE + "/release.json").content_string == before_release


def test_a_rebuild_cut_short_blocks_other_playbooks_and_resumes_without_restoring_again(host, hostname, playbook,
                                                                                        before):
    """A rebuild that stopped after its restore (health gate, backup, anything): deploys and
    site.yml refuse the host; run again with dr_force it resumes after the restore, and a payment
    registered in between stays."""
    record = json.loads(host.file(RECORD).content_string)
    record["state"] = "restored"
    host.run_expect([0], "printf %%s %s > %s" % (shlex.quote(json.dumps(record)), RECORD))
    psql(host, "INSERT INTO %s (cliente, monto) VALUES ('después', 1.5)" % EDGE)

    deploy = playbook(PROJECT / "playbooks" / "deploy.yml", hostname)
    assert deploy.rc != 0 and "is unfinished" in deploy.flat and "Nothing was changed." in deploy.flat

    result = rebuild_again(hostname, playbook, "-e", "dr_force=true")
    assert result.rc == 0, result.output[-4000:]
    assert "resumes after that restore" in result.flat
    assert psql(host, "SELECT count(*) FROM %s WHERE cliente = 'después'" % EDGE) == "1"
    restores = psql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE 'credinet\\_\\_pre\\_restore\\_%'")
    assert restores == "1", "the first rebuild's restore only"
    assert json.loads(host.file(RECORD).content_string)["state"] == "completed"
    assert release(host)["sha"] == before["release"]["sha"]
    status, _ = http_get(host, "http://127.0.0.1:8000/health")
    assert status == 200
    for secret in FAKE_SECRETS:
        assert secret not in result.output
