"""Notifier filters: settings checks, routes, notify.env parsing, result rows.

Thin wrappers over the runtime package (credinet_ops.notify), the code the hosts run too.
"""
from ansible.errors import AnsibleFilterError
from ansible.module_utils.credinet_ops import notify as cn


def routes_spec(routes):
    """{level_or_event: [channels]} -> 'level=a,b;event=c' as notify.env stores it."""
    try:
        parsed = cn.parse_routes(routes or {})
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))
    return ";".join("%s=%s" % (key, ",".join(channels)) for key, channels in parsed.items())


def notify_errors(settings):
    """Value-free descriptions of malformed settings ([] when fine)."""
    errors = cn.validate({k: str(v) for k, v in settings.items() if v not in (None, "")})
    try:
        cn.parse_routes(settings.get("NOTIFY_ROUTES", ""))
    except ValueError as exc:
        errors.append(str(exc))
    return errors


def parse_env(text):
    """KEY=VALUE text (notify.env) -> dict."""
    return cn.parse_env(text)


def result_row(pair):
    """(channel, {ok, detail}) -> one aligned table row."""
    channel, result = pair
    return "%-15s %-5s %s" % (channel, "ok" if result.get("ok") else "FAIL", result.get("detail", ""))


class FilterModule:
    def filters(self):
        return {
            "credinet_parse_env": parse_env,
            "credinet_notify_row": result_row,
            "credinet_notify_routes": routes_spec,
            "credinet_notify_errors": notify_errors,
        }
