"""Notification text filters: escaping, truncation, redaction, settings checks.

Thin wrappers over module_utils/credinet_notify.py, the code the hosts run too.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils"))
import credinet_notify as cn  # noqa: E402

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # unit tests may run without Ansible on the path
    AnsibleFilterError = ValueError


def telegram_escape(text, parse_mode="MarkdownV2"):
    if parse_mode not in cn.ESCAPERS:
        raise AnsibleFilterError("unknown Telegram parse_mode %r (MarkdownV2, HTML or '')" % (parse_mode,))
    return cn.ESCAPERS[parse_mode](text)


def truncate(text, limit=cn.TELEGRAM_LIMIT, marker="…"):
    try:
        return cn.truncate(text, int(limit), marker)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def redact(text, secrets):
    return cn.redact(text, secrets if isinstance(secrets, (list, tuple)) else [secrets])


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
            "credinet_telegram_escape": telegram_escape,
            "credinet_truncate": truncate,
            "credinet_redact": redact,
            "credinet_notify_routes": routes_spec,
            "credinet_notify_errors": notify_errors,
        }
