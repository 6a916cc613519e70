"""Role `docker`: engine, compose v2, daemon config as loaded by the engine, operators, mirror.

Failure runs use --tags docker: the scenario's converge also applies base and security."""
import json

from conftest import compose_version, http_get, http_json
from packaging.version import Version


def gateway(host):
    return host.check_output("ip route show default | awk '{print $3}'")


def test_engine_enabled_and_running(host):
    docker = host.service("docker")
    assert docker.is_enabled
    assert docker.is_running


def test_compose_v2_is_recent_enough(host):
    version = host.check_output("docker compose version --short")
    assert Version(compose_version(version)) >= Version("2.18")


def test_daemon_json_content(host):
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["log-driver"] == "json-file"
    assert conf["log-opts"] == {"max-size": "10m", "max-file": "5"}
    assert conf["live-restore"] is True
    assert conf["registry-mirrors"] == ["http://%s:5000" % gateway(host)]
    assert conf["insecure-registries"] == ["%s:5000" % gateway(host)]


def test_engine_runs_with_that_config(host):
    # Proves the handler restarted the engine: the running daemon reports the mirror.
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LiveRestoreEnabled"] is True
    assert "http://%s:5000/" % gateway(host) in info["RegistryConfig"]["Mirrors"]
    assert info["LoggingDriver"] == "json-file"


def test_operator_can_use_docker_without_sudo(host):
    assert "docker" in host.user("jair").groups
    assert host.run("runuser -u jair -- docker ps").rc == 0


def test_bad_mirror_url_fails_in_preflight_before_any_change(host, hostname, playbook, scenario_dir):
    before = host.file("/etc/docker/daemon.json").content_string
    result = playbook(scenario_dir / "converge.yml", hostname, "--tags", "docker", "-e", '{"docker_registry_mirrors": ["ftp://mirror.invalid"]}')
    assert result.rc != 0
    assert "registry mirror 'ftp://mirror.invalid' is not an http(s) URL with a host" in result.output
    assert result.recap(hostname)["changed"] == 0
    assert host.file("/etc/docker/daemon.json").content_string == before


def test_bad_log_rotation_fails_in_preflight(host, hostname, playbook, scenario_dir):
    result = playbook(scenario_dir / "converge.yml", hostname, "--tags", "docker", "-e", "docker_log_max_size=huge")
    assert result.rc != 0
    assert "docker_log_max_size must look like 10m/500k/1g" in result.output
    assert result.recap(hostname)["changed"] == 0


def test_fixture_app_stack_comes_up_from_the_mirror(host):
    """The converge's last play brought the fixture stack up with this engine."""
    status, body = http_json(host, "http://127.0.0.1:8000/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["db"] == {"users": 3, "loans": 3, "payments": 5}
    # The fixture's own default (role app adds TZ and zone files; this stack runs without it).
    assert body["scheduler_timezone"] == "America/Mexico_City"
    # The image came through the mirror under its Docker Hub name.
    assert host.run("docker image inspect postgres:17").rc == 0
    status, page = http_get(host, "http://127.0.0.1:8080/")
    assert status == 200
    assert "Frontend de prueba" in page
