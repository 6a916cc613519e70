"""Backup sets: how their files are named and how files group into sets.

One implementation serves the local backup folder and a remote (rclone) listing: a set is a
dump plus the files sharing its key (globals, manifest). Database names are encoded in file
names reversibly, so any PostgreSQL name (dots, spaces, slashes, accents) stays listable and
can never point outside the backup folder.
"""
import dataclasses
import datetime as dt
import os
import re
import urllib.parse

from . import manifest as mf

SET_PREFIX = "credinet_"
STAMP_FORMAT = "%Y%m%dT%H%M%S%z"
# credinet_<encoded db>_<YYYYmmddTHHMMSS><+-HHMM>[_<n>].dump.<zst|gz>[.failed]
DUMP_NAME = re.compile(
    r"^credinet_(?P<db>[A-Za-z0-9_%-]+?)_(?P<stamp>\d{8}T\d{6}[+-]\d{4})(?P<seq>_\d+)?"
    r"\.dump\.(?P<comp>zst|gz)(?P<failed>\.failed)?$"
)
# The old script: pg_dump | gzip into <app>/backups/*.sql.gz. A timestamp in the name wins over
# the file time (copies reset mtimes); otherwise mtime.
LEGACY_NAME = re.compile(r"\.sql\.gz$")
LEGACY_STAMP = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})[_T-]?(\d{2})?(\d{2})?(\d{2})?")
_NAME_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")

GOOD, FAILED, LEGACY, INCOMPLETE = "good", "failed", "legacy", "incomplete"
RESTORABLE = (GOOD, LEGACY)


@dataclasses.dataclass(frozen=True)
class BackupSet:
    """One backup run (dump, globals, manifest) or one legacy .sql.gz file."""

    key: str
    taken_at: dt.datetime
    status: str
    files: tuple
    size: int = 0

    @property
    def restorable(self):
        return self.status in RESTORABLE

    @property
    def dump(self):
        """The file holding the data: the dump of a set, the file itself for a legacy set."""
        return next(f for f in self.files if ".dump." in os.path.basename(f) or LEGACY_NAME.search(f))


def encode_db(name):
    """A database name as it appears in file names: [A-Za-z0-9_-] kept, every other byte %XX."""
    if not name:
        raise ValueError("empty database name")
    return "".join(c if c in _NAME_SAFE else "".join("%%%02X" % b for b in c.encode()) for c in name)


def decode_db(encoded):
    return urllib.parse.unquote(encoded, errors="strict")


def stamp(moment):
    """File-name timestamp in local time with its UTC offset (unambiguous, readable)."""
    return moment.strftime(STAMP_FORMAT)


def set_key(db, moment, seq=0):
    """Key of a set; `seq` > 0 tells apart runs started in the same second."""
    return "%s%s_%s%s" % (SET_PREFIX, encode_db(db), stamp(moment), "_%d" % seq if seq else "")


def parse_key(key):
    """(db, taken_at) of a set key, or None when it is not one."""
    match = DUMP_NAME.match(key + ".dump.zst")
    if not match:
        return None
    return decode_db(match["db"]), dt.datetime.strptime(match["stamp"], STAMP_FORMAT)


def _group(names):
    """[(key, dump match, related names)] of every dump among `names` (names are base names)."""
    ordered = sorted(names)
    found = []
    for name in ordered:
        match = DUMP_NAME.match(name)
        if not match:
            continue
        key = name.split(".dump.")[0]
        related = tuple(n for n in ordered if n == name or (n.startswith(key + ".") and ".dump." not in n))
        found.append((key, match, related))
    return found


def _taken_at(match, tz=None):
    moment = dt.datetime.strptime(match["stamp"], STAMP_FORMAT)
    return moment.astimezone(tz) if tz else moment


def _legacy_time(name, mtime, tz):
    match = LEGACY_STAMP.search(name)
    if match:
        parts = [int(p) if p else 0 for p in match.groups()]
        try:
            return dt.datetime(*parts, tzinfo=tz)
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(mtime, tz)


def _ordered(sets):
    return sorted(sets, key=lambda s: (s.taken_at, s.key))


def scan(backup_dir, legacy_dirs=(), tz=None):
    """Every backup set of the local folder (and legacy folders), oldest first.

    A set is good only when its manifest says so and the dump is present; a dump whose manifest
    is missing or unreadable is INCOMPLETE (never counted as good).
    """
    tz = tz or dt.timezone.utc
    names = os.listdir(backup_dir) if os.path.isdir(backup_dir) else []
    sets = []
    for key, match, related in _group(names):
        manifest = os.path.join(backup_dir, mf.file_name(key))
        status = FAILED if match["failed"] else mf.status_of(manifest, INCOMPLETE)
        size = os.path.getsize(os.path.join(backup_dir, match.string))
        sets.append(BackupSet(key, _taken_at(match), status, tuple(os.path.join(backup_dir, n) for n in related), size))
    for legacy_dir in legacy_dirs:
        if not os.path.isdir(legacy_dir):
            continue
        for name in sorted(os.listdir(legacy_dir)):
            path = os.path.join(legacy_dir, name)
            if LEGACY_NAME.search(name) and os.path.isfile(path):
                st = os.stat(path)
                sets.append(BackupSet(path, _legacy_time(name, st.st_mtime, tz), LEGACY, (path,), st.st_size))
    return _ordered(sets)


def from_listing(entries, tz=None):
    """Backup sets of an `rclone lsjson -R` listing (decrypted names), oldest first.

    Only complete sets count as good offsite: a dump whose manifest was not copied is incomplete
    and protects nothing; failed dumps are never copied and are ignored.
    """
    sizes = {e["Path"]: e.get("Size", 0) for e in entries if not e.get("IsDir")}
    sets = []
    for key, match, related in _group(sizes):
        if match["failed"]:
            continue
        status = GOOD if mf.file_name(key) in sizes else INCOMPLETE
        sets.append(BackupSet(key, _taken_at(match, tz), status, related, sizes[match.string]))
    return _ordered(sets)


def find(sets, wanted):
    """The set named by `wanted`: 'latest' (newest good, else newest restorable), a key, a file."""
    if wanted in (None, "", "latest"):
        good = [s for s in sets if s.status == GOOD] or [s for s in sets if s.restorable]
        return good[-1] if good else None
    for backup in sets:
        names = {backup.key, os.path.basename(backup.key), *backup.files, *(os.path.basename(f) for f in backup.files)}
        if wanted in names:
            return backup
    return None
