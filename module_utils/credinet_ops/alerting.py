"""Alertmanager receivers from the notifier's settings (notify.env): one place for channels and
secrets, so a rotated token reaches the host notifier and Alertmanager alike.

`channels` is what alertmanager.yml may hold (no secret); `secrets` are the files it reads
(telegram-bot-token, discord-webhook-url, smtp-password), written 0600 beside it.
"""
import re

from . import notify

TELEGRAM_API = "https://api.telegram.org"
CHAT_ID = re.compile(r"^-?[0-9]+$")


def _telegram_chat(settings, key):
    return settings.get(key, "") if settings.get("TELEGRAM_BOT_TOKEN") else ""


def _email(settings):
    if not (settings.get("SMTP_HOST") and settings.get("SMTP_FROM") and settings.get("SMTP_TO")):
        return {}
    return {
        "host": settings["SMTP_HOST"],
        "port": int(settings.get("SMTP_PORT") or 587),
        "from": settings["SMTP_FROM"],
        "to": settings["SMTP_TO"],
        "user": settings.get("SMTP_USER", ""),
        "starttls": settings.get("SMTP_STARTTLS", "true").lower() != "false",
        "ca_file": settings.get("SMTP_CA_FILE", ""),
    }


def channels(settings):
    """The configured channels, without any secret: telegram_chat / telegram_group (chat ids, ''
    when off), discord (bool), email ({} when off), telegram_api (the Bot API base URL)."""
    return {
        "telegram_api": (settings.get("TELEGRAM_API_BASE") or TELEGRAM_API).rstrip("/"),
        "telegram_chat": _telegram_chat(settings, "TELEGRAM_CHAT_ID"),
        "telegram_group": _telegram_chat(settings, "TELEGRAM_GROUP_ID"),
        "discord": bool(settings.get("DISCORD_WEBHOOK_URL")),
        "email": _email(settings),
    }


def secrets(settings):
    """{file name: content} of the secrets the configured channels need."""
    files = {}
    if settings.get("TELEGRAM_BOT_TOKEN"):
        files["telegram-bot-token"] = settings["TELEGRAM_BOT_TOKEN"]
    if settings.get("DISCORD_WEBHOOK_URL"):
        files["discord-webhook-url"] = notify.discord_url(settings)
    if _email(settings) and settings.get("SMTP_USER") and settings.get("SMTP_PASSWORD"):
        files["smtp-password"] = settings["SMTP_PASSWORD"]
    return files


def errors(settings, wanted):
    """Value-free problems: malformed chat ids, a user without password, no channel among `wanted`."""
    found = channels(settings)
    problems = ["%s is not a numeric Telegram chat id" % key
                for key, channel in (("TELEGRAM_CHAT_ID", "telegram_chat"), ("TELEGRAM_GROUP_ID", "telegram_group"))
                if found[channel] and not CHAT_ID.match(str(found[channel]))]
    if found["email"] and settings.get("SMTP_USER") and not settings.get("SMTP_PASSWORD"):
        problems.append("SMTP_USER is set without SMTP_PASSWORD")
    if not any(found[channel] for channel in wanted):
        problems.append("none of the alert channels %s is configured in the notifier's settings" % ", ".join(wanted))
    return problems
