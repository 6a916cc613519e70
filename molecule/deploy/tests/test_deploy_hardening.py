"""Deploys under attack and on a failing machine (issue #9) and overrides typed on the command
line (issue #17): hostile branch and tag names, .env values Compose would reinterpret, manual
rollbacks to foreign commits, the effective zone inside every container, a rollback that fails
too (last: it leaves the stack broken). The flapping backend that only the N-consecutive health
gate catches is test_deploy.py's failing commit."""
import json
import re
import shlex

import pytest
from test_deploy import REPO, STATE, audit, deploy, git, health, jair_git, release, remote_sha, reset_main

from conftest import telegram_texts


@pytest.fixture
def prod_only(env_name):
    if env_name != "prod":
        pytest.skip("deploys run on the prod host")


def push_branch(tmp_path, branch, message, edit):
    """A commit on top of main pushed as `branch` (main itself is left alone)."""
    work = tmp_path / ("work-" + branch.replace("/", "-"))
    git("clone", "-q", "-b", "main", str(REPO), str(work))
    edit(work)
    git("commit", "-qam", message, cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/%s" % branch, cwd=work)
    return git("--git-dir", str(REPO), "rev-parse", "refs/heads/%s" % branch)


def frontend_text(text):
    return lambda work: (work / "frontend/index.html").write_text("<p>%s</p>\n" % text)


def containers(host, service=None):
    """Running containers of the stack started from the app folder (any project name)."""
    flt = "--filter label=com.docker.compose.project.working_dir=/home/jair/proyectos/credinet-v2"
    if service:
        flt += " --filter label=com.docker.compose.service=%s" % service
    return host.check_output("docker ps -q %s" % flt).split()


def test_hostile_refs_and_a_forced_redeploy_deploy_exactly_main(host, hostname, playbook, scenario_dir, prod_only, tmp_path):
    """A branch named x/refs/heads/main is listed FIRST by `git ls-remote ... refs/heads/main`;
    a tag `main` makes `symbolic-ref --short` print heads/main. Neither may change what prod runs,
    and -e app_force=true typed as documented redeploys the unchanged commit."""
    main = remote_sha("main")
    hostile = push_branch(tmp_path, "x/refs/heads/main", "not main", frontend_text("HOSTIL"))
    git("--git-dir", str(REPO), "tag", "-f", "main", hostile)
    # A local tag `main` in the checkout: `symbolic-ref --short HEAD` then says heads/main.
    jair_git(host, "tag -f main HEAD")
    try:
        note = "a$b #c 'q' \"d\" \\e ${HOME}"
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_force=true",
                        "-e", json.dumps({"app_env_vars": {"APP_NOTICE": note}}), check=True)
        assert result.recap(hostname)["changed"] > 0, "a forced redeploy of an unchanged commit is a deploy"
        status, body = health(host)
        assert status == 200 and body["version"] == main != hostile
        assert jair_git(host, "rev-parse HEAD") == main
        assert jair_git(host, "symbolic-ref HEAD") == "refs/heads/main"
        assert host.run("runuser -u jair -- safe-docker ps").rc == 0, "a tag named main does not block safe-docker"
        (backend,) = containers(host, "backend")
        assert host.check_output("docker exec %s printenv APP_NOTICE" % backend) == note, \
            "the .env value reaches the container exactly as written ($, ' #', quotes, backslash)"
        assert audit(host)[-1]["result"] == "deployed" and audit(host)[-1]["to"] == main
    finally:
        git("--git-dir", str(REPO), "tag", "-d", "main")
        git("--git-dir", str(REPO), "update-ref", "-d", "refs/heads/x/refs/heads/main")
        jair_git(host, "tag -d main")


@pytest.mark.parametrize(("override", "says"), [
    ("app_force=maybe", ["app_force", "maybe"]),
    # A zone typo would silently mean UTC: the cut-off 6 hours early.
    ("app_timezone=America/Mexico_Cty", ["America/Mexico_Cty", "is not an IANA time zone"]),
])
def test_a_typo_in_an_override_is_refused_before_any_change(host, hostname, playbook, scenario_dir, prod_only,
                                                            override, says):
    before = release(host)
    result = deploy(playbook, scenario_dir, hostname, "-e", override)
    assert result.rc != 0
    assert all(text in result.output for text in says)
    # The role's preflight says so; a type error is refused earlier by the argument spec.
    assert "Nothing was changed." in result.output or "Validation of arguments failed" in result.output
    assert result.recap(hostname)["changed"] == 0
    assert release(host) == before


def test_manual_rollback_to_a_commit_main_never_had_is_refused(host, hostname, playbook, scenario_dir, prod_only, tmp_path):
    foreign = push_branch(tmp_path, "feature/ajena", "foreign", frontend_text("AJENA"))
    jair_git(host, "fetch -q origin refs/heads/feature/ajena")
    try:
        before = release(host)
        result = playbook(scenario_dir.parents[1] / "playbooks" / "rollback.yml", hostname, "-e", "app_rollback_to=%s" % foreign)
        assert result.rc != 0
        assert "neither the previous release nor a commit of origin/main" in result.output
        assert result.recap(hostname)["changed"] == 0
        assert release(host) == before and health(host)[1]["version"] == before["sha"]
    finally:
        git("--git-dir", str(REPO), "update-ref", "-d", "refs/heads/feature/ajena")


def test_every_app_container_runs_in_mexico_city_time(host, prod_only):
    for cid in containers(host):
        assert host.check_output("docker exec %s date +%%z" % cid) == "-0600", cid
    (db,) = containers(host, "postgres")
    assert host.check_output("docker exec %s psql -qAtX -U credinet -d credinet -c 'SHOW timezone'" % db) == "America/Mexico_City"


def test_a_release_that_moves_the_database_to_a_new_volume_is_rolled_back(host, hostname, playbook, scenario_dir,
                                                                          prod_only, tmp_path):
    """A compose change that renames the data volume brings PostgreSQL up on a new, empty volume;
    the health gate alone could pass on an empty database. The switch checks the volume."""
    good = release(host)["sha"]
    payments = health(host)[1]["db"]["payments"]

    def rename_volume(work):
        compose = work / "docker-compose.yml"
        compose.write_text(compose.read_text().replace("pgdata", "pgdata_v3"))

    push_branch(tmp_path, "main", "move the data to a new volume", rename_volume)
    try:
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_health_timeout=20")
        assert result.rc != 0
        assert re.search(r"the database runs on volume '\S+_pgdata_v3', not on '\S+_pgdata' where the data is",
                         result.output.replace("\n", " ")), result.output[-3000:]
        status, body = health(host)
        assert status == 200 and body["version"] == good and body["db"]["payments"] == payments
        assert release(host)["sha"] == good and audit(host)[-1]["result"] == "rolled_back"
    finally:
        reset_main(good)
        host.run("docker volume ls -q | grep '_pgdata_v3$' | xargs -r docker volume rm")


def test_a_rollback_that_fails_too_is_audited_and_notified(host, hostname, playbook, scenario_dir, prod_only, tmp_path):
    """The migrations case: the new release renames a table at start-up (and fails its health
    gate); the previous release cannot run against the migrated schema, so the rollback fails."""
    good = release(host)["sha"]
    db = "docker exec %s psql -qAtX -U credinet -d credinet -c " % containers(host, "postgres")[0]

    def destructive_migration(work):
        app = work / "backend/app.py"
        app.write_text(app.read_text().replace(
            'if __name__ == "__main__":\n',
            'if __name__ == "__main__":\n'
            '    with psycopg2.connect(os.environ["DATABASE_URL"]) as c, c.cursor() as cur:\n'
            '        cur.execute("ALTER TABLE IF EXISTS payments RENAME TO pagos")\n'))

    push_branch(tmp_path, "main", "migrate payments to pagos", destructive_migration)
    host.run_expect([0], "truncate -s0 /opt/credinet-fakes/received.jsonl")
    try:
        result = deploy(playbook, scenario_dir, hostname, "-e", "app_health_timeout=20", "-e", "app_wait_timeout=40")
        assert result.rc != 0
        assert "the ROLLBACK to %s FAILED TOO" % good in result.output.replace("\n", " ")
        entry = audit(host)[-1]
        assert entry["result"] == "rollback_failed" and entry["event"] == "deploy_rollback_failed"
        assert entry["backup"] and entry["backup"] in entry["text"], "the text names the pre-deploy backup"
        texts = [t for t in telegram_texts(host) if "REVERSIÓN" in t]
        assert texts and "TAMBIÉN FALLÓ" in texts[0]
        assert not host.file(STATE + "/lock").exists
    finally:
        # The scenario's last deploy test (files and tests run in order): the database is put back,
        # the broken stack stays until the scenario is destroyed.
        host.run(db + shlex.quote("ALTER TABLE IF EXISTS pagos RENAME TO payments"))
        reset_main(good)
