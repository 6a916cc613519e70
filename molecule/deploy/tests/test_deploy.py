"""Deploys on the prod host: guards, lock, change detection, backup, health gate, rollback, audit."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import http_json

REPO = Path(os.environ.get("CREDINET_CACHE", "/var/cache/credinet-ops")) / "git" / "credinet-v2-deploytest.git"
APP = "/home/jair/proyectos/credinet-v2"
STATE = "/var/lib/credinet-deploy"


@pytest.fixture
def prod_only(env_name):
    if env_name != "prod":
        pytest.skip("deploys run on the prod host")


def git(*args, cwd=None):
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.test", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def remote_sha(ref="main"):
    return git("--git-dir", str(REPO), "rev-parse", ref)


def push_commit(tmp_path, message, edit):
    work = tmp_path / "work"
    git("clone", "-q", "-b", "main", str(REPO), str(work))
    edit(work)
    git("commit", "-qam", message, cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return remote_sha()


def reset_main(sha):
    git("--git-dir", str(REPO), "update-ref", "refs/heads/main", sha)


def jair_git(host, args):
    """git in the checkout as its owner (root would hit git's dubious-ownership refusal)."""
    return host.check_output("runuser -u jair -- git -C %s %s" % (APP, args))


def audit(host):
    return [json.loads(line) for line in host.file(STATE + "/audit.jsonl").content_string.splitlines()]


def release(host):
    return json.loads(host.file(STATE + "/release.json").content_string)


def health(host):
    return http_json(host, "http://127.0.0.1:8000/health")


def deploy(playbook, scenario_dir, hostname, *args, check=None):
    return playbook(scenario_dir / "converge.yml", hostname, *args, check=check)


def test_main_is_deployed_healthy_and_recorded(host, prod_only):
    status, body = health(host)
    assert status == 200 and body["status"] == "ok"
    assert body["version"] == remote_sha("main") == release(host)["sha"]
    assert jair_git(host, "symbolic-ref --short HEAD") == "main"
    assert host.run("docker image inspect credinet-backend:%s" % remote_sha("main")).rc == 0
    first = audit(host)[0]
    assert (first["from"], first["to"], first["result"]) == (None, remote_sha("main"), "deployed")


def test_a_no_op_deploy_reads_and_stops_unless_a_service_is_down(host, hostname, playbook, scenario_dir, prod_only):
    """Branch unchanged and its release running: the deploy stops after the guards (no lock,
    settings, compose or zone pass). With a service down it brings the release back up instead."""
    assert release(host)["sha"] == remote_sha("main")
    result = deploy(playbook, scenario_dir, hostname, check=True)
    assert result.recap(hostname)["changed"] == 0
    assert "nothing to deploy" in result.flat, "the YAML callback folds long lines"
    assert "Lock | " not in result.output and "Ensure | " not in result.output
    frontend = "docker ps -aq --filter label=com.docker.compose.service=frontend"
    host.check_output("docker stop $(%s)" % frontend)
    try:
        result = deploy(playbook, scenario_dir, hostname, check=True)
        assert "nothing to deploy" not in result.flat
        assert result.recap(hostname)["changed"] > 0, "the stopped service was started again"
        assert host.check_output(frontend.replace("-aq", "-q")), "frontend runs again"
    finally:
        host.run("docker start $(%s)" % frontend)
    assert health(host)[1]["version"] == release(host)["sha"]


def test_env_file_is_secret_and_pins_the_timezone(host, prod_only):
    env = host.file(APP + "/.env")
    assert env.mode == 0o600 and env.user == "jair"
    assert env.contains("^TZ='America/Mexico_City'$")
    assert env.contains("^SCHEDULER_TIMEZONE='America/Mexico_City'$")
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "TELEGRAM_GROUP_ID", "DISCORD_WEBHOOK_URL", "SMTP_HOST"):
        assert env.contains("^%s=." % key), key
    status, body = health(host)
    assert body["timezone"] == body["scheduler_timezone"] == "America/Mexico_City"


def test_check_mode_reports_and_changes_nothing(host, hostname, playbook, scenario_dir, prod_only, tmp_path):
    before = release(host)["sha"]
    new = push_commit(tmp_path, "frontend text", lambda w: (w / "frontend/index.html").write_text("<p>v2</p>\n"))
    result = deploy(playbook, scenario_dir, hostname, "--check", check=True)
    assert result.recap(hostname)["changed"] > 0
    assert release(host)["sha"] == before and health(host)[1]["version"] == before
    assert jair_git(host, "rev-parse HEAD") == before
    assert new != before


def test_new_commit_is_deployed_after_a_backup_and_audited(host, hostname, playbook, scenario_dir, prod_only):
    before = release(host)["sha"]
    target = remote_sha("main")
    deploy(playbook, scenario_dir, hostname, check=True)
    assert health(host)[1]["version"] == target
    entry = audit(host)[-1]
    assert (entry["from"], entry["to"], entry["result"]) == (before, target, "deployed")
    assert entry["backup"].startswith("credinet_credinet_")
    manifest = json.loads(host.file("/var/backups/credinet/%s.manifest.json" % entry["backup"]).content_string)
    # What a rebuild deploys travels with the data (offsite too): the release it was taken under.
    assert (manifest["release"]["sha"], manifest["db_user"]) == (before, "credinet")
    assert release(host) | {"deployed_at": None, "by": None} == {
        "sha": target, "previous": before, "ref": "main", "backup": entry["backup"], "deployed_at": None, "by": None}
    assert not host.file(STATE + "/lock").exists


def test_failing_commit_is_rolled_back(host, hostname, playbook, scenario_dir, prod_only, tmp_path):
    good = release(host)["sha"]

    def break_health(work):
        # Flapping, like a crash-looping backend: 3 s healthy, 3 s not. Docker's healthcheck and a
        # single 200 pass it; the gate's 3 consecutive 200s two seconds apart never do.
        app = work / "backend/app.py"
        app.write_text(app.read_text().replace(
            "            ok, detail = db_status()\n",
            "            ok, detail = db_status()\n            ok = ok and int(__import__('time').time() / 3) % 2 == 0\n"))

    bad = push_commit(tmp_path, "flapping health", break_health)
    try:
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_health_timeout=20")
        assert result.rc != 0
        assert "Deploy of %s on %s FAILED" % (bad, hostname) in result.output
        assert "rolled back to %s" % good in result.output
        entry = audit(host)[-1]
        assert (entry["from"], entry["to"], entry["result"]) == (good, bad, "rolled_back")
        assert "Pre-deploy backup: %s" % entry["backup"] in result.output.replace("\n", " ")
        status, body = health(host)
        assert status == 200 and body["version"] == good
        assert release(host)["sha"] == good
        assert jair_git(host, "rev-parse HEAD") == good
        assert jair_git(host, "symbolic-ref --short HEAD") == "main"
        assert not host.file(STATE + "/lock").exists
    finally:
        reset_main(good)


def test_develop_on_prod_is_refused_before_any_change(host, hostname, playbook, scenario_dir, prod_only):
    result = deploy(playbook, scenario_dir, hostname, "-e", "app_ref=develop")
    assert result.rc != 0
    assert "Refusing to deploy 'develop' on %s (prod): only main may be deployed here" % hostname in result.output
    assert result.recap(hostname)["changed"] == 0


def test_dirty_checkout_is_refused(host, hostname, playbook, scenario_dir, prod_only):
    host.run_expect([0], "runuser -u jair -- sh -c 'echo hack >> %s/frontend/index.html'" % APP)
    try:
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_force=true")
        assert result.rc != 0
        assert "has local modifications" in result.output and "M frontend/index.html" in result.output
        assert result.recap(hostname)["changed"] == 0
        before = release(host)
        rollback = playbook(scenario_dir.parents[1] / "playbooks" / "rollback.yml", hostname)
        assert rollback.rc != 0 and "has local modifications" in rollback.output, "a manual rollback is guarded too"
        assert rollback.recap(hostname)["changed"] == 0 and release(host) == before
        assert "hack" in host.file(APP + "/frontend/index.html").content_string, "the edit is left alone"
    finally:
        host.run_expect([0], "runuser -u jair -- git -C %s checkout -- frontend/index.html" % APP)


def test_checkout_on_another_branch_is_refused(host, hostname, playbook, scenario_dir, prod_only):
    host.run_expect([0], "runuser -u jair -- git -C %s checkout -q -B hotfix" % APP)
    try:
        result = deploy(playbook, scenario_dir, hostname)
        assert result.rc != 0
        assert "is on 'hotfix', not 'main'" in result.output
        assert result.recap(hostname)["changed"] == 0
    finally:
        host.run_expect([0], "runuser -u jair -- git -C %s checkout -q main" % APP)


def write_lock(host, owner, epoch):
    host.run_expect([0], "mkdir -p %s/lock && echo '%s' > %s/lock/owner.json" % (
        STATE, json.dumps({"owner": owner, "time": "earlier", "epoch": epoch, "target": "abc123"}), STATE))


def test_concurrent_deploy_fails_fast_naming_the_holder(host, hostname, playbook, scenario_dir, prod_only):
    write_lock(host, "ana@laptop", time.time())
    try:
        started = time.monotonic()
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_force=true")
        assert result.rc != 0
        assert "Another deploy holds the lock on %s: ana@laptop" % hostname in result.output
        assert time.monotonic() - started < 120
        assert host.file(STATE + "/lock/owner.json").contains("ana@laptop"), "someone else's lock is left alone"
    finally:
        host.run_expect([0], "rm -rf %s/lock" % STATE)


def test_stale_lock_is_taken_over(host, hostname, playbook, scenario_dir, prod_only):
    # Stale = older than what a pre-deploy backup may take (the backup's lock wait + run timeout).
    write_lock(host, "crashed@ci", time.time() - 86400)
    # Forced: a deploy with nothing to deploy stops before the lock.
    result = deploy(playbook, scenario_dir, hostname, "-e", "app_force=true", check=True)
    assert "Stale lock of crashed@ci" in result.flat
    assert not host.file(STATE + "/lock").exists


def test_safe_docker_on_prod_follows_the_branch(host, prod_only):
    assert host.run("runuser -u jair -- safe-docker ps").rc == 0
    host.run_expect([0], "runuser -u jair -- git -C %s checkout -q -B experimento" % APP)
    try:
        refused = host.run("runuser -u jair -- safe-docker compose ps")
        assert refused.rc == 3
        assert "BLOQUEADO en prod" in refused.stderr
        assert "rama 'experimento'" in refused.stderr and "solo se permite 'main'" in refused.stderr
        assert host.run("safe-docker ps").rc == 3, "root is guarded too"
    finally:
        host.run_expect([0], "runuser -u jair -- git -C %s checkout -q main" % APP)


def test_manual_rollback_returns_to_the_previous_release(host, hostname, playbook, scenario_dir, prod_only):
    current = release(host)
    result = playbook(scenario_dir.parents[1] / "playbooks" / "rollback.yml", hostname, check=True)
    assert health(host)[1]["version"] == current["previous"]
    assert audit(host)[-1]["result"] == "manual_rollback"
    assert release(host)["sha"] == current["previous"]
    assert result.recap(hostname)["failed"] == 0
    # A second plain rollback would put the release just rolled back in place again: refused.
    again = playbook(scenario_dir.parents[1] / "playbooks" / "rollback.yml", hostname, check=False)
    assert again.rc != 0 and "already runs a rollback" in again.output and "Nothing was changed." in again.output
    assert again.recap(hostname)["changed"] == 0 and release(host)["sha"] == current["previous"]


def test_a_moved_repository_url_deploys_what_that_url_holds(host, hostname, playbook, scenario_dir, prod_only,
                                                             tmp_path):
    """credinet_app_repo_url changed (the repository moved) while the checkout's origin still names
    the old one: the deploy fetches from the URL its guard read, not from origin."""
    moved = REPO.parent / "credinet-v2-deploytest-moved.git"
    subprocess.run(["rm", "-rf", str(moved)], check=True)
    git("clone", "-q", "--bare", str(REPO), str(moved))
    work = tmp_path / "moved-work"
    git("clone", "-q", "-b", "main", str(moved), str(work))
    (work / "frontend/index.html").write_text((work / "frontend/index.html").read_text() + "<p>moved</p>\n")
    git("commit", "-qam", "only in the moved repository", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    target = git("--git-dir", str(moved), "rev-parse", "main")
    try:
        result = deploy(playbook, scenario_dir, hostname, "-e",
                        "credinet_app_repo_url=git://{{ credinet_sandbox_outer_ip }}/%s" % moved.name)
        assert result.rc == 0, result.output[-3000:]
        assert health(host)[1]["version"] == target == release(host)["sha"]
        assert jair_git(host, "remote get-url origin").endswith("credinet-v2-deploytest.git"), "origin is left as it was"
    finally:
        # The shared fixture repository gets the commit too: later deploys from it find no local
        # commit it lacks.
        git("--git-dir", str(moved), "push", "-q", str(REPO), "main")
        subprocess.run(["rm", "-rf", str(moved)], check=True)
