import json
import urllib.parse

import pytest

import credinet_notify as cn
from conftest import FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD, FAKE_TOKEN

TRICKY = "_*[]()~`>#+-=|{}.!\\ <b>&amp; 💸 Préstamo #42 (vencido) -10.5%"
ALL_SECRET_FORMS = [f for s in (FAKE_TOKEN, FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD) for f in cn.secret_forms(s)]


def no_sleep(_seconds):
    pass


class TestEscaping:
    def test_markdown_v2_escapes_every_reserved_character(self):
        escaped = cn.escape_markdown_v2("_*[]()~`>#+-=|{}.!\\")
        assert escaped == "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\"

    def test_markdown_v2_leaves_letters_digits_and_emoji(self):
        assert cn.escape_markdown_v2("Préstamo 42 💸") == "Préstamo 42 💸"

    def test_html_escapes_only_what_html_needs(self):
        assert cn.escape_html("<b>a & b</b> *x*") == "&lt;b&gt;a &amp; b&lt;/b&gt; *x*"


class TestSplitAndTruncate:
    def test_5000_chars_split_within_the_limit_after_escaping(self):
        text = ("línea con puntos... y guiones -- " * 200)[:5000]
        pieces = cn.split_text(text, 4096, cn.escape_markdown_v2)
        assert len(pieces) >= 2
        assert all(len(p) <= 4096 for p in pieces)
        assert "".join(p.replace("\\", "") for p in pieces) == text.replace("\\", "")

    def test_split_never_cuts_an_escape_sequence(self):
        pieces = cn.split_text("." * 5000, 4096, cn.escape_markdown_v2)
        assert all(not p.endswith("\\") or p.endswith("\\\\") for p in pieces)
        assert sum(p.count("\\.") for p in pieces) == 5000

    def test_split_prefers_line_breaks(self):
        text = "\n".join("x" * 99 for _ in range(60))
        pieces = cn.split_text(text, 4096)
        assert all(p.endswith("\n") for p in pieces[:-1])

    def test_short_text_is_one_piece(self):
        assert cn.split_text("hola", 4096, cn.escape_html) == ["hola"]

    def test_truncate(self):
        assert cn.truncate("abcdef", 4) == "abc…"
        assert cn.truncate("abc", 4) == "abc"
        with pytest.raises(ValueError):
            cn.truncate("abc", 0)


class TestRedaction:
    @pytest.mark.parametrize("form", [FAKE_TOKEN, urllib.parse.quote(FAKE_TOKEN, safe=""),
                                      urllib.parse.quote(FAKE_TOKEN, safe="").lower(), urllib.parse.quote_plus(FAKE_TOKEN)])
    def test_every_form_of_a_token_is_masked(self, form):
        text = "error calling https://api.telegram.org/bot%s/sendMessage" % form
        assert FAKE_TOKEN.split(":")[1] not in cn.redact(text, [FAKE_TOKEN])
        assert "***" in cn.redact(text, [FAKE_TOKEN])

    def test_short_or_empty_secrets_do_not_mask_everything(self):
        assert cn.redact("abc", ["", None, "a"]) == "abc"


class TestValidation:
    def test_good_settings(self, fakes):
        assert cn.validate(fakes.settings) == []

    @pytest.mark.parametrize(("key", "value", "fragment"), [
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "TELEGRAM_BOT_TOKEN"),
        ("TELEGRAM_CHAT_ID", "@channel", "TELEGRAM_CHAT_ID"),
        ("DISCORD_WEBHOOK_URL", "http://discord.example.test/api/webhooks/1/abc", "DISCORD_WEBHOOK_URL"),
        ("SMTP_PORT", "70000", "SMTP_PORT"),
    ])
    def test_malformed_values_are_named_without_their_value(self, fakes, key, value, fragment):
        errors = cn.validate(dict(fakes.settings, **{key: value}))
        assert len(errors) == 1 and fragment in errors[0]
        assert value not in errors[0]


class TestRouting:
    def test_levels_and_event_overrides(self):
        routes = cn.parse_routes("info=discord;backup_failed=email,telegram_chat")
        assert cn.route("backup_completed", "info", routes) == ["discord"]
        assert cn.route("backup_failed", "critical", routes) == ["email", "telegram_chat"]
        assert cn.route("deploy_failed", "critical", routes) == cn.DEFAULT_ROUTES["critical"]

    def test_unknown_channel_is_an_error(self):
        with pytest.raises(ValueError, match="slack"):
            cn.parse_routes("critical=slack")


class TestRetry:
    def test_429_waits_retry_after_then_succeeds(self):
        answers = [cn.HttpResult(429, b'{"parameters": {"retry_after": 3}}'), cn.HttpResult(200, b"{}")]
        waits = []
        assert cn.send_with_retry(lambda: answers.pop(0), sleep=waits.append).status == 200
        assert waits == [3.0]

    def test_retry_after_beyond_the_bound_gives_up(self):
        with pytest.raises(cn.NotifyError, match="429"):
            cn.send_with_retry(lambda: cn.HttpResult(429, b'{"retry_after": 999}'), sleep=no_sleep, max_wait=30)

    def test_5xx_is_retried_a_bounded_number_of_times(self):
        calls = []
        with pytest.raises(cn.NotifyError, match="gave up after 4"):
            cn.send_with_retry(lambda: calls.append(1) or cn.HttpResult(502, b""), sleep=no_sleep)
        assert len(calls) == 4

    def test_4xx_fails_at_once(self):
        calls = []
        with pytest.raises(cn.NotifyError, match="HTTP 400 chat not found"):
            cn.send_with_retry(lambda: calls.append(1) or cn.HttpResult(400, b'{"description": "chat not found"}'),
                               sleep=no_sleep)
        assert len(calls) == 1


class TestDispatchAgainstLoopbackServers:
    def test_all_channels_receive_real_payloads(self, fakes):
        results = cn.dispatch(fakes.settings, "backup_failed", "critical", TRICKY, host="credicuenta3")
        assert all(r["ok"] for r in results.values()), results
        telegram = fakes.received("telegram")
        assert sorted(r["payload"]["chat_id"] for r in telegram) == ["-1002222", "111111"]
        assert all(r["payload"]["parse_mode"] == "MarkdownV2" for r in telegram)
        assert "credicuenta3" in telegram[0]["payload"]["text"]
        (discord,) = fakes.received("discord")
        assert discord["path"].endswith("?wait=true")
        assert discord["payload"]["embeds"][0]["description"] == TRICKY
        (mail,) = fakes.received("email")
        assert mail["tls"] is True and mail["user"] == "alertas"
        assert "Subject: =?utf-8?" in mail["data"] or "backup_failed" in mail["data"]

    def test_html_parse_mode(self, fakes):
        settings = dict(fakes.settings, TELEGRAM_PARSE_MODE="HTML")
        results = cn.dispatch(settings, "deploy_started", "info", "<script>&", channels=["telegram_group"])
        assert results["telegram_group"]["ok"]
        assert "&lt;script&gt;&amp;" in fakes.received("telegram")[0]["payload"]["text"]

    def test_long_text_is_split_and_accepted(self, fakes):
        results = cn.dispatch(fakes.settings, "x", "info", "a.b-c " * 1500, channels=["telegram_group"])
        assert results["telegram_group"] == {"ok": True, "detail": "3 message(s)"}  # 12000 escaped chars
        received = fakes.received("telegram")
        assert [r["answered"] for r in received] == [200, 200, 200]
        assert all(len(r["payload"]["text"]) <= 4096 for r in received)

    def test_telegram_429_is_honoured(self, fakes):
        fakes.inject(fakes.telegram, 429)
        waits = []
        results = cn.dispatch(fakes.settings, "x", "info", "hola", channels=["telegram_group"], sleep=waits.append)
        assert results["telegram_group"]["ok"]
        assert waits == [1.0]
        assert [r["answered"] for r in fakes.received("telegram")] == [429, 200]

    def test_discord_429_float_retry_after(self, fakes):
        fakes.inject(fakes.discord, 429)
        waits = []
        assert cn.dispatch(fakes.settings, "x", "warning", "hola", channels=["discord"], sleep=waits.append)["discord"]["ok"]
        assert waits == [0.2]

    def test_one_channel_down_does_not_stop_the_others(self, fakes):
        fakes.inject(fakes.telegram, 500, 500, 500, 500, 500, 500, 500, 500)
        settings = dict(fakes.settings, SMTP_PORT="1")  # nothing listens there
        results = cn.dispatch(settings, "backup_failed", "critical", "x", sleep=no_sleep)
        assert results["discord"]["ok"]
        assert not results["telegram_chat"]["ok"] and not results["telegram_group"]["ok"]
        assert not results["email"]["ok"]
        assert "HTTP 500" in results["telegram_chat"]["detail"]

    def test_secrets_never_appear_in_results_even_on_failure(self, fakes):
        settings = dict(fakes.settings, TELEGRAM_API_BASE="http://127.0.0.1:1", DISCORD_API_BASE="http://127.0.0.1:1",
                        SMTP_PORT="1")
        text = json.dumps(cn.dispatch(settings, "x", "critical", "x", sleep=no_sleep))
        assert not [f for f in ALL_SECRET_FORMS if f in text]

    def test_unconfigured_channels_are_reported_not_sent(self, fakes):
        settings = {k: v for k, v in fakes.settings.items() if not k.startswith("SMTP")}
        results = cn.dispatch(settings, "x", "critical", "x")
        assert results["email"] == {"ok": False, "detail": "not configured", "skipped": True}

    def test_dry_run_sends_nothing(self, fakes):
        results = cn.dispatch(fakes.settings, "x", "critical", "x", dry_run=True)
        assert all(r["ok"] and r["detail"].startswith("would send") for r in results.values())
        assert fakes.received() == []


def test_parse_env_handles_quotes_comments_and_equals():
    env = cn.parse_env("# c\nA=1\nB='x=y'\nC=\"q\"\n\nnoequals\n")
    assert env == {"A": "1", "B": "x=y", "C": "q"}
