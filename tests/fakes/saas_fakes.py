#!/usr/bin/env python3
"""Loopback stand-ins for the SaaS endpoints the build machines cannot reach.

They speak the real protocols and record what they receive (JSON lines), so tests assert on
real payloads instead of stubbing the sending code:
  - Telegram Bot API: POST /bot<token>/sendMessage, validates chat_id, text (<= 4096),
    parse_mode and MarkdownV2 escaping; can answer 429 with parameters.retry_after, or 500.
  - Discord webhooks: POST /api/webhooks/<id>/<token>[?wait=true], validates content/embed
    limits; can answer 429 with retry_after (float seconds).
  - SMTP with STARTTLS and AUTH PLAIN/LOGIN (AUTH only after STARTTLS).
Failures to inject: POST /_control {"respond": [429, 500]} on an HTTP fake answers the next
requests with those statuses. Stdlib only (runs in the sandbox hosts too).

  saas_fakes.py --record FILE [--telegram-port N] [--discord-port N] [--smtp-port N --cert C --key K]
"""
import argparse
import asyncio
import base64
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def markdown_v2_error(text):
    """Telegram's 'can't parse entities' check: reserved characters must be escaped; '*' may
    only pair up as bold."""
    i, bold_open = 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "*":
            bold_open = not bold_open
        elif ch in MDV2_RESERVED:
            return "Bad Request: can't parse entities: character '%s' is reserved and must be escaped" % ch
        i += 1
    return "Bad Request: can't parse entities: can't find end of bold entity" if bold_open else None


class Recorder:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()

    def write(self, record):
        with self.lock, open(self.path, "a") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


class FakeHandler(BaseHTTPRequestHandler):
    recorder = None
    queue = None
    channel = ""

    def log_message(self, *args):
        pass

    def _reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_control":
            self.queue.extend(json.loads(raw).get("respond", []))
            return self._reply(200, {"queued": len(self.queue)})
        try:
            payload = json.loads(raw)
        except ValueError:
            return self._reply(400, {"ok": False, "description": "Bad Request: body is not JSON"})
        injected = self.queue.pop(0) if self.queue else None
        self.recorder.write({"channel": self.channel, "path": self.path, "payload": payload,
                             "answered": injected or 200})
        if injected:
            return self._reply(injected, self.error_body(injected))
        return self.handle_payload(payload)


class TelegramHandler(FakeHandler):
    channel = "telegram"
    PATH = re.compile(r"^/bot(?P<token>[0-9]+:[A-Za-z0-9_-]+)/sendMessage$")

    def error_body(self, status):
        if status == 429:
            return {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1}}
        return {"ok": False, "error_code": status, "description": "Internal Server Error"}

    def handle_payload(self, payload):
        if not self.PATH.match(urlsplit(self.path).path):
            return self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        text, chat_id = payload.get("text"), payload.get("chat_id")
        if not re.match(r"^-?[0-9]+$", str(chat_id or "")):
            return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        if not isinstance(text, str) or not text.strip():
            return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"})
        if len(text) > 4096:
            return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})
        mode = payload.get("parse_mode")
        if mode not in (None, "MarkdownV2", "HTML"):
            return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: unsupported parse_mode"})
        error = markdown_v2_error(text) if mode == "MarkdownV2" else None
        if error:
            return self._reply(400, {"ok": False, "error_code": 400, "description": error})
        return self._reply(200, {"ok": True, "result": {"message_id": 1, "chat": {"id": int(chat_id)}, "text": text}})


class DiscordHandler(FakeHandler):
    channel = "discord"
    PATH = re.compile(r"^/api/webhooks/[0-9]+/[A-Za-z0-9_.-]+$")

    def error_body(self, status):
        if status == 429:
            return {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}
        return {"message": "Internal Server Error", "code": 0}

    def handle_payload(self, payload):
        parts = urlsplit(self.path)
        if not self.PATH.match(parts.path):
            return self._reply(404, {"message": "Unknown Webhook", "code": 10015})
        content, embeds = payload.get("content") or "", payload.get("embeds") or []
        total = sum(len(e.get("title", "")) + len(e.get("description", "")) for e in embeds)
        if len(content) > 2000 or len(embeds) > 10 or total > 6000 or not (content or embeds):
            return self._reply(400, {"message": "Invalid Form Body", "code": 50035})
        if parse_qs(parts.query).get("wait") == ["true"]:
            return self._reply(200, {"id": "1", "content": content, "embeds": embeds})
        return self._reply(204)


def http_fake(handler, port, recorder):
    cls = type(handler.__name__, (handler,), {"recorder": recorder, "queue": []})
    server = ThreadingHTTPServer(("127.0.0.1", port), cls)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class SmtpFake:
    """Enough ESMTP for smtplib: EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT."""

    def __init__(self, recorder, tls_context):
        self.recorder, self.tls = recorder, tls_context

    async def session(self, reader, writer):
        state = {"tls": False, "user": None, "from": None, "to": []}

        async def say(line):
            writer.write((line + "\r\n").encode())
            await writer.drain()

        await say("220 fake-smtp ESMTP ready")
        while True:
            line = (await reader.readline()).decode(errors="replace").rstrip("\r\n")
            if not line:
                break
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                caps = ["fake-smtp"] + (["AUTH PLAIN LOGIN"] if state["tls"] else ["STARTTLS"])
                for cap in caps[:-1]:
                    await say("250-" + cap)
                await say("250 " + caps[-1])
            elif verb == "STARTTLS" and self.tls and not state["tls"]:
                await say("220 ready to start TLS")
                await writer.start_tls(self.tls)
                state["tls"] = True
            elif verb == "AUTH":
                if not state["tls"]:
                    await say("530 Must issue a STARTTLS command first")
                    continue
                mech, _, initial = arg.partition(" ")
                if mech.upper() == "PLAIN":
                    if not initial:
                        await say("334 ")
                        initial = (await reader.readline()).decode().strip()
                    _, user, _ = base64.b64decode(initial).decode().split("\0")
                else:
                    await say("334 VXNlcm5hbWU6")
                    user = base64.b64decode((await reader.readline()).strip()).decode()
                    await say("334 UGFzc3dvcmQ6")
                    await reader.readline()
                state["user"] = user
                await say("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                state["from"], state["to"] = arg[5:], []
                await say("250 OK")
            elif verb == "RCPT":
                state["to"].append(arg[3:])
                await say("250 OK")
            elif verb == "DATA":
                await say("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    data = (await reader.readline()).decode(errors="replace")
                    if data.rstrip("\r\n") == ".":
                        break
                    lines.append(data[1:] if data.startswith("..") else data)
                self.recorder.write({"channel": "email", "from": state["from"], "to": state["to"], "tls": state["tls"],
                                     "user": state["user"], "data": "".join(lines)})
                await say("250 OK queued")
            elif verb == "QUIT":
                await say("221 Bye")
                break
            elif verb in ("RSET", "NOOP"):
                await say("250 OK")
            else:
                await say("502 Command not implemented")
        writer.close()


def smtp_fake(port, recorder, certfile, keyfile):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    fake = SmtpFake(recorder, context)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(fake.session, "127.0.0.1", port))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return server, loop


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", required=True)
    parser.add_argument("--telegram-port", type=int)
    parser.add_argument("--discord-port", type=int)
    parser.add_argument("--smtp-port", type=int)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    recorder = Recorder(args.record)
    if args.telegram_port:
        http_fake(TelegramHandler, args.telegram_port, recorder)
    if args.discord_port:
        http_fake(DiscordHandler, args.discord_port, recorder)
    if args.smtp_port:
        smtp_fake(args.smtp_port, recorder, args.cert, args.key)
    threading.Event().wait()


if __name__ == "__main__":
    main()
