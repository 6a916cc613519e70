"""Backup sets and retention for Credinet PostgreSQL backups.

Pure standard library. The backup role installs this file on the hosts next to the
`credinet-backup` command (and the offsite role reuses it), so the rules that decide what
may be deleted are the same code that is unit-tested in tests/unit/module_utils.
"""
import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import statistics
import socket
import subprocess
import time
import zoneinfo

SET_PREFIX = "credinet_"
# credinet_<db>_<YYYYmmddTHHMMSS><+-HHMM>.dump.<zst|gz>[.failed]
DUMP_NAME = re.compile(
    r"^credinet_(?P<db>[A-Za-z0-9_-]+?)_(?P<stamp>\d{8}T\d{6}[+-]\d{4})\.dump\.(?P<comp>zst|gz)(?P<failed>\.failed)?$"
)
# The old script: pg_dump | gzip into <app>/backups/*.sql.gz. Any timestamp in the name wins
# over the file time (copies reset mtimes); otherwise mtime.
LEGACY_NAME = re.compile(r"\.sql\.gz$")
LEGACY_STAMP = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[_T-]?(\d{2})?(\d{2})?(\d{2})?")

GOOD, FAILED, LEGACY, INCOMPLETE = "good", "failed", "legacy", "incomplete"
RESTORABLE = (GOOD, LEGACY)


@dataclasses.dataclass(frozen=True)
class BackupSet:
    """One backup run: its dump plus globals and manifest, or one legacy .sql.gz file."""

    key: str
    taken_at: dt.datetime
    status: str
    files: tuple
    size: int = 0

    @property
    def restorable(self):
        return self.status in RESTORABLE


def stamp(moment):
    """File-name timestamp in local time with its UTC offset (unambiguous, readable)."""
    return moment.strftime("%Y%m%dT%H%M%S%z")


def set_key(db, moment):
    return "%s%s_%s" % (SET_PREFIX, db, stamp(moment))


def _legacy_time(name, mtime, tz):
    match = LEGACY_STAMP.search(name)
    if match:
        parts = [int(p) if p else 0 for p in match.groups()]
        try:
            return dt.datetime(*parts, tzinfo=tz)
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(mtime, tz)


def _manifest_status(path):
    try:
        with open(path) as fh:
            return json.load(fh).get("status", INCOMPLETE)
    except (OSError, ValueError):
        return INCOMPLETE


def scan(backup_dir, legacy_dirs=(), tz=None):
    """Every backup set found, oldest first.

    A set is good only when its manifest says so and the dump is present; a dump whose
    manifest is missing or unreadable is INCOMPLETE (never counted as good).
    """
    tz = tz or dt.timezone.utc
    sets = []
    names = sorted(os.listdir(backup_dir)) if os.path.isdir(backup_dir) else []
    for name in names:
        match = DUMP_NAME.match(name)
        if not match:
            continue
        key = name.split(".dump.")[0]
        taken_at = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%S%z")
        related = tuple(
            os.path.join(backup_dir, n) for n in names if n == name or (n.startswith(key + ".") and ".dump." not in n)
        )
        manifest = os.path.join(backup_dir, key + ".manifest.json")
        status = FAILED if match["failed"] else _manifest_status(manifest)
        size = os.path.getsize(os.path.join(backup_dir, name))
        sets.append(BackupSet(key, taken_at, status, related, size))
    for legacy_dir in legacy_dirs:
        if not os.path.isdir(legacy_dir):
            continue
        for name in sorted(os.listdir(legacy_dir)):
            path = os.path.join(legacy_dir, name)
            if LEGACY_NAME.search(name) and os.path.isfile(path):
                st = os.stat(path)
                sets.append(BackupSet(path, _legacy_time(name, st.st_mtime, tz), LEGACY, (path,), st.st_size))
    return sorted(sets, key=lambda s: (s.taken_at, s.key))


@dataclasses.dataclass(frozen=True)
class Policy:
    keep_days: int = 30
    min_good: int = 7
    failed_keep_days: int = 7
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def validate(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("retention %s must be a whole number >= 0, got %r" % (field.name, value))
        if self.min_good < 1:
            raise ValueError("retention min_good must be >= 1: the newest good backup is never deleted")
        return self


def _newest_per_bucket(sets, bucket, count):
    """The newest set of each of the `count` most recent buckets (days, weeks, months)."""
    chosen = {}
    for backup in sorted(sets, key=lambda s: s.taken_at, reverse=True):
        b = bucket(backup.taken_at)
        if b not in chosen:
            if len(chosen) == count:
                break
            chosen[b] = backup
    return list(chosen.values())


def plan(sets, now, policy):
    """Split backup sets into (keep, delete).

    keep maps set key -> the reasons it is kept; delete lists the sets to remove. Rules:
    - the newest `min_good` verified sets are kept whatever their age (a month of failing
      runs must not erase the last good backups); legacy files top up when there are fewer;
    - anything younger than keep_days is kept (failed ones: failed_keep_days);
    - with GFS counts, the newest restorable set of each of the last N days/weeks/months.
    """
    policy.validate()
    keep = {}

    def mark(backup, reason):
        keep.setdefault(backup.key, []).append(reason)

    restorable = [s for s in sets if s.restorable]
    # Verified sets first; legacy files only top up when fewer than min_good are verified.
    def newest_first(status):
        return sorted((s for s in sets if s.status == status), key=lambda s: s.taken_at, reverse=True)

    for backup in (newest_first(GOOD) + newest_first(LEGACY))[: policy.min_good]:
        mark(backup, "newest-%d-good" % policy.min_good)
    for backup in sets:
        age = now - backup.taken_at
        limit = policy.failed_keep_days if backup.status in (FAILED, INCOMPLETE) else policy.keep_days
        if age < dt.timedelta(days=limit):
            mark(backup, "younger-than-%dd" % limit)
    tiers = (
        ("daily", policy.daily, lambda t: t.date()),
        ("weekly", policy.weekly, lambda t: tuple(t.isocalendar())[:2]),
        ("monthly", policy.monthly, lambda t: (t.year, t.month)),
    )
    for name, count, bucket in tiers:
        if count:
            for backup in _newest_per_bucket(restorable, bucket, count):
                mark(backup, name)
    delete = [s for s in sets if s.key not in keep]
    return keep, delete


def size_anomaly(size, previous_sizes, low=0.5, high=2.0, window=7):
    """A warning text when `size` is far from the median of the recent good sizes, else None."""
    recent = [s for s in previous_sizes if s > 0][-window:]
    if len(recent) < 3:
        return None
    median = statistics.median(recent)
    ratio = size / median
    if ratio < low or ratio > high:
        return "size %d bytes is %.0f%% of the median of the last %d good backups (%d bytes)" % (
            size, ratio * 100, len(recent), median)
    return None


def prometheus_text(metrics, labels):
    """Textfile-collector lines for `metrics` {name: (help, value)}, with the same labels."""
    label_text = ",".join('%s="%s"' % (k, str(v).replace("\\", "\\\\").replace('"', '\\"')) for k, v in sorted(labels.items()))
    lines = []
    for name, (help_text, value) in sorted(metrics.items()):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        lines.append("%s{%s} %s" % (name, label_text, repr(float(value)) if isinstance(value, float) else int(value)))
    return "\n".join(lines) + "\n"


def write_atomic(path, data, mode=0o600):
    """Write bytes/str to a temp file beside `path`, fsync, rename, fsync the directory."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.tmp.%d" % (os.path.basename(path), os.getpid()))
    payload = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- job plumbing shared by credinet-backup and credinet-offsite --------------------------------

class JobError(Exception):
    """A failure with a message meant for operators."""


def load_job_config(path):
    """A job's JSON settings, with its zone and validated retention policy ready to use."""
    with open(path) as fh:
        cfg = json.load(fh)
    cfg["tz"] = zoneinfo.ZoneInfo(cfg.get("timezone", "America/Mexico_City"))
    cfg["policy"] = Policy(**cfg.get("retention", {})).validate()
    return cfg


def localized(catalog, cfg, name, **values):
    """Message `name` of {lang: {name: text}} in the job's language (Spanish by default)."""
    texts = catalog.get(cfg.get("lang", "es"), catalog["es"])
    return texts[name].format(host=socket.gethostname(), env=cfg.get("env", ""), **values)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def log(msg, *args):
    print("%s %s" % (dt.datetime.now().astimezone().isoformat(timespec="seconds"), msg % args if args else msg), flush=True)


def write_metrics(cfg, name, metrics, labels):
    directory = cfg.get("metrics_dir")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    write_atomic(os.path.join(directory, name), prometheus_text(metrics, labels), mode=0o644)


def notify(cfg, event, level, text):
    """Hand the event to the notifier; never fails the caller. Returns what happened."""
    command = cfg.get("notify_command")
    record = {"event": event, "level": level, "text": text, "at": dt.datetime.now(cfg.get("tz")).astimezone().isoformat()}
    if not command or not os.access(command, os.X_OK):
        record["result"] = "notifier not installed"
    else:
        try:
            proc = subprocess.run([command, "--event", event, "--level", level, text], capture_output=True, timeout=120)
            record["result"] = "sent" if proc.returncode == 0 else "notifier exit %d" % proc.returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            record["result"] = "notifier error: %s" % type(exc).__name__
    log("notification %s (%s): %s", event, level, record["result"])
    state_dir = cfg.get("state_dir", "/var/lib/credinet-backup")
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    with open(os.path.join(state_dir, "notifications.jsonl"), "a") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


@contextlib.contextmanager
def locked(cfg):
    """The lock shared by backups, offsite copies and restores: they never overlap."""
    path = cfg.get("lock_file", "/run/lock/credinet-backup.lock")
    fh = open(path, "a+")
    deadline = time.monotonic() + int(cfg.get("lock_wait_seconds", 900))
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.seek(0)
                raise JobError("another backup/offsite/restore holds %s (%s)" % (path, fh.read().strip() or "?"))
            time.sleep(2)
    fh.seek(0)
    fh.truncate()
    fh.write("pid %d since %s\n" % (os.getpid(), dt.datetime.now().isoformat(timespec="seconds")))
    fh.flush()
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
