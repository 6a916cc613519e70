"""roles/monitoring/files/grafana/dashboards: the dashboards Grafana provisions from files.

Plain saved-dashboard JSON (not Grafana's "export for sharing" format), every query on the
datasource the role provisions with a fixed UID, no template variables. `dashboard_queries`
lists every expression with `$__rate_interval` made concrete, for checks against a live Prometheus.
"""
import itertools
import json
import re

import pytest

from conftest import ROOT
from grafana_dashboards import RATE_INTERVAL, dashboard_queries, iter_panels

DASHBOARDS = ROOT / "roles/monitoring/files/grafana/dashboards"
UIDS = ["credinet-app", "credinet-backups", "credinet-host", "credinet-postgres"]
DATASOURCE = {"type": "prometheus", "uid": "credinet-prometheus"}
PANEL_TYPES = {"timeseries", "stat", "gauge", "table"}
GRID_COLUMNS = 24

# Metrics each dashboard must query: a metric renamed on the exporter or host-command side fails here.
METRICS = {
    "credinet-host": [
        "node_cpu_seconds_total", "node_load1", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total", "node_boot_time_seconds", "node_time_seconds",
    ],
    "credinet-app": [
        "probe_success", "probe_duration_seconds", "probe_http_status_code", "probe_ssl_earliest_cert_expiry",
        "credinet_container_running", "credinet_container_healthy", "credinet_container_restarts",
    ],
    "credinet-postgres": [
        "pg_up", "pg_stat_database_numbackends", "pg_settings_max_connections", "pg_database_size_bytes",
        "pg_stat_database_xact_commit", "pg_stat_database_xact_rollback", "pg_stat_database_deadlocks",
        "pg_stat_database_blks_hit", "pg_stat_database_blks_read",
    ],
    "credinet-backups": [
        "credinet_backup_last_success_timestamp_seconds", "credinet_backup_last_exit_status",
        "credinet_backup_last_size_bytes", "credinet_backup_last_duration_seconds", "credinet_backup_good_sets",
        "credinet_backup_last_verify_ok",
        "credinet_offsite_last_success_timestamp_seconds", "credinet_offsite_last_exit_status",
        "credinet_offsite_last_duration_seconds", "credinet_offsite_bytes_copied", "credinet_offsite_remote_sets",
        "credinet_restore_drill_last_ok", "credinet_restore_drill_last_run_timestamp_seconds",
        "credinet_restore_drill_last_duration_seconds",
    ],
}

# Age panels: (metric in the expression, the red threshold the operators were promised).
AGE_THRESHOLDS = [
    ("credinet_backup_last_success_timestamp_seconds", 26),
    ("credinet_offsite_last_success_timestamp_seconds", 27),
    ("credinet_restore_drill_last_run_timestamp_seconds", 8),
]


def balanced(expr):
    """True when (), [] and {} nest properly in `expr`, string literals ("...", '...', `...`) skipped."""
    closing = {")": "(", "]": "[", "}": "{"}
    stack, quote, escaped = [], None, False
    for char in expr:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in closing and (not stack or stack.pop() != closing[char]):
            return False
    return not stack and quote is None


def load(uid):
    return json.loads((DASHBOARDS / (uid + ".json")).read_text(encoding="utf-8"))


def panels_of(uid):
    return list(iter_panels(load(uid)["panels"]))


def targets_of(uid):
    return [(panel, target) for panel in panels_of(uid) for target in panel.get("targets", [])]


def test_the_folder_holds_exactly_the_dashboards():
    assert sorted(p.stem for p in DASHBOARDS.glob("*.json")) == UIDS


@pytest.mark.parametrize("uid", UIDS)
class TestDashboard:
    def test_parses_and_is_formatted(self, uid):
        text = (DASHBOARDS / (uid + ".json")).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"

    def test_settings(self, uid):
        dashboard = load(uid)
        assert dashboard["uid"] == uid
        assert dashboard["id"] is None
        assert dashboard["schemaVersion"] == 39
        assert dashboard["title"].startswith("Credinet · ")
        assert dashboard["tags"] == ["credinet"]
        assert dashboard["timezone"] == "America/Mexico_City"
        assert dashboard["refresh"] == "1m"
        assert dashboard["time"] == {"from": "now-24h", "to": "now"}
        assert dashboard.get("templating", {}).get("list", []) == []

    @pytest.mark.parametrize("forbidden", ["${DS_", "__inputs", "__requires"])
    def test_not_the_export_for_sharing_format(self, uid, forbidden):
        assert forbidden not in (DASHBOARDS / (uid + ".json")).read_text(encoding="utf-8")

    def test_no_dollar_macro_but_rate_interval(self, uid):
        text = (DASHBOARDS / (uid + ".json")).read_text(encoding="utf-8")
        assert set(re.findall(r"\$\{?[\w.]*", text)) <= {RATE_INTERVAL}

    def test_panels(self, uid):
        panels = panels_of(uid)
        assert 6 <= len(panels) <= 10
        assert len({p["id"] for p in panels}) == len(panels)
        for panel in panels:
            assert panel["type"] in PANEL_TYPES, panel["title"]
            assert panel["title"].strip()
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]

    def test_targets(self, uid):
        for panel in panels_of(uid):
            refs = [t["refId"] for t in panel["targets"]]
            assert all(refs) and len(set(refs)) == len(refs), panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, panel["title"]
                assert target["expr"].strip(), panel["title"]

    def test_expressions_are_balanced(self, uid):
        for panel, target in targets_of(uid):
            assert balanced(target["expr"]), (panel["title"], target["expr"])

    def test_range_selectors_are_durations_or_rate_interval(self, uid):
        for panel, target in targets_of(uid):
            for inside in re.findall(r"\[([^\]]*)\]", target["expr"]):
                assert inside == RATE_INTERVAL or re.fullmatch(r"\d+[smhdwy]", inside), (panel["title"], inside)

    def test_grid_fits_and_does_not_overlap(self, uid):
        boxes = []
        for panel in panels_of(uid):
            grid = panel["gridPos"]
            assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["y"] >= 0, panel["title"]
            assert grid["x"] + grid["w"] <= GRID_COLUMNS, panel["title"]
            boxes.append((panel["title"], grid))
        for (first, a), (second, b) in itertools.combinations(boxes, 2):
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                     or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, (first, second)

    def test_queries_the_expected_metrics(self, uid):
        exprs = "\n".join(t["expr"] for _, t in targets_of(uid))
        missing = [m for m in METRICS[uid] if not re.search(r"(?<![\w:])%s(?![\w:])" % m, exprs)]
        assert missing == []


def test_uids_are_unique():
    uids = [load(uid)["uid"] for uid in UIDS]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize(("metric", "red_from"), AGE_THRESHOLDS)
def test_age_panels_turn_red_at_the_promised_age(metric, red_from):
    panels = [p for p in panels_of("credinet-backups") if any(metric in t["expr"] for t in p["targets"])]
    assert len(panels) == 1
    panel = panels[0]
    assert panel["type"] == "stat"
    assert re.search(r"time\(\)\s*-\s*%s" % metric, panel["targets"][0]["expr"])
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": red_from}


@pytest.mark.parametrize(("expr", "expected"), [
    ('sum by (job) (rate(x{a=~"b|c"}[5m]))', True),
    ('x{a="(]"}', True),
    ('x{a="\\"("}', True),
    ("(a + b", False),
    ("a + b)", False),
    ("rate(x[5m)]", False),
    ('x{a="b}', False),
])
def test_balanced(expr, expected):
    assert balanced(expr) is expected


class TestDashboardQueries:
    def test_every_dashboard_has_queries(self):
        queries = dashboard_queries(DASHBOARDS)
        assert {uid for uid, _, _ in queries} == set(UIDS)
        assert len(queries) == sum(len(targets_of(uid)) for uid in UIDS)

    def test_no_macro_left(self):
        for uid, title, expr in dashboard_queries(DASHBOARDS):
            assert "$" not in expr, (uid, title)
            assert expr.strip(), (uid, title)

    def test_rate_interval_becomes_5m(self, tmp_path):
        (tmp_path / "b.json").write_text(json.dumps({"uid": "b", "panels": [
            {"title": "Fila", "type": "row", "panels": [
                {"title": "Tasa", "targets": [{"refId": "A", "expr": "rate(x[$__rate_interval])"}]}]},
        ]}))
        (tmp_path / "a.json").write_text(json.dumps({"uid": "a", "panels": [
            {"title": "Uno", "targets": [{"refId": "A", "expr": "up"}, {"refId": "B", "expr": "sum(up)"}]},
            {"title": "Texto"},
        ]}))
        (tmp_path / "notes.txt").write_text("not a dashboard")
        assert dashboard_queries(tmp_path) == [("a", "Uno", "up"), ("a", "Uno", "sum(up)"), ("b", "Tasa", "rate(x[5m])")]

    def test_empty_folder(self, tmp_path):
        assert dashboard_queries(tmp_path) == []
