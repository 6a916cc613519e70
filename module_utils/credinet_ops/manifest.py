"""The manifest of a backup set: what the dump holds and how it was checked.

One writer (`Manifest.write`) and one reader (`Manifest.read`): every command, the offsite copy,
restores and drills go through this class, never through dict keys of their own. A file that is
not a manifest (truncated, `[]`, a hand edit) raises ManifestError, a clear error instead of an
AttributeError deep inside a command.
"""
import dataclasses
import json
import os

from . import job
from .gitref import is_commit_id

FORMAT = 1
SUFFIX = ".manifest.json"


class ManifestError(ValueError):
    """A manifest that cannot be read or does not have the expected shape."""


def file_name(key):
    return key + SUFFIX


@dataclasses.dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    status: str
    key: str
    db: str
    host: str
    env: str
    started_at: str
    finished_at: str
    duration_seconds: float
    dump_seconds: float
    server_version: str
    server_image: str
    compression: str
    dump: FileEntry
    globals: FileEntry
    tables: dict
    critical_tables: list
    verify_errors: list = dataclasses.field(default_factory=list)
    verify_method: str = ""
    size_warning: str = None
    # Where the set was taken (adoption: environments never mix backups unknowingly).
    app_dir: str = ""
    compose_project: str = ""
    # What a rebuild needs besides the data: the database owner and the app's release record
    # (deployed commit, ref) when the backup was taken. Non-secret; offsite it is encrypted
    # with the rest of the set.
    db_user: str = ""
    release: dict = None
    format: int = FORMAT

    @property
    def good(self):
        return self.status == "good"

    def row_counts(self):
        return {table: stats["rows"] for table, stats in self.tables.items()}

    def to_dict(self):
        return {
            "format": self.format, "status": self.status, "key": self.key, "db": self.db, "host": self.host,
            "env": self.env, "app_dir": self.app_dir, "compose_project": self.compose_project,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds, "dump_seconds": self.dump_seconds,
            "server_version": self.server_version, "server_image": self.server_image, "compression": self.compression,
            "files": {"dump": dataclasses.asdict(self.dump), "globals": dataclasses.asdict(self.globals)},
            "tables": self.tables, "critical_tables": self.critical_tables,
            "verify": {"errors": self.verify_errors, "method": self.verify_method},
            "size_warning": self.size_warning, "db_user": self.db_user, "release": self.release,
        }

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ManifestError("a manifest is a JSON object, found %s" % type(data).__name__)
        try:
            files, verify = data["files"], data.get("verify") or {}
            manifest = cls(
                status=str(data["status"]), key=str(data["key"]), db=str(data["db"]), host=str(data.get("host", "")),
                env=str(data.get("env", "")), started_at=str(data.get("started_at", "")),
                finished_at=str(data.get("finished_at", "")),
                duration_seconds=float(data.get("duration_seconds", 0)), dump_seconds=float(data.get("dump_seconds", 0)),
                server_version=str(data.get("server_version", "")), server_image=str(data["server_image"]),
                compression=str(data.get("compression", "")),
                dump=FileEntry(**files["dump"]), globals=FileEntry(**files["globals"]),
                tables=dict(data["tables"]), critical_tables=list(data.get("critical_tables", [])),
                verify_errors=list(verify.get("errors", [])), verify_method=str(verify.get("method", "")),
                size_warning=data.get("size_warning"), app_dir=str(data.get("app_dir", "")),
                compose_project=str(data.get("compose_project", "")), format=int(data.get("format", FORMAT)),
                db_user=str(data.get("db_user", "")), release=release_or_none(data.get("release")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError("malformed manifest (%s: %s)" % (type(exc).__name__, exc))
        for table, stats in manifest.tables.items():
            if not isinstance(stats, dict) or not isinstance(stats.get("rows"), int):
                raise ManifestError("malformed manifest: table %s has no row count" % table)
        return manifest

    @classmethod
    def read(cls, path):
        try:
            with open(path) as fh:
                data = json.load(fh)
        except OSError as exc:
            raise ManifestError("cannot read manifest %s: %s" % (os.path.basename(path), exc.strerror or exc))
        except ValueError as exc:
            raise ManifestError("manifest %s is not JSON: %s" % (os.path.basename(path), exc))
        return cls.from_dict(data)

    def write(self, path):
        """Temp file, fsync, rename: a reader sees the old manifest or the new one, never half."""
        job.write_atomic(path, self.to_json())


# What role app writes into its release record (deploy, adoption, manual rollback).
RELEASE_KEYS = ("sha", "previous", "ref", "deployed_at", "by", "backup", "adopted", "rollback", "images")
_RELEASE_TEXT_MAX = 256
_RELEASE_IMAGES_MAX = 64


def _release_text(value, what):
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, str) or len(value) > _RELEASE_TEXT_MAX:
        raise ManifestError("malformed release record: %s is not a short text" % what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError("malformed release record: %s is not valid text" % what)
    return value


def _commit(value, what):
    if value is not None and not is_commit_id(value):
        raise ManifestError("malformed release record: %s is not a full commit id" % what)
    return value


def release_record(data):
    """The release record as a manifest stores it: None, or the known keys of role app's record
    with short text values (commits as full ids, `images` a small {service: image id} map).
    Anything else raises ManifestError: a record written by hand or damaged never reaches a
    manifest as it is."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ManifestError("malformed release record: a JSON object is expected, found %s" % type(data).__name__)
    record = {}
    for key in RELEASE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key in ("sha", "previous"):
            record[key] = _commit(value, key)
        elif key == "images":
            if not isinstance(value, dict) or len(value) > _RELEASE_IMAGES_MAX:
                raise ManifestError("malformed release record: images is not a small map")
            record[key] = {_release_text(k, "an image's service"): _release_text(v, "an image id") for k, v in value.items()}
        else:
            record[key] = _release_text(value, key)
    return record


def release_or_none(data):
    """A manifest's release record when it reads, else None: the record only informs a rebuild,
    and a damaged one must never make its backup set unreadable (unrestorable)."""
    try:
        return release_record(data)
    except ManifestError:
        return None


def status_of(path, missing):
    """The status a manifest file records; `missing` when it is absent or unreadable."""
    try:
        return Manifest.read(path).status
    except ManifestError:
        return missing
