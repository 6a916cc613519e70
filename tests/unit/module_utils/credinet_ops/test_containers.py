"""credinet_ops.containers: textfile metrics from `docker inspect` (a recorded real project)."""
import copy
import json
from pathlib import Path

import pytest
from credinet_ops import containers

RECORDED = json.loads((Path(__file__).parents[3] / "unit/fixtures/docker/inspect-compose-project.json").read_text())


def by_container(found, metric):
    return {labels["container"]: value for labels, value in found[metric]}


def test_a_recorded_running_project():
    found = containers.samples(RECORDED)
    assert by_container(found, "credinet_container_running") == {
        "credinet-v2-backend-1": 1, "credinet-v2-frontend-1": 1, "credinet-v2-postgres-1": 1}
    # The frontend has no healthcheck: no health series rather than a made-up one.
    assert by_container(found, "credinet_container_healthy") == {"credinet-v2-backend-1": 1, "credinet-v2-postgres-1": 1}
    assert set(by_container(found, "credinet_container_restarts").values()) == {0}
    labels = found["credinet_container_running"][0][0]
    assert labels == {"project": "credinet-v2", "service": "backend", "container": "credinet-v2-backend-1"}


@pytest.mark.parametrize(("state", "restarts", "running", "healthy"), [
    ({"Running": False, "Health": {"Status": "unhealthy"}}, 7, 0, 0),
    ({"Running": True, "Health": {"Status": "starting"}}, 0, 1, None),  # no result yet: no series
    ({"Running": True}, None, 1, None),
    ({}, 2, 0, None),
])
def test_states(state, restarts, running, healthy):
    info = copy.deepcopy(RECORDED[0])
    info["State"], info["RestartCount"] = state, restarts
    found = containers.samples([info])
    assert found["credinet_container_running"][0][1] == running
    assert [v for _, v in found["credinet_container_healthy"]] == ([] if healthy is None else [healthy])
    assert found["credinet_container_restarts"][0][1] == (restarts or 0)


def test_text_is_the_textfile_format_with_every_help_line_and_escaped_labels():
    info = copy.deepcopy(RECORDED[0])
    info["Name"] = '/odd"name\\x'
    text = containers.text([info], {"env": "prod", "host": "credicuenta3"})
    assert text.endswith("\n")
    for name, _ in containers.METRICS:
        assert "# HELP %s " % name in text and "# TYPE %s gauge" % name in text
    assert 'container="odd\\"name\\\\x"' in text
    assert 'credinet_container_running{container="odd\\"name\\\\x",env="prod",host="credicuenta3",project="credinet-v2"' in text


def test_no_container_gives_only_the_headers():
    text = containers.text([], {})
    assert [line for line in text.splitlines() if not line.startswith("#")] == []
