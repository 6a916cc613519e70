"""What every scheduled job shares: settings, log, lock, atomic writes, metrics and notification.

A job's outcome must reach the operators even when the machine is failing: `Outcome.report`
notifies first, then does its bookkeeping (notification record, metrics), each write in its own
try, and a bookkeeping failure is reported too. Metrics never keep a stale "ok" after a failed
run: when they cannot be rewritten, the old file is removed (node_exporter then reports them
absent, which alerts).
"""
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import zoneinfo

from . import messages
from . import notify as _notify

DEFAULT_TIMEZONE = "America/Mexico_City"
# The notifier gives every channel its own deadline and sends them in parallel; this bounds
# the whole call (a hung notifier must not hold a job forever).
NOTIFY_TIMEOUT_SECONDS = 150


class JobError(Exception):
    """A failure with a message meant for operators."""


# --- settings ----------------------------------------------------------------------------------

def load_config(path):
    """A job's JSON settings with its zone ready to use (cfg['tz'])."""
    try:
        with open(path) as fh:
            cfg = json.load(fh)
    except OSError as exc:
        raise JobError("cannot read %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise JobError("%s is not valid JSON: %s" % (path, exc))
    if not isinstance(cfg, dict):
        raise JobError("%s must hold a JSON object" % path)
    try:
        cfg["tz"] = zoneinfo.ZoneInfo(cfg.get("timezone") or DEFAULT_TIMEZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise JobError("%s: unknown timezone %r (%s)" % (path, cfg.get("timezone"), exc))
    return cfg


def require(cfg, *keys):
    """Errors for settings that must be present and non-empty (check-config)."""
    return ["%s is missing or empty" % k for k in keys if cfg.get(k) in (None, "", [], {})]


def message(cfg, name, **values):
    """Operator text `name` in the job's language, with host and environment filled in."""
    return messages.render(cfg.get("lang", "es"), name, host=socket.gethostname(), env=cfg.get("env", ""), **values)


def now(cfg):
    return dt.datetime.now(cfg.get("tz")).replace(microsecond=0)


# --- files -------------------------------------------------------------------------------------

def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, data, mode=0o600):
    """Write bytes/str to a temp file beside `path`, fsync, rename, fsync the directory.

    Readers see the old content or the new one, never a partial file; on any failure (a full
    disk) the temp file is removed and the old content stays.
    """
    directory = os.path.dirname(os.path.abspath(path))
    payload = data.encode() if isinstance(data, str) else data
    # A new file of a random name (O_EXCL: never through a link someone else planted there, e.g.
    # in a folder another user can write); the mode set on the open file, not by name.
    fd, tmp = tempfile.mkstemp(prefix=".%s.tmp." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def append_line(path, record):
    """One JSON line appended with a single write (O_APPEND): concurrent writers never interleave."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


# --- log -------------------------------------------------------------------------------------

def read_regular(path, limit=65536):
    """The text of a small regular file, read without following a link and without blocking on a
    FIFO: for files in folders another user (a container) can write. FileNotFoundError when
    absent; OSError for anything that is not a regular file or is larger than `limit` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError("%s is not a regular file" % path)
        data = fh.read(limit + 1)
        if info.st_size > limit or len(data) > limit:
            raise OSError("%s is larger than %d bytes" % (path, limit))
        return data.decode(errors="replace")


def log(msg, *args):
    """One line to stdout. Never raises: a reader that is gone (the SSH session or Ansible
    died, SIGHUP) must not cut short what a job does next, like giving connections back."""
    text = msg % args if args else msg
    with contextlib.suppress(OSError, ValueError):
        print("%s %s" % (dt.datetime.now().astimezone().isoformat(timespec="seconds"), text), flush=True)


# --- metrics ----------------------------------------------------------------------------------

def label_value(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus_text(metrics, labels):
    """Textfile-collector lines for `metrics` {name: (help, value)}, all with the same labels."""
    label_text = ",".join('%s="%s"' % (k, label_value(v)) for k, v in sorted(labels.items()))
    lines = []
    for name, (help_text, value) in sorted(metrics.items()):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        lines.append("%s{%s} %s" % (name, label_text, repr(float(value)) if isinstance(value, float) else int(value)))
    return "\n".join(lines) + "\n"


def write_metrics(cfg, name, metrics, labels):
    """Replace metrics file `name`; when that fails remove the old one (never a stale 'ok').

    Returns an error text, or None when the metrics are current (or metrics are off).
    """
    directory = cfg.get("metrics_dir")
    if not directory:
        return None
    path = os.path.join(directory, name)
    try:
        os.makedirs(directory, exist_ok=True)
        write_atomic(path, prometheus_text(metrics, labels), mode=0o644)
        return None
    except OSError as exc:
        return "metrics %s not written (%s): %s" % (path, exc.strerror or exc, _remove_stale(path))


def _remove_stale(path):
    """Remove a metrics file that could not be rewritten. Reported, never raised: the caller is
    reporting a failure already and must get to its notification."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return "no old file"
    except OSError as exc:
        return "old file NOT removed (%s): it may show a stale result" % (exc.strerror or exc)
    return "old file removed"


def labels(cfg):
    return {"env": cfg.get("env", ""), "host": socket.gethostname()}


# --- notification -------------------------------------------------------------------------------

def notify(cfg, event, level, text):
    """Hand the event to the notifier; never raises. Returns the record of what happened."""
    command = cfg.get("notify_command")
    record = {"event": event, "level": level, "text": text, "at": dt.datetime.now(cfg.get("tz")).isoformat(),
              # systemd's id of this run: the units' failure hook skips runs that already reported.
              "invocation": os.environ.get("INVOCATION_ID", "")}
    if not command or not os.access(command, os.X_OK):
        record["result"] = "notifier not installed"
    else:
        try:
            proc = subprocess.run([command, "--event", event, "--level", level, text], capture_output=True,
                                  timeout=NOTIFY_TIMEOUT_SECONDS)
            record["result"] = "sent" if proc.returncode == 0 else "notifier exit %d" % proc.returncode
        except (OSError, subprocess.SubprocessError) as exc:
            record["result"] = "notifier error: %s" % type(exc).__name__
    log("notification %s (%s): %s", event, level, record["result"])
    return record


def record_notification(cfg, record):
    """Append to notifications.jsonl; returns an error text instead of raising (a full disk)."""
    try:
        state_dir = cfg.get("state_dir") or "/var/lib/credinet"
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        append_line(os.path.join(state_dir, "notifications.jsonl"), record)
        return None
    except OSError as exc:
        return "notification record not written (%s)" % (exc.strerror or exc)


class Outcome:
    """The end of one job run, reported in the order that survives a failing machine."""

    def __init__(self, cfg, event, level, text, metrics_file=None, metrics=None):
        self.cfg, self.event, self.level, self.text = cfg, event, level, text
        self.metrics_file, self.metrics = metrics_file, metrics or {}

    def report(self):
        """Notify, then record and write metrics. Returns the bookkeeping errors (also notified)."""
        record = notify(self.cfg, self.event, self.level, self.text)
        errors = [e for e in (record_notification(self.cfg, record),
                              write_metrics(self.cfg, self.metrics_file, self.metrics, labels(self.cfg))
                              if self.metrics_file else None) if e]
        if errors:
            log("BOOKKEEPING FAILED: %s", "; ".join(errors))
            notify(self.cfg, "bookkeeping_failed", "critical",
                   message(self.cfg, "bookkeeping_failed", error="; ".join(errors)))
        return errors


# --- lock ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def locked(cfg):
    """The lock shared by backups, offsite copies and restores: they never overlap.

    It lives in a root-only directory (role runtime): in a world-writable one any local user
    could take it first and block every backup.
    """
    path = cfg.get("lock_file") or "/var/lib/credinet/jobs.lock"
    try:
        fh = open(path, "a+")  # noqa: SIM115 - held for the whole with-block of the caller
    except OSError as exc:
        raise JobError("cannot open the job lock %s: %s" % (path, exc.strerror or exc))
    with fh:
        _wait_for(fh, path, time.monotonic() + int(cfg.get("lock_wait_seconds", 900)))
        with contextlib.suppress(OSError):  # who holds it is information, not a requirement
            fh.seek(0)
            fh.truncate()
            fh.write("pid %d %s since %s\n" % (os.getpid(), os.path.basename(sys.argv[0]),
                                             dt.datetime.now().isoformat(timespec="seconds")))
            fh.flush()
        yield


def _wait_for(fh, path, deadline):
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                raise JobError("another backup/offsite/restore holds %s (%s). Nothing was changed." % (path, fh.read().strip() or "?"))
            time.sleep(2)


# --- process ------------------------------------------------------------------------------------

def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def handle_signals():
    """SIGTERM/SIGHUP (systemd stop, a timeout) unwind like errors: partial files are removed."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Deferral:
    """What signals_deferred() yields: the stop signals received (in order) and whether the
    next one still stops the block (`stop`)."""

    def __init__(self, stop):
        self.received, self.stop = [], stop

    def __call__(self, signum, _frame):
        self.received.append(signum)
        if self.stop:
            self.stop = False  # one stop; later signals are only noted
            raise SystemExit(128 + signum)


@contextlib.contextmanager
def signals_deferred(stop=False):
    """Stop signals that arrive in the block are noted (`.received`); with stop=True the first
    one stops the block as SystemExit, until the caller sets `.stop = False` for the steps that
    must not be cut in half (letting connections in again after a swap). The caller decides
    what a noted signal means; the previous handlers are back after the block. Handlers are
    swapped with the signals blocked, so none lands half-way. SIGKILL cannot be deferred."""
    deferral = Deferral(stop)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        previous = {sig: signal.signal(sig, deferral) for sig in STOP_SIGNALS}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        yield deferral
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


# Where the notifier is when the job's own settings cannot even be read.
FALLBACK_CONFIG = {"notify_command": "/usr/local/bin/credinet-notify", "state_dir": "/var/lib/credinet"}


NOTIFY_ENV = "/etc/credinet/notify.env"
SECRET_KEY_WORDS = ("password", "token", "secret", "webhook")


def _secret_values(value, secret_key=False):
    """Values under secret-named keys, at any depth (numbers too: a YAML password may be one)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_values(item, secret_key or any(w in str(key).lower() for w in SECRET_KEY_WORDS))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secret_values(item, secret_key)
    elif secret_key and not isinstance(value, bool) and isinstance(value, (str, int, float)) and str(value):
        yield str(value)


def known_secrets(cfg, notify_env=NOTIFY_ENV):
    """What a crash report could quote: the notifier's secrets and any secret-named job setting.
    Never fails (it runs while a failure is being reported)."""
    found = []
    try:
        found += _secret_values(cfg)
        path = cfg.get("notify_env_file", notify_env)
        if isinstance(path, str) and os.path.getsize(path) < 1 << 20:
            with open(path, encoding="utf-8") as fh:
                found += _notify.secrets_of(_notify.parse_env(fh.read()))
    except Exception:  # noqa: BLE001 - a report without this mask beats no report
        pass
    return found


def main(command, run, failure_event, config_path):
    """Top level of a host command: no failure ends it without a notification.

    `run(cfg)` returns the exit status. A JobError is an expected failure with an operator
    message; anything else (a bug, a malformed manifest) is logged with its traceback and
    notified too, so a crash cannot silence the alert that the job did not do its work.
    """
    handle_signals()
    os.umask(0o077)
    cfg = dict(FALLBACK_CONFIG, tz=dt.timezone.utc)
    try:
        cfg = load_config(config_path)
        return run(cfg)
    except JobError as exc:
        error = _notify.redact(exc, known_secrets(cfg))
        log("ERROR: %s", error)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: report, then fail
        secrets = known_secrets(cfg)
        log("UNEXPECTED ERROR in %s: %s", command, _notify.redact(traceback.format_exc(), secrets))
        error = _notify.redact("%s: %s" % (type(exc).__name__, exc), secrets)
    record = notify(cfg, failure_event, "critical", failure_text(cfg, failure_event, error[:1000]))
    record_notification(cfg, record)
    return 1


def failure_text(cfg, event, error):
    """The operator text of a run that failed with `error`.

    Some failure texts need more than the error (a restore's app state, a drill's set key),
    which a crash does not provide: the generic command_failed text then carries the error, so
    the alert is never lost to a KeyError.
    """
    try:
        return message(cfg, event, error=error)
    except (KeyError, IndexError, ValueError):
        return message(cfg, "command_failed", error=error)
