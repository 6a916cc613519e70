"""credinet_ops.alerting: Alertmanager receivers and secret files from the notifier's settings."""
import pytest
from credinet_ops import alerting

from conftest import FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD, FAKE_TOKEN

FULL = {
    "TELEGRAM_BOT_TOKEN": FAKE_TOKEN, "TELEGRAM_CHAT_ID": "-1001", "TELEGRAM_GROUP_ID": "-1002",
    "TELEGRAM_API_BASE": "http://127.0.0.1:18081/",
    "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/%s" % FAKE_HOOK_TOKEN, "DISCORD_API_BASE": "",
    "SMTP_HOST": "smtp.example.test", "SMTP_PORT": "2525", "SMTP_USER": "alertas", "SMTP_PASSWORD": FAKE_SMTP_PASSWORD,
    "SMTP_FROM": "ops@example.test", "SMTP_TO": "team@example.test", "SMTP_STARTTLS": "true", "SMTP_CA_FILE": "/ca.pem",
}


def test_channels_hold_no_secret():
    found = alerting.channels(FULL)
    assert found == {
        "telegram_api": "http://127.0.0.1:18081", "telegram_chat": "-1001", "telegram_group": "-1002", "discord": True,
        "email": {"host": "smtp.example.test", "port": 2525, "from": "ops@example.test", "to": "team@example.test",
                  "user": "alertas", "starttls": True, "ca_file": "/ca.pem"},
    }
    text = repr(found)
    for secret in (FAKE_TOKEN, FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD):
        assert secret not in text


def test_secrets_are_the_files_the_channels_read():
    assert alerting.secrets(FULL) == {
        "telegram-bot-token": FAKE_TOKEN,
        "discord-webhook-url": "https://discord.com/api/webhooks/1/%s" % FAKE_HOOK_TOKEN,
        "smtp-password": FAKE_SMTP_PASSWORD,
    }


def test_the_discord_url_moves_to_the_api_base_as_the_notifier_posts_it():
    settings = dict(FULL, DISCORD_API_BASE="http://127.0.0.1:18082/")
    assert alerting.secrets(settings)["discord-webhook-url"] == "http://127.0.0.1:18082/api/webhooks/1/%s" % FAKE_HOOK_TOKEN


@pytest.mark.parametrize(("changes", "expected"), [
    ({"TELEGRAM_BOT_TOKEN": ""}, {"telegram_chat": "", "telegram_group": ""}),  # chats without a bot send nothing
    ({"TELEGRAM_API_BASE": ""}, {"telegram_api": "https://api.telegram.org"}),
    ({"DISCORD_WEBHOOK_URL": ""}, {"discord": False}),
    ({"SMTP_TO": ""}, {"email": {}}),
    ({"SMTP_HOST": ""}, {"email": {}}),
])
def test_a_missing_setting_turns_its_channel_off(changes, expected):
    found = alerting.channels(dict(FULL, **changes))
    assert {k: found[k] for k in expected} == expected


@pytest.mark.parametrize(("changes", "port", "starttls", "secret_files"), [
    ({"SMTP_PORT": ""}, 587, True, {"telegram-bot-token", "discord-webhook-url", "smtp-password"}),
    ({"SMTP_STARTTLS": "False"}, 2525, False, {"telegram-bot-token", "discord-webhook-url", "smtp-password"}),
    ({"SMTP_USER": ""}, 2525, True, {"telegram-bot-token", "discord-webhook-url"}),  # relay without AUTH
])
def test_email_details(changes, port, starttls, secret_files):
    settings = dict(FULL, **changes)
    email = alerting.channels(settings)["email"]
    assert (email["port"], email["starttls"]) == (port, starttls)
    assert set(alerting.secrets(settings)) == secret_files


@pytest.mark.parametrize(("changes", "wanted", "problems"), [
    ({}, ["telegram_chat"], []),
    ({"TELEGRAM_CHAT_ID": "@canal"}, ["telegram_chat"], ["TELEGRAM_CHAT_ID is not a numeric Telegram chat id"]),
    ({"TELEGRAM_GROUP_ID": "12a"}, ["discord"], ["TELEGRAM_GROUP_ID is not a numeric Telegram chat id"]),
    ({"SMTP_PASSWORD": ""}, ["email"], ["SMTP_USER is set without SMTP_PASSWORD"]),
    ({"DISCORD_WEBHOOK_URL": ""}, ["discord"], ["none of the alert channels discord is configured in the notifier's settings"]),
])
def test_errors_name_the_setting_never_its_value(changes, wanted, problems):
    assert alerting.errors(dict(FULL, **changes), wanted) == problems


def test_no_settings_at_all_is_an_error_not_a_silent_stack():
    assert alerting.errors({}, ["telegram_chat", "discord", "email"]) == [
        "none of the alert channels telegram_chat, discord, email is configured in the notifier's settings"]
    assert alerting.secrets({}) == {}
