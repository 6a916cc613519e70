"""The alert rules' contract: every alert has promtool cases (tests/promtool) in which it fires and
in which it must not, a severity, a `for:` (the Watchdog aside) and Spanish texts; the stand-in
images are the ones the role runs."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles/monitoring/files/prometheus/rules/credinet.rules.yml"
PROMTOOL_TESTS = sorted((ROOT / "tests/promtool").glob("*.test.yml"))
# Accents, or two words of Spanish that English texts do not use.
ACCENTED = re.compile(r"[áéíóúñ¿¡]")
SPANISH_WORDS = {"no", "el", "la", "los", "las", "del", "hay", "desde", "se", "una", "por", "menos", "tiene", "revisar",
                 "y", "hace", "sin", "copia", "respaldo", "disco", "puede", "leer", "responde", "vence", "vencido",
                 "espacio", "libre", "cuota", "registro", "mano", "para"}


def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def cases():
    """{alertname: [(eval_time, fires)]} over every promtool test file."""
    found = {}
    for path in PROMTOOL_TESTS:
        doc = yaml.safe_load(path.read_text())
        assert [Path(f).name for f in doc["rule_files"]] == [RULES.name], path
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                found.setdefault(case["alertname"], []).append((case["eval_time"], bool(case.get("exp_alerts"))))
    return found


ALERTS = sorted({r["alert"] for r in rules()})


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_has_a_case_that_fires(alert):
    assert any(fires for _, fires in cases().get(alert, [])), "%s has no promtool case where it fires" % alert


@pytest.mark.parametrize("alert", [a for a in ALERTS if a != "watchdog"])
def test_every_alert_has_a_case_where_it_must_not_fire(alert):
    assert any(not fires for _, fires in cases().get(alert, [])), "%s has no promtool case where it stays quiet" % alert


def test_the_cases_name_only_existing_alerts():
    assert set(cases()) <= set(ALERTS)


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_every_rule_has_severity_for_and_spanish_texts(rule):
    assert rule["labels"]["severity"] in {"critical", "warning", "none"}
    if rule["alert"] != "watchdog":
        assert re.fullmatch(r"\d+[mhd]", rule.get("for", "")), "%s needs a for:" % rule["alert"]
    for key in ("summary", "description"):
        assert spanish(rule["annotations"][key]), (rule["alert"], key)


def spanish(text):
    words = set(re.findall(r"[a-záéíóúñ]+", text.lower()))
    return bool(ACCENTED.search(text)) or len(words & SPANISH_WORDS) >= 2


@pytest.mark.parametrize(("text", "expected"), [
    ("No hay respaldo verificado", True), ("Revisar: journalctl -u x y más", True),
    ("The backup is stale", False), ("Disk almost full on /", False), ("backup de en", False),
])
def test_the_spanish_check_itself(text, expected):
    assert spanish(text) == expected


def test_the_stand_in_images_are_the_ones_the_role_runs():
    defaults = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())["monitoring_images"]
    mirrored = set(re.findall(r'^\s+"(\S+:\S+) prometheus ', (ROOT / "harness/mirror-images.sh").read_text(), re.M))
    assert mirrored == {image for name, image in defaults.items() if name != "grafana"}


def test_make_test_runs_the_promtool_cases_with_the_roles_prometheus_image():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^checks: .*\brules-test\b", makefile, re.M)
    assert re.search(r"^test:.*\n\t@\$\(MAKE\) [^\n]*\bchecks\b", makefile, re.M), "make test runs make checks"
    image = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())["monitoring_images"]["prometheus"]
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "rules-test"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
    files = " ".join(p.name for p in PROMTOOL_TESTS)
    assert "--entrypoint promtool 127.0.0.1:5000/%s test rules %s" % (image, files) in " ".join(dry_run.split())
