"""Notifications for Credinet: Telegram, Discord and email, routed per event and level.

Used by the host command `credinet-notify`, the Ansible module `credinet_notify`, the filter
plugins and the run-summary callback. No function here may let a secret reach its output, its
exceptions or its logs: everything user-visible goes through `redact`.

Channels are sent in parallel, each with its own deadline: a dead channel retrying for a minute
never starves a live one (the job that called the notifier bounds the whole call).
"""
import concurrent.futures
import email.message
import json
import re
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from . import envfile

TELEGRAM_LIMIT = 4096
DISCORD_CONTENT_LIMIT = 2000
DISCORD_EMBED_DESCRIPTION_LIMIT = 4096
DISCORD_EMBEDS_TOTAL_LIMIT = 6000
CHANNELS = ("telegram_chat", "telegram_group", "discord", "email")
LEVELS = ("info", "warning", "critical")
DEFAULT_ROUTES = {
    "critical": ["telegram_chat", "telegram_group", "discord", "email"],
    "warning": ["telegram_group", "discord"],
    "info": ["telegram_group"],
}
TOKEN_SHAPE = re.compile(r"^[0-9]{5,12}:[A-Za-z0-9_-]{20,}$")
CHAT_ID_SHAPE = re.compile(r"^-?[0-9]{1,20}$")
WEBHOOK_SHAPE = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]+)?/api/webhooks/[0-9]+/[A-Za-z0-9_.-]+$")

_MDV2_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")
LEVEL_ICONS = {"info": "ℹ️", "warning": "⚠️", "critical": "🔴"}
LEVEL_COLORS = {"info": 0x2E86DE, "warning": 0xF39C12, "critical": 0xE74C3C}
# Per channel: retries of one channel stop at this deadline (seconds from the start of dispatch).
CHANNEL_DEADLINE = 60.0
TEXTS = {
    "es": {"title": "{icon} [{env}] {host}: {event}", "test": "Mensaje de prueba de credinet-ops", "level": "Nivel"},
    "en": {"title": "{icon} [{env}] {host}: {event}", "test": "credinet-ops test message", "level": "Level"},
}


class NotifyError(Exception):
    """A channel failure whose message is already redacted."""


# --- text handling ---------------------------------------------------------------------------

def escape_markdown_v2(text):
    """Escape every character Telegram's MarkdownV2 reserves (and the backslash)."""
    return _MDV2_SPECIAL.sub(r"\\\1", str(text))


def escape_html(text):
    """Escape for Telegram's HTML parse mode (only &, <, > are special)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ESCAPERS = {"MarkdownV2": escape_markdown_v2, "HTML": escape_html, "": str}


def truncate(text, limit, marker="…"):
    """At most `limit` characters, ending with `marker` when cut."""
    text = str(text)
    if limit < len(marker):
        raise ValueError("limit %d is shorter than the marker" % limit)
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def split_text(text, limit, escape=str):
    """Split raw text into pieces whose *escaped* form fits `limit`, preferring line breaks.

    Splitting the raw text (not the escaped one) never cuts an escape sequence in half.
    """
    pieces, rest = [], str(text)
    while rest:
        if len(escape(rest)) <= limit:
            pieces.append(rest)
            break
        cut = _fitting_prefix(rest, limit, escape)
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return [escape(p) for p in pieces] or [escape("")]


def _fitting_prefix(text, limit, escape):
    low, high = 1, min(len(text), limit)
    while low < high:  # the longest prefix whose escaped form fits
        mid = (low + high + 1) // 2
        if len(escape(text[:mid])) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def secret_forms(secret):
    """Every form in which a secret can appear in text, longest first.

    Plain; URL-quoted once and twice (':' as %3A and %253A) and form-quoted; JSON-escaped (a
    non-ASCII secret inside a JSON body). Any configured secret counts, whatever its length.
    """
    secret = str(secret or "")
    if not secret:
        return []
    forms = {secret}
    for quote in (lambda t: urllib.parse.quote(t, safe=""), urllib.parse.quote_plus, lambda t: urllib.parse.quote(t, safe="/")):
        once = quote(secret)
        forms |= {once, quote(once)}
    forms.add(json.dumps(secret)[1:-1])
    forms |= {f.lower() for f in forms if "%" in f or "\\u" in f}
    return sorted(forms, key=len, reverse=True)


def redact(text, secrets, mask="***"):
    """`text` with every form of every secret replaced by `mask` (case-insensitive escapes)."""
    text = str(text)
    for secret in secrets:
        for form in secret_forms(secret):
            flags = re.IGNORECASE if ("%" in form or "\\u" in form) else 0
            text = re.sub(re.escape(form), mask, text, flags=flags)
    return text


# --- configuration ---------------------------------------------------------------------------

def parse_env(text):
    """notify.env (KEY=VALUE, Compose .env quoting) -> dict."""
    return envfile.parse(text)


def parse_routes(spec):
    """'critical=a,b;warning=c' (or a dict) -> {level_or_event: [channels]}; unknown channels are errors."""
    if isinstance(spec, dict):
        items = spec.items()
    else:
        items = (part.split("=", 1) for part in str(spec or "").split(";") if part.strip())
    routes = {}
    for key, value in items:
        channels = value if isinstance(value, list) else [c.strip() for c in str(value).split(",") if c.strip()]
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ValueError("unknown notification channel(s) %s for %r (known: %s)" % (unknown, key, ", ".join(CHANNELS)))
        routes[str(key).strip()] = channels
    return routes


def route(event, level, routes):
    """Channels for an event: an event route wins over its level's route."""
    if event in routes:
        return routes[event]
    merged = dict(DEFAULT_ROUTES, **{k: v for k, v in routes.items() if k in LEVELS})
    return merged.get(level, merged["critical"])


def validate(settings):
    """Errors (never containing the values) for malformed settings; [] when fine."""
    errors = []
    token = settings.get("TELEGRAM_BOT_TOKEN", "")
    if token and not TOKEN_SHAPE.match(token):
        errors.append("TELEGRAM_BOT_TOKEN does not look like <digits>:<token>")
    for key in ("TELEGRAM_CHAT_ID", "TELEGRAM_GROUP_ID"):
        if settings.get(key) and not CHAT_ID_SHAPE.match(settings[key]):
            errors.append("%s must be a numeric chat id" % key)
    hook = settings.get("DISCORD_WEBHOOK_URL", "")
    if hook and not WEBHOOK_SHAPE.match(hook):
        errors.append("DISCORD_WEBHOOK_URL must be https://<host>/api/webhooks/<id>/<token>")
    port = settings.get("SMTP_PORT", "")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        errors.append("SMTP_PORT must be a number from 1 to 65535")
    return errors


def secrets_of(settings):
    """The secret values of the settings, plus their secret parts: the webhook token and the part
    of the bot token after ':' (the bot id before it is public)."""
    values = [settings.get(k) for k in ("TELEGRAM_BOT_TOKEN", "DISCORD_WEBHOOK_URL", "SMTP_PASSWORD") if settings.get(k)]
    token = settings.get("TELEGRAM_BOT_TOKEN", "")
    parts = [token.split(":", 1)[1] if ":" in token else "", _webhook_token(settings.get("DISCORD_WEBHOOK_URL", ""))]
    return values + [p for p in parts if p]


def _webhook_token(url):
    return url.rstrip("/").rsplit("/", 1)[-1] if "/api/webhooks/" in url else ""


# --- messages ----------------------------------------------------------------------------------

def format_message(event, level, text, host, env, lang="es"):
    texts = TEXTS.get(lang, TEXTS["es"])
    title = texts["title"].format(icon=LEVEL_ICONS.get(level, ""), env=env or "?", host=host, event=event)
    return title, str(text)


def telegram_payloads(chat_id, title, body, parse_mode="MarkdownV2"):
    escape = ESCAPERS[parse_mode]
    header = "*%s*\n" % escape(title) if parse_mode == "MarkdownV2" else (
        "<b>%s</b>\n" % escape(title) if parse_mode == "HTML" else title + "\n")
    pieces = split_text(body, TELEGRAM_LIMIT - len(header), escape)
    payloads = []
    for i, piece in enumerate(pieces):
        payload = {"chat_id": chat_id, "text": (header if i == 0 else "") + piece, "disable_web_page_preview": True}
        if parse_mode:
            payload["parse_mode"] = parse_mode
        payloads.append(payload)
    return payloads


def discord_payload(title, body, level):
    description = truncate(body, DISCORD_EMBED_DESCRIPTION_LIMIT)
    title = truncate(title, 256)
    if len(title) + len(description) > DISCORD_EMBEDS_TOTAL_LIMIT:
        description = truncate(description, DISCORD_EMBEDS_TOTAL_LIMIT - len(title))
    return {
        "content": truncate(title, DISCORD_CONTENT_LIMIT),
        "embeds": [{"title": title, "description": description, "color": LEVEL_COLORS.get(level, 0)}],
        "allowed_mentions": {"parse": []},
    }


# --- transport ---------------------------------------------------------------------------------

class HttpResult:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return {}


def post_json(url, payload, timeout=10.0):
    data = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json",
                                                          "User-Agent": "credinet-notify"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return HttpResult(resp.status, resp.read())
    except urllib.error.HTTPError as exc:
        return HttpResult(exc.code, exc.read())


def retry_after_of(result):
    """Seconds to wait from a 429 (Telegram: parameters.retry_after, Discord: retry_after)."""
    body = result.json()
    value = body.get("retry_after", (body.get("parameters") or {}).get("retry_after", 1))
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0


def send_with_retry(send, attempts=4, max_wait=30.0, backoff=1.0, sleep=None, deadline=None, clock=None):
    """Call send() until it answers 2xx. 429: wait retry_after (at most max_wait, else give
    up); 5xx and network errors: exponential backoff; other statuses fail at once. No wait may
    end after `deadline` (a monotonic time): the channel then gives up."""
    sleep = sleep or time.sleep  # looked up per call, so tests can patch time.sleep
    clock = clock or time.monotonic
    last = "no attempt"
    for attempt in range(1, attempts + 1):
        try:
            result = send()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last, wait = "network error (%s)" % type(exc).__name__, backoff * 2 ** (attempt - 1)
        else:
            if 200 <= result.status < 300:
                return result
            if result.status == 429:
                wait = retry_after_of(result)
                last = "HTTP 429 (retry_after %.1fs)" % wait
                if wait > max_wait:
                    break
            elif result.status >= 500:
                last, wait = "HTTP %d" % result.status, backoff * 2 ** (attempt - 1)
            else:
                description = result.json().get("description") or result.json().get("message") or ""
                raise NotifyError("HTTP %d %s" % (result.status, str(description)[:200]))
        if attempt < attempts:
            if deadline is not None and clock() + wait >= deadline:
                last += "; channel deadline reached"
                break
            sleep(wait)
    raise NotifyError("gave up after %d attempt(s): %s" % (attempt, last))


def _timeout(deadline, cap=10.0):
    """A request timeout that ends by the channel's deadline."""
    if deadline is None:
        return cap
    return max(0.5, min(cap, deadline - time.monotonic()))


def send_telegram(settings, chat_id, title, body, sleep=None, deadline=None):
    base = settings.get("TELEGRAM_API_BASE", "https://api.telegram.org").rstrip("/")
    url = "%s/bot%s/sendMessage" % (base, settings["TELEGRAM_BOT_TOKEN"])
    parse_mode = settings.get("TELEGRAM_PARSE_MODE", "MarkdownV2")
    payloads = telegram_payloads(chat_id, title, body, parse_mode)
    for payload in payloads:
        send_with_retry(lambda p=payload: post_json(url, p, _timeout(deadline)), sleep=sleep, deadline=deadline)
    return "%d message(s)" % len(payloads)


def discord_url(settings):
    """The webhook URL to post to: DISCORD_WEBHOOK_URL, on DISCORD_API_BASE when that is set
    (tests: the same path on a loopback server)."""
    url = settings["DISCORD_WEBHOOK_URL"]
    base = settings.get("DISCORD_API_BASE", "")
    if base:
        url = base.rstrip("/") + urllib.parse.urlsplit(url).path
    return url


def send_discord(settings, title, body, level, sleep=None, deadline=None):
    url = discord_url(settings)
    url += ("&" if "?" in url else "?") + "wait=true"
    send_with_retry(lambda: post_json(url, discord_payload(title, body, level), _timeout(deadline)), sleep=sleep,
                    deadline=deadline)
    return "1 message"


def send_email(settings, title, body, deadline=None):
    msg = email.message.EmailMessage()
    msg["Subject"] = title
    msg["From"] = settings["SMTP_FROM"]
    msg["To"] = settings["SMTP_TO"]
    msg.set_content(body)
    port = int(settings.get("SMTP_PORT", "587") or 587)
    context = ssl.create_default_context(cafile=settings.get("SMTP_CA_FILE") or None)
    with smtplib.SMTP(settings["SMTP_HOST"], port, timeout=_timeout(deadline, 20.0)) as smtp:
        smtp.ehlo()
        if settings.get("SMTP_STARTTLS", "true").lower() != "false":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.get("SMTP_USER"):
            smtp.login(settings["SMTP_USER"], settings.get("SMTP_PASSWORD", ""))
        smtp.send_message(msg)
    return "1 message"


def configured_channels(settings):
    has = {
        "telegram_chat": bool(settings.get("TELEGRAM_BOT_TOKEN") and settings.get("TELEGRAM_CHAT_ID")),
        "telegram_group": bool(settings.get("TELEGRAM_BOT_TOKEN") and settings.get("TELEGRAM_GROUP_ID")),
        "discord": bool(settings.get("DISCORD_WEBHOOK_URL")),
        "email": bool(settings.get("SMTP_HOST") and settings.get("SMTP_FROM") and settings.get("SMTP_TO")),
    }
    return [c for c in CHANNELS if has[c]]


def dispatch(settings, event, level, text, host=None, env=None, channels=None, dry_run=False, sleep=None,
             channel_deadline=CHANNEL_DEADLINE):
    """Send to every routed channel, in parallel; one channel's failure never stops the others.

    Returns {channel: {"ok": bool, "detail": str}} with every detail redacted.
    """
    host = host or socket.gethostname()
    env = env if env is not None else settings.get("CREDINET_ENV", "")
    title, body = format_message(event, level, text, host, env, settings.get("NOTIFY_LANG", "es"))
    wanted = channels if channels is not None else route(event, level, parse_routes(settings.get("NOTIFY_ROUTES", "")))
    available = configured_channels(settings)
    secrets = secrets_of(settings)
    deadline = time.monotonic() + channel_deadline
    senders = {
        "telegram_chat": lambda: send_telegram(settings, settings.get("TELEGRAM_CHAT_ID"), title, body, sleep, deadline),
        "telegram_group": lambda: send_telegram(settings, settings.get("TELEGRAM_GROUP_ID"), title, body, sleep, deadline),
        "discord": lambda: send_discord(settings, title, body, level, sleep, deadline),
        "email": lambda: send_email(settings, title, body, deadline),
    }
    results, pending = {}, {}
    for channel in wanted:
        if channel not in available:
            results[channel] = {"ok": False, "detail": "not configured", "skipped": True}
        elif dry_run:
            results[channel] = {"ok": True, "detail": "would send: %s" % redact(title, secrets)}
        else:
            pending[channel] = senders[channel]
    if pending:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(pending)) as pool:
            futures = {channel: pool.submit(send) for channel, send in pending.items()}
            for channel, future in futures.items():
                results[channel] = _outcome(future, secrets)
    return {channel: results[channel] for channel in wanted}


def _outcome(future, secrets):
    try:
        return {"ok": True, "detail": redact(future.result(), secrets)}
    except Exception as exc:  # isolation: any failure is this channel's alone
        detail = str(exc) if isinstance(exc, NotifyError) else "%s: %s" % (type(exc).__name__, exc)
        return {"ok": False, "detail": redact(detail, secrets)}
