"""The provisioned Grafana dashboards' queries: one reader for the unit tests (structure) and the
Molecule scenario `monitoring` (every query evaluated against the running Prometheus). Stdlib only."""
import json
from pathlib import Path

RATE_INTERVAL = "$__rate_interval"


def iter_panels(panels):
    """Every panel, the ones nested in (collapsed) rows included."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def dashboard_queries(directory):
    """[(dashboard uid, panel title, expr)] for every target of every *.json dashboard in `directory`.

    `$__rate_interval` is replaced by `5m`, so each expr can be sent to Prometheus as it is.
    """
    queries = []
    for path in sorted(Path(directory).glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in iter_panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                queries.append((dashboard["uid"], panel.get("title", ""), target["expr"].replace(RATE_INTERVAL, "5m")))
    return queries
