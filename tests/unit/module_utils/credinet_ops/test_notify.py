"""credinet_ops.notify: escaping, splitting, redaction, routing, retries, dispatch against loopback fakes."""
import json
import threading
import time
import urllib.parse

import pytest

from conftest import FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD, FAKE_TOKEN
from credinet_ops import notify as cn

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

    def test_empty_secrets_mask_nothing(self):
        assert cn.redact("abc", ["", None]) == "abc"
        assert cn.secret_forms("") == cn.secret_forms(None) == []

    def test_short_secrets_are_masked_too(self):
        # Any configured secret counts, whatever its length (a 4-digit SMTP password is still a password).
        assert cn.redact("abc", ["a"]) == "***bc"
        assert cn.redact("pin 1234 ok", ["1234"]) == "pin *** ok"


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


class TestFormerFilterBehaviour:
    """What the removed credinet_telegram_escape/credinet_truncate/credinet_redact filters asserted,
    now asserted on the functions the notifier uses."""

    def test_escape_modes(self):
        assert cn.ESCAPERS["MarkdownV2"]("a.b") == "a\\.b"
        assert cn.ESCAPERS["HTML"]("<a>") == "&lt;a&gt;"
        assert cn.ESCAPERS[""]("<a>.") == "<a>."

    def test_truncate_to_the_telegram_limit(self):
        assert cn.truncate("x" * 5000, cn.TELEGRAM_LIMIT) == "x" * 4095 + "…"

    def test_redact_a_list_of_secrets(self):
        text = "token %s and %s" % (FAKE_TOKEN, FAKE_TOKEN.replace(":", "%3A"))
        assert FAKE_TOKEN not in cn.redact(text, [FAKE_TOKEN])
        assert "%3A" not in cn.redact(text, [FAKE_TOKEN])


class TestSecretForms:
    @pytest.mark.parametrize("form", [
        FAKE_TOKEN.replace(":", "%253A"),  # URL-encoded twice (a URL inside a query string)
        FAKE_TOKEN.replace(":", "%253a"),
        FAKE_TOKEN.replace(":", "%3a"),
        urllib.parse.quote(urllib.parse.quote(FAKE_TOKEN, safe=""), safe=""),
    ])
    def test_encoded_forms_of_a_token(self, form):
        redacted = cn.redact("GET /bot%s/getMe failed" % form, [FAKE_TOKEN])
        assert redacted == "GET /bot***/getMe failed"

    def test_json_escaped_non_ascii_secret(self):
        secret = "contraseña-ñandú"
        body = json.dumps({"password": secret})  # ensure_ascii: "contrase\\u00f1a-\\u00f1and\\u00fa"
        assert secret not in body
        assert cn.redact(body, [secret]) == '{"password": "***"}'
        assert cn.redact(body.replace("\\u00f1", "\\u00F1"), [secret]) == '{"password": "***"}'

    def test_json_escaped_quotes_and_backslashes(self):
        secret = 'pa"ss\\word'
        assert cn.redact(json.dumps({"p": secret}), [secret]) == '{"p": "***"}'

    @pytest.mark.parametrize("secret", ["a b+c/d", "ñ", "x:y", "%41"])
    def test_every_form_of_odd_secrets_is_masked(self, secret):
        for form in cn.secret_forms(secret):
            assert cn.redact("<%s>" % form, [secret]) == "<***>"

    def test_forms_are_longest_first(self):
        forms = cn.secret_forms(FAKE_TOKEN)
        assert forms == sorted(forms, key=len, reverse=True)

    def test_secrets_of_include_the_secret_parts(self, fakes):
        found = cn.secrets_of(fakes.settings)
        assert FAKE_TOKEN in found and FAKE_SMTP_PASSWORD in found
        assert FAKE_TOKEN.split(":", 1)[1] in found  # the bot token without its public bot id
        assert FAKE_HOOK_TOKEN in found
        assert "123456789" not in found

    def test_the_bot_token_part_alone_is_masked(self, fakes):
        text = "token=%s" % FAKE_TOKEN.split(":", 1)[1]
        assert cn.redact(text, cn.secrets_of(fakes.settings)) == "token=***"

    def test_secrets_of_empty_settings(self):
        assert cn.secrets_of({}) == []
        assert cn.secrets_of({"TELEGRAM_BOT_TOKEN": "no-colon"}) == ["no-colon"]


class TestRetryDeadline:
    def test_no_wait_may_end_after_the_deadline(self):
        now = [100.0]
        waits = []

        def sleep(seconds):
            waits.append(seconds)
            now[0] += seconds

        with pytest.raises(cn.NotifyError, match="channel deadline reached"):
            cn.send_with_retry(lambda: cn.HttpResult(503, b""), attempts=10, sleep=sleep, deadline=104.5,
                               clock=lambda: now[0])
        assert waits == [1.0, 2.0]  # a third wait (4 s) would have ended at 107 s

    def test_a_429_longer_than_the_deadline_gives_up(self):
        waits = []
        with pytest.raises(cn.NotifyError, match="deadline"):
            cn.send_with_retry(lambda: cn.HttpResult(429, b'{"retry_after": 20}'), sleep=waits.append, deadline=10.0,
                               clock=lambda: 0.0)
        assert waits == []

    def test_no_deadline_keeps_the_attempt_bound(self):
        calls = []
        with pytest.raises(cn.NotifyError, match="gave up after 3"):
            cn.send_with_retry(lambda: calls.append(1) or cn.HttpResult(500, b""), attempts=3, sleep=no_sleep)
        assert len(calls) == 3

    def test_network_errors_are_retried(self):
        answers = [OSError("refused"), cn.HttpResult(200, b"{}")]

        def send():
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        assert cn.send_with_retry(send, sleep=no_sleep).status == 200


class TestParallelDispatch:
    def test_channels_are_sent_at_the_same_time(self, fakes, monkeypatch):
        both_started = threading.Barrier(2, timeout=5)

        def waits_for_the_other(*args, **kwargs):
            both_started.wait()  # sequential sending would time out here
            return "1 message"

        monkeypatch.setattr(cn, "send_discord", waits_for_the_other)
        monkeypatch.setattr(cn, "send_email", waits_for_the_other)
        results = cn.dispatch(fakes.settings, "x", "critical", "x", channels=["discord", "email"])
        assert results == {"discord": {"ok": True, "detail": "1 message"}, "email": {"ok": True, "detail": "1 message"}}

    def test_each_channel_gets_the_deadline(self, fakes, monkeypatch):
        deadlines = []

        def record(*args, **kwargs):
            deadlines.append(args[-1])
            return "ok"

        monkeypatch.setattr(cn, "send_telegram", record)
        monkeypatch.setattr(cn, "send_discord", record)
        started = time.monotonic()
        cn.dispatch(fakes.settings, "x", "critical", "x", channels=["telegram_chat", "discord"], channel_deadline=7)
        assert len(deadlines) == 2 and deadlines[0] == deadlines[1]
        assert started + 7 <= deadlines[0] <= time.monotonic() + 7

    def test_a_dead_channel_gives_up_at_its_deadline(self, fakes):
        fakes.inject(fakes.telegram, *[500] * 8)
        waits = []
        results = cn.dispatch(fakes.settings, "x", "info", "hola", channels=["telegram_group", "discord"],
                              sleep=waits.append, channel_deadline=0.5)
        assert not results["telegram_group"]["ok"] and "deadline" in results["telegram_group"]["detail"]
        assert results["discord"]["ok"]
        assert waits == []

    def test_results_keep_the_routing_order(self, fakes):
        results = cn.dispatch(fakes.settings, "x", "critical", "x", dry_run=True)
        assert list(results) == cn.DEFAULT_ROUTES["critical"]

    def test_an_unexpected_exception_in_a_channel_is_contained_and_redacted(self, fakes, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("boom with %s" % FAKE_HOOK_TOKEN)

        monkeypatch.setattr(cn, "send_discord", broken)
        results = cn.dispatch(fakes.settings, "x", "critical", "x", channels=["discord", "telegram_group"])
        assert results["discord"] == {"ok": False, "detail": "RuntimeError: boom with ***"}
        assert results["telegram_group"]["ok"]


class TestParseEnv:
    """notify.env is parsed as Compose parses a .env file."""

    @pytest.mark.parametrize(("line", "value"), [
        ("A=plain", "plain"),
        ("A='x=y'", "x=y"),
        ('A="q"', "q"),
        ("A=value # comment", "value"),
        ("A=val#ue", "val#ue"),
        ("A='a # not a comment'", "a # not a comment"),
        ("A='$NOT_EXPANDED'", "$NOT_EXPANDED"),
        ("A='it\\'s'", "it's"),
        ('A="say \\"hi\\""', 'say "hi"'),
        ('A="tab\\there"', "tab\there"),
        ("export A=1", "1"),
        ("  A = spaced  ", "spaced"),
        ("A=", ""),
        ("A=''", ""),
    ])
    def test_compose_rules(self, line, value):
        assert cn.parse_env(line + "\n") == {"A": value}

    def test_comments_blank_lines_and_lines_without_equals(self):
        assert cn.parse_env("# c\n\n  # indented\nnoequals\nA=1\n") == {"A": "1"}

    def test_last_assignment_wins(self):
        assert cn.parse_env("A=1\nA=2\n") == {"A": "2"}
