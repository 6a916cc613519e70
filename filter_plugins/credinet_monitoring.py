"""Monitoring filters: Alertmanager receivers from the notifier's settings, the stack's budget.

Thin wrappers over the runtime package (credinet_ops.alerting), tested there and here.
"""
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.credinet_ops import alerting


NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
URL = re.compile(r"^https?://[^/\s?#]+(/\S*)?$")


def alert_channels(settings):
    """notify.env settings -> the channels alertmanager.yml names (no secret in them)."""
    return alerting.channels(settings or {})


def alert_secrets(settings):
    """notify.env settings -> {secret file name: content} for Alertmanager."""
    return alerting.secrets(settings or {})


def alert_errors(settings, wanted):
    """Value-free problems of the notifier's settings as alert channels ([] when fine)."""
    return alerting.errors(settings or {}, wanted)


def memory_total(limits):
    """{service: MB} -> the sum, refusing anything but positive whole numbers."""
    total = 0
    for service, value in (limits or {}).items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise AnsibleFilterError("memory limit of %s must be a positive number of MB, got %r" % (service, value))
        total += value
    return total


def local_endpoints(ports, address):
    """{component: port} -> {component: 'address:port'}."""
    return {name: "%s:%s" % (address, port) for name, port in (ports or {}).items()}


def probes(targets):
    """[{name, url}] -> blackbox targets [{name, url, module}]."""
    return [{"name": t["name"], "url": t["url"], "module": t.get("module", "http_2xx")} for t in targets or []]


def peer_probes(peers):
    """[{name, health_url, alertmanager_url?}] -> probes named <name>-health and <name>-alertmanager."""
    found = []
    for peer in peers or []:
        found.append({"name": "%s-health" % peer["name"], "url": peer["health_url"], "module": "http_2xx"})
        if peer.get("alertmanager_url"):
            found.append({"name": "%s-alertmanager" % peer["name"], "url": peer["alertmanager_url"], "module": "http_2xx"})
    return found


def probe_errors(targets):
    """Value-free problems of probe targets (app or peers, as probes() / peer_probes() give them)."""
    problems, seen = [], set()
    for target in targets or []:
        name, url = str(target.get("name", "")), str(target.get("url", ""))
        if not NAME.match(name):
            problems.append("probe name %r must be lower-case letters, digits, '-' or '_'" % name)
        if not URL.match(url):
            problems.append("probe %s: the URL must be http:// or https:// with a host" % name)
        if name in seen:
            problems.append("probe name %s is used twice" % name)
        seen.add(name)
    return problems


class FilterModule:
    def filters(self):
        return {
            "credinet_alert_channels": alert_channels,
            "credinet_alert_secrets": alert_secrets,
            "credinet_alert_errors": alert_errors,
            "credinet_memory_total": memory_total,
            "credinet_local_endpoints": local_endpoints,
            "credinet_probes": probes,
            "credinet_peer_probes": peer_probes,
            "credinet_probe_errors": probe_errors,
        }
