"""filter_plugins/credinet_monitoring.py: the alert channel filters and the memory budget."""
import pytest
from ansible.errors import AnsibleFilterError

from conftest import FAKE_TOKEN, load_source

F = load_source("filter_plugins/credinet_monitoring.py").FilterModule().filters()


def test_channel_filters_wrap_the_runtime_package_and_accept_nothing():
    settings = {"TELEGRAM_BOT_TOKEN": FAKE_TOKEN, "TELEGRAM_CHAT_ID": "-1"}
    assert F["credinet_alert_channels"](settings)["telegram_chat"] == "-1"
    assert F["credinet_alert_secrets"](settings) == {"telegram-bot-token": FAKE_TOKEN}
    assert F["credinet_alert_errors"](settings, ["telegram_chat"]) == []
    assert F["credinet_alert_channels"](None)["discord"] is False
    assert F["credinet_alert_secrets"](None) == {}


@pytest.mark.parametrize(("limits", "total"), [
    ({"prometheus": 110, "grafana": 90}, 200),
    ({}, 0),
    (None, 0),
])
def test_memory_total(limits, total):
    assert F["credinet_memory_total"](limits) == total


@pytest.mark.parametrize("bad", [0, -5, "100m", 1.5, True, None])
def test_memory_total_refuses_what_is_not_a_positive_number_of_mb(bad):
    with pytest.raises(AnsibleFilterError, match="memory limit of prometheus"):
        F["credinet_memory_total"]({"prometheus": bad})


def test_local_endpoints():
    assert F["credinet_local_endpoints"]({"prometheus": 9090, "grafana": 3000}, "127.0.0.1") == {
        "prometheus": "127.0.0.1:9090", "grafana": "127.0.0.1:3000"}


def test_probes_get_the_http_module_unless_they_name_one():
    assert F["credinet_probes"]([{"name": "backend", "url": "http://127.0.0.1:8000/health"},
                                 {"name": "x", "url": "http://y/", "module": "tcp"}]) == [
        {"name": "backend", "url": "http://127.0.0.1:8000/health", "module": "http_2xx"},
        {"name": "x", "url": "http://y/", "module": "tcp"}]
    assert F["credinet_probes"](None) == []


def test_peer_probes_name_each_endpoint_after_the_peer():
    peers = [{"name": "dev", "health_url": "https://dev.example.test/health",
              "alertmanager_url": "https://dev.example.test/am/-/healthy"},
             {"name": "prod", "health_url": "https://prod.example.test/health"}]
    assert F["credinet_peer_probes"](peers) == [
        {"name": "dev-health", "url": "https://dev.example.test/health", "module": "http_2xx"},
        {"name": "dev-alertmanager", "url": "https://dev.example.test/am/-/healthy", "module": "http_2xx"},
        {"name": "prod-health", "url": "https://prod.example.test/health", "module": "http_2xx"}]


@pytest.mark.parametrize(("targets", "problems"), [
    ([{"name": "backend", "url": "http://127.0.0.1:8000/health"}], []),
    ([{"name": "Backend", "url": "http://h/"}], ["probe name 'Backend' must be lower-case letters, digits, '-' or '_'"]),
    ([{"name": "b", "url": "ftp://h/"}], ["probe b: the URL must be http:// or https:// with a host"]),
    ([{"name": "b", "url": "http:///x"}], ["probe b: the URL must be http:// or https:// with a host"]),
    ([{"name": "b", "url": "http://h/ x"}], ["probe b: the URL must be http:// or https:// with a host"]),
    ([{"name": "b", "url": "http://h/"}, {"name": "b", "url": "http://i/"}], ["probe name b is used twice"]),
    ([{"url": "http://h/"}], ["probe name '' must be lower-case letters, digits, '-' or '_'"]),
])
def test_probe_errors(targets, problems):
    assert F["credinet_probe_errors"](targets) == problems
