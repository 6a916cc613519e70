"""Start the loopback SaaS fakes in-process (unit tests, and the controller side of Molecule tests)."""
import json
import socket
import subprocess
import urllib.request

from fakes import saas_fakes

# Obviously fake secrets; the tests assert none of their forms ever leaks.
FAKE_TOKEN = "123456789:FAKE-unit-test-telegram-token-xyz"
FAKE_HOOK_TOKEN = "FAKE-unit-test-discord-token"
FAKE_SMTP_PASSWORD = "FAKE-unit-smtp-password"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fakes:
    """Running loopback Telegram/Discord/SMTP fakes and the settings that point at them."""

    def __init__(self, tmp):
        self.record = tmp / "received.jsonl"
        self.record.touch()
        recorder = saas_fakes.Recorder(str(self.record))
        cert, key = tmp / "cert.pem", tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        self.telegram = saas_fakes.http_fake(saas_fakes.TelegramHandler, _free_port(), recorder)
        self.discord = saas_fakes.http_fake(saas_fakes.DiscordHandler, _free_port(), recorder)
        smtp_port = _free_port()
        self.smtp, self.loop = saas_fakes.smtp_fake(smtp_port, recorder, str(cert), str(key))
        self.settings = {
            "TELEGRAM_BOT_TOKEN": FAKE_TOKEN,
            "TELEGRAM_CHAT_ID": "111111",
            "TELEGRAM_GROUP_ID": "-1002222",
            "TELEGRAM_API_BASE": "http://127.0.0.1:%d" % self.telegram.server_port,
            "DISCORD_WEBHOOK_URL": "https://discord.example.test/api/webhooks/4242/" + FAKE_HOOK_TOKEN,
            "DISCORD_API_BASE": "http://127.0.0.1:%d" % self.discord.server_port,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_USER": "alertas",
            "SMTP_PASSWORD": FAKE_SMTP_PASSWORD,
            "SMTP_FROM": "ops@example.test",
            "SMTP_TO": "equipo@example.test",
            "SMTP_CA_FILE": str(cert),
            "CREDINET_ENV": "prod",
        }

    def received(self, channel=None):
        rows = [json.loads(line) for line in self.record.read_text().splitlines()]
        return [r for r in rows if channel is None or r["channel"] == channel]

    def inject(self, server, *statuses):
        req = urllib.request.Request("http://127.0.0.1:%d/_control" % server.server_port,
                                     data=json.dumps({"respond": list(statuses)}).encode(), method="POST")
        urllib.request.urlopen(req).read()

    def close(self):
        self.telegram.shutdown()
        self.discord.shutdown()
        self.loop.call_soon_threadsafe(self.smtp.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


