"""filter_plugins/credinet_notify_filters.py: routes, value-free setting errors, notify.env parsing, result rows."""
import pytest
from ansible.errors import AnsibleFilterError

from conftest import FAKE_TOKEN, load_source

filters_mod = load_source("filter_plugins/credinet_notify_filters.py")
F = filters_mod.FilterModule().filters()


def test_routes_spec_round_trip_and_validation():
    assert F["credinet_notify_routes"]({"critical": ["email", "discord"], "backup_failed": ["telegram_chat"]}) == \
        "critical=email,discord;backup_failed=telegram_chat"
    assert F["credinet_notify_routes"]({}) == ""
    with pytest.raises(AnsibleFilterError, match="whatsapp"):
        F["credinet_notify_routes"]({"critical": ["whatsapp"]})


def test_routes_spec_is_what_the_notifier_parses_back():
    routes = {"critical": ["email", "discord"], "backup_failed": ["telegram_chat"]}
    assert filters_mod.cn.parse_routes(F["credinet_notify_routes"](routes)) == routes


def test_notify_errors_names_settings_not_values():
    errors = F["credinet_notify_errors"]({"TELEGRAM_BOT_TOKEN": "oops-secret", "SMTP_PORT": 0, "TELEGRAM_CHAT_ID": ""})
    assert errors == ["TELEGRAM_BOT_TOKEN does not look like <digits>:<token>", "SMTP_PORT must be a number from 1 to 65535"]
    assert "oops-secret" not in " ".join(errors)


def test_notify_errors_include_bad_routes():
    errors = F["credinet_notify_errors"]({"TELEGRAM_BOT_TOKEN": FAKE_TOKEN, "NOTIFY_ROUTES": "critical=sms"})
    assert len(errors) == 1 and "sms" in errors[0]
    assert FAKE_TOKEN not in errors[0]


def test_parse_env_reads_what_env_lines_write():
    assert F["credinet_parse_env"]("# managed\nA='x y'\nB='it\\'s'\n") == {"A": "x y", "B": "it's"}


@pytest.mark.parametrize(("pair", "row"), [
    (("discord", {"ok": True, "detail": "1 message"}), "discord         ok    1 message"),
    (("email", {"ok": False, "detail": "HTTP 500"}), "email           FAIL  HTTP 500"),
    (("telegram_chat", {}), "telegram_chat   FAIL  "),
])
def test_result_rows(pair, row):
    assert F["credinet_notify_row"](pair) == row


def test_only_live_filters_are_registered():
    # credinet_telegram_escape, credinet_truncate and credinet_redact had no user left and were removed.
    assert set(F) == {"credinet_parse_env", "credinet_notify_row", "credinet_notify_routes", "credinet_notify_errors"}
