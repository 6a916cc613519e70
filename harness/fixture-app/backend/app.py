"""Fixture backend: the smallest stand-in for the credinet-v2 API that deploys can health-check."""
import datetime
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

CRITICAL_TABLES = ("users", "loans", "payments")


def db_status():
    """Return (ok, detail): ok only when the DB answers and the critical tables exist."""
    try:
        with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn, conn.cursor() as cur:
            counts = {}
            for table in CRITICAL_TABLES:
                cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                counts[table] = cur.fetchone()[0]
            return True, counts
    except Exception as exc:  # any DB failure makes the service unhealthy
        return False, type(exc).__name__


def next_cutoff(now=None):
    """The scheduler's next period cut-off: 00:05 in the zone the process sees (TZ and the zone
    files it can read; UTC when it has neither - the incident)."""
    now = now or datetime.datetime.now().astimezone()
    cutoff = now.replace(hour=0, minute=5, second=0, microsecond=0)
    if cutoff <= now:
        cutoff = (cutoff + datetime.timedelta(days=1)).replace(hour=0, minute=5)
    return cutoff.isoformat()


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path == "/health":
            ok, detail = db_status()
            self._reply(200 if ok else 503, {
                "status": "ok" if ok else "error",
                "db": detail,
                "version": os.environ.get("APP_VERSION", "dev"),
                "timezone": os.environ.get("TZ", ""),
                "scheduler_timezone": os.environ.get("SCHEDULER_TIMEZONE", ""),
                "next_cutoff": next_cutoff(),
                "utc_offset": datetime.datetime.now().astimezone().strftime("%z"),
            })
        else:
            self._reply(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        print("%s %s" % (self.address_string(), fmt % args), flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
