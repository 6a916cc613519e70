import pytest
from ansible.errors import AnsibleFilterError

from conftest import FAKE_TOKEN

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "credinet_notify_filters", Path(__file__).resolve().parents[3] / "filter_plugins" / "credinet_notify.py")
filters_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters_mod)
F = filters_mod.FilterModule().filters()


def test_escape_modes():
    assert F["credinet_telegram_escape"]("a.b") == "a\\.b"
    assert F["credinet_telegram_escape"]("<a>", "HTML") == "&lt;a&gt;"
    with pytest.raises(AnsibleFilterError, match="parse_mode"):
        F["credinet_telegram_escape"]("x", "Markdown")


def test_truncate_filter():
    assert F["credinet_truncate"]("x" * 5000) == "x" * 4095 + "…"
    with pytest.raises(AnsibleFilterError):
        F["credinet_truncate"]("abc", 0)


def test_redact_accepts_one_secret_or_a_list():
    text = "token %s and %s" % (FAKE_TOKEN, FAKE_TOKEN.replace(":", "%3A"))
    assert FAKE_TOKEN not in F["credinet_redact"](text, FAKE_TOKEN)
    assert "%3A" not in F["credinet_redact"](text, [FAKE_TOKEN])


def test_routes_spec_round_trip_and_validation():
    assert F["credinet_notify_routes"]({"critical": ["email", "discord"], "backup_failed": ["telegram_chat"]}) == \
        "critical=email,discord;backup_failed=telegram_chat"
    assert F["credinet_notify_routes"]({}) == ""
    with pytest.raises(AnsibleFilterError, match="whatsapp"):
        F["credinet_notify_routes"]({"critical": ["whatsapp"]})


def test_notify_errors_names_settings_not_values():
    errors = F["credinet_notify_errors"]({"TELEGRAM_BOT_TOKEN": "oops-secret", "SMTP_PORT": 0, "TELEGRAM_CHAT_ID": ""})
    assert errors == ["TELEGRAM_BOT_TOKEN does not look like <digits>:<token>", "SMTP_PORT must be a number from 1 to 65535"]
    assert "oops-secret" not in " ".join(errors)
