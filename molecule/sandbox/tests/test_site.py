"""playbooks/site.yml on the sandbox prod and dev hosts: the environment-level outcome."""
import json

import pytest
from conftest import compose_version
from packaging.version import Version

EXPECTED = {"sandbox-prod": ("prod", "main"), "sandbox-dev": ("dev", "develop")}


def test_clock_zone_is_mexico_city(host):
    assert host.check_output("timedatectl show --property=Timezone --value") == "America/Mexico_City"
    assert host.check_output("date +%z") == "-0600"


def test_operator_runs_compose_v2(host):
    version = host.check_output("runuser -u jair -- docker compose version --short")
    assert Version(compose_version(version)) >= Version("2.18")


@pytest.mark.parametrize("bad", ['{"credinet_env": "staging"}'])
def test_host_outside_prod_dev_is_refused_before_any_change(hostname, playbook, scenario_dir, bad):
    result = playbook(scenario_dir / "converge.yml", hostname, "-e", bad)
    assert result.rc != 0
    assert "must be in exactly one of the groups prod/dev" in result.output
    assert result.recap(hostname)["changed"] == 0


def test_each_environment_runs_its_branch(host, hostname):
    from conftest import http_get, http_json
    status, body = http_json(host, "http://127.0.0.1:8000/health")
    assert status == 200 and body["status"] == "ok"
    release = json.loads(host.file("/var/lib/credinet-deploy/release.json").content_string)
    assert body["version"] == release["sha"] and release["ref"] == EXPECTED[hostname][1]
    status, page = http_get(host, "http://127.0.0.1:8080/")
    assert status == 200
    assert ("(develop)" in page) == (hostname == "sandbox-dev")
