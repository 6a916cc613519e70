"""Container metrics of the app's Compose project for node_exporter's textfile collector:
running, health and restart count per container (what cAdvisor would give, without its memory).

Pure functions over `docker inspect` output; the host command credinet-container-metrics
(role monitoring) runs them every minute.
"""
from .job import label_value

HEALTH = {"healthy": 1, "unhealthy": 0}
METRICS = (
    ("credinet_container_running", "1 when the container is running"),
    ("credinet_container_healthy", "1 healthy, 0 unhealthy (containers with a healthcheck that has a result)"),
    ("credinet_container_restarts", "Times Docker restarted the container (its restart policy)"),
)


def samples(inspected):
    """docker inspect objects -> {metric: [(labels, value)]}, ordered by container name."""
    found = {name: [] for name, _ in METRICS}
    for info in sorted(inspected, key=lambda i: i.get("Name", "")):
        config_labels = (info.get("Config") or {}).get("Labels") or {}
        state = info.get("State") or {}
        labels = {
            "project": config_labels.get("com.docker.compose.project", ""),
            "service": config_labels.get("com.docker.compose.service", ""),
            "container": info.get("Name", "").lstrip("/"),
        }
        found["credinet_container_running"].append((labels, 1 if state.get("Running") else 0))
        health = (state.get("Health") or {}).get("Status")
        if health in HEALTH:
            found["credinet_container_healthy"].append((labels, HEALTH[health]))
        found["credinet_container_restarts"].append((labels, int(info.get("RestartCount") or 0)))
    return found


def text(inspected, extra_labels):
    """The textfile-collector file: every metric's HELP/TYPE, then one line per container."""
    lines = []
    for name, help_text in METRICS:
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name]
        for labels, value in samples(inspected)[name]:
            merged = dict(extra_labels, **labels)
            rendered = ",".join('%s="%s"' % (k, label_value(v)) for k, v in sorted(merged.items()))
            lines.append("%s{%s} %d" % (name, rendered, value))
    return "\n".join(lines) + "\n"
