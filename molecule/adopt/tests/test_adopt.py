"""Taking over hosts that run the stack by hand (issue #10): zero rows lost, the same volume, the
operators' habits kept, the cut-off back in Mexico City time, one backup job, dev untouched."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import http_json

APP = "/home/jair/proyectos/credinet-v2"
PROJECT = "credinet-v2"
REPO = Path(os.environ.get("CREDINET_CACHE", "/var/cache/credinet-ops")) / "git" / "credinet-v2-adopttest.git"
INVARIANTS = (Path(__file__).parents[2] / "shared" / "invariants.py").read_text()


@pytest.fixture
def prod_only(env_name):
    if env_name != "prod":
        pytest.skip("prod host only")


@pytest.fixture
def dev_only(env_name):
    if env_name != "dev":
        pytest.skip("dev host only")


def invariants(host):
    return json.loads(host.check_output("python3 - <<'PY'\n%s\nPY" % INVARIANTS))


def before(host, name):
    return host.file("/root/adopt/" + name).content_string


def db_volume(host):
    return host.check_output("docker inspect -f '{{ range .Mounts }}{{ .Name }}{{ end }}' $(docker ps -q --filter "
                             "label=com.docker.compose.project=%s --filter label=com.docker.compose.service=postgres)"
                             % PROJECT)


def env_file(host):
    return host.file(APP + "/.env").content_string


def git(*args):
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.test", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_no_row_lost_and_the_same_volume(host, prod_only):
    assert invariants(host) == json.loads(before(host, "invariants.json"))
    assert db_volume(host) == before(host, "volume").strip() == PROJECT + "_pgdata"


def test_the_stack_is_managed_under_the_discovered_project(host, prod_only):
    ps = json.loads("[" + ",".join(host.check_output(
        "cd %s && runuser -u jair -- docker compose ps --format json" % APP).splitlines()) + "]")
    assert {c["Project"] for c in ps} == {PROJECT}
    assert {c["Service"] for c in ps} >= {"postgres", "backend", "frontend"}
    config = json.loads(host.check_output("cd %s && runuser -u jair -- docker compose config --format json" % APP))
    assert config["name"] == PROJECT
    assert config["services"]["backend"]["environment"]["TZ"] == "America/Mexico_City", "the override is in effect"


def test_the_cutoff_runs_at_0005_mexico_city_time(host):
    was = json.loads(before(host, "health.json"))
    assert was["next_cutoff"].endswith("T00:05:00+00:00"), "the incident reproduced before the takeover"
    status, now = http_json(host, "http://127.0.0.1:8000/health")
    assert status == 200
    assert now["next_cutoff"].endswith("T00:05:00-06:00") and now["utc_offset"] == "-0600"


def test_exactly_one_backup_schedule(host, prod_only):
    timer = host.file("/etc/systemd/system/credinet-backup.timer").content_string
    assert "OnCalendar=*-*-* 02:00:00 America/Mexico_City" in timer.splitlines()
    crontab = host.check_output("crontab -l -u jair")
    active = [line for line in crontab.splitlines() if "backup-db.sh" in line and not line.lstrip().startswith("#")]
    assert active == []
    retired = [line for line in crontab.splitlines() if line.startswith("# credinet-ops: disabled")]
    assert len(retired) == 1 and "credinet-backup.timer" in retired[0] and "backup-db.sh" in retired[0]
    saved = retired[0].split("original crontab in ", 1)[1].split(":", 1)[0]
    assert "0 2 * * * %s/scripts/backup-db.sh" % APP in host.file(saved).content_string
    assert host.file(saved).mode == 0o600


def test_a_verified_backup_was_taken_first_and_old_backups_stay_listed(host, prod_only):
    sets = json.loads(host.check_output("credinet-backup list --json"))
    assert [s for s in sets if s["status"] == "good"], "the new command backed up the running database"
    legacy = [s for s in sets if s["status"] == "legacy"]
    assert len(legacy) == 2 and all(s["key"].startswith(APP + "/backups/") for s in legacy)
    manifest = json.loads(host.file("/var/backups/credinet/%s.manifest.json" % [s for s in sets if s["status"] == "good"][0]
                                    ["key"]).content_string)
    assert (manifest["env"], manifest["compose_project"]) == ("prod", PROJECT)


def test_env_is_merged_never_clobbered(host, prod_only):
    env = env_file(host)
    assert "DISCORD_WEBHOOK_URL=https://discord.example.test/api/webhooks/111111/HAND-written-fake-discord-token" in env, \
        "an empty vault value never blanks the working token"
    assert "REPORTES_HABILITADOS=1" in env and "# Credinet - configurado a mano (jair)" in env
    assert "POSTGRES_USER=credinet" in env and "POSTGRES_DB=credinet" in env, "database settings untouched"
    assert "COMPOSE_PROJECT_NAME='%s'" % PROJECT in env
    assert host.file(APP + "/.env").mode == 0o600
    copies = host.file("/var/backups/credinet/env").listdir()
    assert copies and all(host.file("/var/backups/credinet/env/" + c).mode == 0o600 for c in copies)
    audit = [json.loads(line) for line in host.file("/var/lib/credinet-deploy/audit.jsonl").content_string.splitlines()]
    settings = [a for a in audit if a["event"] == "app_settings_changed"]
    assert settings and "TZ" in settings[0]["keys"]
    text = json.dumps(audit)
    assert "HAND-written" not in text and "sandbox-fake" not in text, "the audit names keys, never values"


def test_daemon_json_keeps_the_operators_setting(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["log-level"] == "warn" and daemon["live-restore"] is True


def test_a_project_that_would_start_on_an_empty_volume_is_refused(host, hostname, playbook, scenario_dir, prod_only):
    result = playbook(scenario_dir / "converge.yml", hostname, "-e", "runtime_compose_project=credinet")
    assert result.rc != 0
    text = result.output.replace("\n", " ")
    assert "Compose project 'credinet' would start PostgreSQL" in text
    assert "credinet-v2_pgdata (project credinet-v2, loans=203, payments=2005, users=203)" in text
    assert "Nothing was changed." in text
    assert result.recap(hostname)["changed"] == 0


def test_a_different_database_password_is_refused(host, hostname, playbook, scenario_dir, prod_only):
    result = playbook(scenario_dir / "converge.yml", hostname, "-e", "vault_postgres_password=another-fake-password")
    assert result.rc != 0
    assert "POSTGRES_PASSWORD would change for a database that already holds data" in result.output
    assert "Preflight - environment and the running stack" in result.output.split("POSTGRES_PASSWORD would change")[0] \
        .rsplit("PLAY [", 1)[-1], "refused in the first play, before any change"
    assert "another-fake-password" not in result.output
    assert result.recap(hostname)["changed"] == 0


def test_dev_feature_branch_and_local_edits_survive(host, dev_only):
    assert host.check_output("runuser -u jair -- git -C %s symbolic-ref HEAD" % APP) == before(host, "branch").strip()
    assert host.check_output("runuser -u jair -- git -C %s rev-parse HEAD" % APP) == before(host, "head").strip()
    # The same status, less the untracked .env that is now excluded (see the next test).
    untracked_env = "?? .env"
    assert untracked_env in before(host, "status").splitlines(), "the branch's .gitignore lists no .env"
    status = host.check_output("runuser -u jair -- git -C %s status --porcelain" % APP).strip()
    assert status == "\n".join(line for line in before(host, "status").strip().splitlines() if line != untracked_env)
    assert host.check_output("runuser -u jair -- sha256sum %s/frontend/index.html" % APP) == before(host, "edited").strip()


def test_a_stopped_dev_stack_converges_without_its_first_backup(host, hostname, playbook, scenario_dir, dev_only):
    """Developers stop their stack: no running database to lose, so the converge goes on without
    the takeover backup (it follows when the stack runs again), never failing halfway for it, and
    the stack stays stopped."""
    compose = "cd %s && runuser -u jair -- docker compose " % APP
    host.check_output(compose + "stop")
    host.check_output("mv /var/backups/credinet /root/backups-aside && install -d -m 0700 /var/backups/credinet")
    try:
        result = playbook(scenario_dir / "converge.yml", hostname)
        assert result.rc == 0, result.output[-3000:]
        assert host.check_output("find /var/backups/credinet -maxdepth 1 -name 'credinet_*'") == "", \
            "no backup of a stopped database"
        assert host.check_output(compose + "ps -q") == "", "a stopped dev stack stays stopped"
    finally:
        host.check_output("rm -rf /var/backups/credinet && mv /root/backups-aside /var/backups/credinet")
        host.check_output(compose + "start")


def test_the_env_cannot_be_committed_on_dev(host, dev_only):
    """A `git add .` on dev must never commit the secrets in .env: the checkout's own exclude file
    lists it (never a tracked file: the .gitignore stays as the developer has it)."""
    jair = "runuser -u jair -- git -C %s " % APP
    assert "/.env" in host.file(APP + "/.git/info/exclude").content_string.splitlines()
    assert host.run(jair + "check-ignore -q .env").rc == 0
    assert host.run(jair + "diff --quiet HEAD -- .gitignore").rc == 0


def test_prod_excludes_nothing_its_repository_already_ignores(host, prod_only):
    assert "/.env" not in host.file(APP + "/.git/info/exclude").content_string.splitlines()


def test_dev_accepts_a_developers_branch_but_never_deploys_over_local_edits(host, hostname, playbook, scenario_dir,
                                                                            dev_only):
    develop = git("--git-dir", str(REPO), "rev-parse", "refs/heads/develop")
    git("--git-dir", str(REPO), "update-ref", "refs/heads/feature/prueba-dev", develop)
    try:
        result = playbook(scenario_dir / "deploy.yml", hostname, "-e", "app_ref=feature/prueba-dev")
        assert result.rc != 0 and "has local modifications" in result.output, result.output[-3000:]
        assert "may be deployed here" not in result.output, "dev accepts -e app_ref=feature/..."
        assert result.recap(hostname)["changed"] == 0
        test_dev_feature_branch_and_local_edits_survive(host, None)
        jair = "runuser -u jair -- git -C %s " % APP
        wip = host.check_output(jair + "rev-parse HEAD")
        host.run_expect([0], jair + "stash -q")
        try:
            # A local branch of that name holding a commit the remote lacks: never moved past it.
            host.run_expect([0], jair + "branch feature/prueba-dev " + wip)
            result = playbook(scenario_dir / "deploy.yml", hostname, "-e", "app_ref=feature/prueba-dev")
            assert result.rc != 0 and "commit(s) that" in result.output, result.output[-3000:]
            assert host.check_output(jair + "rev-parse feature/prueba-dev") == wip
            host.run_expect([0], jair + "branch -D feature/prueba-dev")
            # Clean, nothing to lose: dev deploys the developer's branch.
            result = playbook(scenario_dir / "deploy.yml", hostname, "-e", "app_ref=feature/prueba-dev")
            assert result.rc == 0, result.output[-3000:]
            assert host.check_output(jair + "symbolic-ref HEAD") == "refs/heads/feature/prueba-dev"
            assert host.check_output(jair + "rev-parse HEAD") == develop
            assert host.check_output(jair + "rev-parse feature/reporte-cartera") == wip, "the WIP commit stays"
        finally:
            host.run_expect([0], jair + "checkout -q feature/reporte-cartera")
            host.run_expect([0], jair + "stash pop -q")
    finally:
        git("--git-dir", str(REPO), "update-ref", "-d", "refs/heads/feature/prueba-dev")


def test_safe_docker_keeps_the_operators_habit(host, prod_only):
    ps = host.run("runuser -u jair -- safe-docker ps --format json")
    assert ps.rc == 0 and PROJECT in ps.stdout, "safe-docker ps = docker compose ps in the app folder"
    assert host.run("runuser -u jair -- safe-docker logs --tail 1 backend").rc == 0
    assert host.run("runuser -u jair -- safe-docker images -q").rc == 0, "other docker commands pass through"


def test_safe_docker_lets_everything_through_on_dev(host, dev_only):
    """Dev runs feature branches: the guard installed there stands aside (prod's refusal:
    scenario deploy)."""
    assert host.file("/usr/local/bin/safe-docker").mode == 0o755
    branch = host.check_output("runuser -u jair -- git -C %s symbolic-ref -q --short HEAD" % APP)
    assert branch not in ("main", "develop"), branch
    result = host.run("runuser -u jair -- safe-docker images -q")
    assert result.rc == 0 and "BLOQUEADO" not in result.stderr, result.stderr


def test_first_deploy_backs_up_and_rolls_back_to_the_adopted_release(host, hostname, playbook, scenario_dir, prod_only,
                                                                     tmp_path):
    adopted = host.check_output("runuser -u jair -- git -C %s rev-parse HEAD" % APP)
    work = tmp_path / "work"
    git("clone", "-q", "-b", "main", str(REPO), str(work))
    app = work / "backend/app.py"
    app.write_text(app.read_text().replace("return True, counts", "return False, 'broken on purpose'"))
    git("-C", str(work), "commit", "-qam", "broken health")
    git("-C", str(work), "push", "-q", "origin", "main")
    try:
        result = playbook(scenario_dir / "deploy.yml", hostname, "-e", "app_health_timeout=20")
        assert result.rc != 0
        assert "rolled back to %s" % adopted in result.output.replace("\n", " ")
        audit = [json.loads(line) for line in host.file("/var/lib/credinet-deploy/audit.jsonl").content_string.splitlines()]
        entry = audit[-1]
        assert (entry["from"], entry["result"]) == (adopted, "rolled_back")
        assert entry["backup"] and host.file("/var/backups/credinet/%s.manifest.json" % entry["backup"]).exists
        status, body = http_json(host, "http://127.0.0.1:8000/health")
        assert status == 200 and body["next_cutoff"].endswith("-06:00")
        assert invariants(host) == json.loads(before(host, "invariants.json")), "zero rows lost through it all"
        assert db_volume(host) == PROJECT + "_pgdata"
    finally:
        git("--git-dir", str(REPO), "update-ref", "refs/heads/main", adopted)
