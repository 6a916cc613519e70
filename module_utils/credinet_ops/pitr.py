"""Point-in-time recovery with pgBackRest: the pure decisions of the credinet-pitr command.

What to recover to (an operator's local time, checked strictly), what `pgbackrest info` and
pg_stat_archiver say about the recovery window and archiving (as textfile metrics), and whether
two Docker volumes can trade their data directories by rename.
"""
import datetime as dt
import json
import math
import os
import re

TARGET_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
LATEST = "latest"
# pgBackRest writes a repository file under a temporary name, then renames it.
TEMP_SUFFIX = ".pgbackrest.tmp"
INFO_FILES = ("*.info", "*.info.copy")
# Volume names the command creates: <prefix>-<purpose>-<YYYYmmddTHHMMSS>.
VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
# A pgBackRest backup label (a full, or a diff/incremental of one) and a WAL segment name.
LABEL = re.compile(r"^[0-9]{8}-[0-9]{6}F(?:_[0-9]{8}-[0-9]{6}[DI])?$")
SEGMENT = re.compile(r"[0-9A-F]{24}")


class TargetError(ValueError):
    """A recovery target an operator typed that cannot be used (message meant for them)."""


def recovery_target(text, tz, now):
    """None for 'latest' (the end of the archived WAL), else the target as PostgreSQL's
    recovery_target_time in UTC ('YYYY-MM-DD HH:MM:SS+00').

    `text` is local time in `tz` (the operators' zone). A time that does not exist or happens
    twice there (a DST change) is refused rather than guessed, as is a time in the future:
    recovery would replay everything and report success for a moment that never came.
    """
    if text == LATEST:
        return None
    if not isinstance(text, str) or not TARGET_TEXT.fullmatch(text):
        raise TargetError("restore target %r: use 'YYYY-MM-DD HH:MM:SS' (local time) or 'latest'" % (text,))
    try:
        local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise TargetError("restore target %r is not a date and time: %s" % (text, exc))
    early, late = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if any(t.astimezone(dt.timezone.utc).astimezone(tz).replace(tzinfo=None) != local for t in (early, late)):
        raise TargetError("restore target %s does not exist in %s (clock change)" % (text, tz))
    if early.utcoffset() != late.utcoffset():
        raise TargetError("restore target %s happens twice in %s (clock change): give the time just before or after"
                          % (text, tz))
    aware = early
    if aware > now:
        raise TargetError("restore target %s is in the future (now %s)" % (text, now.strftime("%Y-%m-%d %H:%M:%S")))
    # isoformat pads the year to four digits (strftime's %Y does not on glibc: year 1 -> "1").
    return aware.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ") + "+00"


def target_epoch(target):
    """Epoch seconds of a recovery_target() result."""
    return dt.datetime.strptime(target, "%Y-%m-%d %H:%M:%S+00").replace(tzinfo=dt.timezone.utc).timestamp()


def window_error(target, summary, tz):
    """Why a repository (its backup_summary) cannot restore to `target` (recovery_target()'s
    result; None = latest), or None. A target before the oldest backup is refused: pgBackRest
    would warn and restore its newest backup, and the result would not be the moment asked for."""
    if summary["count"] == 0:
        return "the repository has no backups (%s)" % summary.get("message", "?")
    if target is None or target_epoch(target) >= summary["oldest"]:
        return None
    earliest = dt.datetime.fromtimestamp(summary["oldest"], tz).strftime("%Y-%m-%d %H:%M:%S")
    return "the restore target is before the oldest backup: the earliest moment this repository reaches is %s" % earliest


def latest_error(container, running, archiving, stopped_data, ready_segments, discard):
    """Why a restore to 'latest' would silently lose committed data, or None.

    'latest' is the end of the archived WAL. A database container not on the archiving image
    (running or not) has data the archive ends before. A stopped database whose volume still
    holds its cluster has at least the segment it was writing, never archived (and any `.ready`
    ones): starting it recovers everything, a restore would roll that back. `discard` is the
    operator's word that the live data is lost (a dead disk)."""
    if discard:
        return None
    if container and not archiving:
        return "the database container does not run the archiving image: the archive ends when archiving stopped"
    if not running and stopped_data:
        return ("the stopped database's volume still holds its data (the WAL segment it was writing and %d more "
                "never archived): start the database to recover everything, or, if that data is lost, restore "
                "with restore_discard_unarchived=true" % ready_segments)
    return None


def offsite_latest_error(seed_needed, discard):
    """Why 'latest' from the offsite copy would lose what the local repository has, or None:
    a local repository of the same cluster holds newer WAL than the last upload."""
    if seed_needed or discard:
        return None
    return ("the local repository holds this database's archive, newer than the offsite copy: restore with "
            "restore_from=local (or add restore_discard_unarchived=true to end at the offsite copy)")


def full_label(label):
    """The full backup a pgBackRest backup label depends on (itself for a full)."""
    return label.split("_", 1)[0]


def info_backup_labels(text):
    """Labels of the [backup:current] section of a backup.info file's text (empty: none)."""
    return {label for label in re.findall(r"^([^=\s]+)=", info_section(text, "backup:current"), re.M)
            if LABEL.match(label)}


def full_labels(labels):
    """The full backups' labels among backup labels, oldest first."""
    return sorted(label for label in labels if label.endswith("F"))


def archive_floors(text, made):
    """{db-id: oldest WAL start segment} of the backups a backup.info lists: what pgBackRest's
    archive retention keeps from, per archive id (`<pg version>-<db-id>` folder). For a backup
    this host made, the start it recorded then (`made`: {label: (db-id, start)}); the info file is
    writable by the database container. {} when any listed backup's start is unreadable: a floor
    that skipped one would be too high and expose its WAL."""
    floors = {}
    for line in info_section(text, "backup:current").splitlines():
        if not line.strip():
            continue
        label, _, value = line.partition("=")
        entry = (made.get(label) or _info_backup_start(value)) if LABEL.match(label) else None
        if entry is None:
            return {}
        db_id, start = entry
        floors[db_id] = min(floors.get(db_id, start), start)
    return floors


def _info_backup_start(value):
    """(db-id, backup-archive-start) of one backup.info entry's JSON, or None."""
    try:
        backup = json.loads(value)
    except ValueError:
        return None
    if not isinstance(backup, dict):
        return None
    start, db_id = backup.get("backup-archive-start"), backup.get("db-id")
    return (db_id, start) if _is_segment(start) and _is_db_id(db_id) else None


def _is_segment(name):
    return isinstance(name, str) and SEGMENT.fullmatch(name) is not None


def _is_db_id(value):
    return isinstance(value, int) and not isinstance(value, bool)


def new_backup(before, after, stanza, kind, nothing_recorded):
    """The one backup a `kind` backup run added (`pgbackrest info` JSON before and after it), as
    {label, db_id, start}; None when that is not clear, and nothing is recorded (the offsite prune
    counts only recorded backups: a doubt keeps more offsite). Clear: exactly one new label, newer
    than every label listed before; a full's on a full run (or on a diff run when no full was
    listed and nothing recorded yet: pgBackRest makes a full then); a diff of a full listed
    before, on a diff run. Both infos come from inside the database container: a lying one gets
    one backup recorded per run, and a full only on a full run (weekly)."""
    known = [b.get("label") for b in stanza_backups(before, stanza)]
    added = [b for b in stanza_backups(after, stanza) if b.get("label") not in known]
    if len(added) != 1:
        return None
    label = added[0].get("label")
    start = _field(added[0], "archive", "start")
    db_id = _field(added[0], "database", "id")
    if not (isinstance(label, str) and LABEL.match(label) and _is_segment(start) and _is_db_id(db_id)):
        return None
    if not all(isinstance(k, str) and k < label for k in known):
        return None
    fulls = set(full_labels(known))
    if label.endswith("F"):
        clear = kind == "full" or (nothing_recorded and not fulls)
    else:
        clear = kind == "diff" and label.endswith("D") and full_label(label) in fulls
    if not clear:
        return None
    entry = {"label": label, "db_id": db_id, "start": start}
    stop = _field(added[0], "timestamp", "stop")
    if isinstance(stop, int) and not isinstance(stop, bool):
        entry["stop"] = stop
    return entry


def _field(backup, section, key):
    """backup[section][key] of a `pgbackrest info` entry, None when any level is not there."""
    value = backup.get(section)
    return value.get(key) if isinstance(value, dict) else None


def remember_backup(record, entry, listed):
    """The record of backups this host made, with `entry` added and the backups no longer
    `listed` (labels the repository lists now: retention expired the others) left out."""
    entries = {e["label"]: e for e in record if isinstance(e, dict) and e.get("label") in listed}
    entries[entry["label"]] = entry
    return [entries[label] for label in sorted(entries)]


def made_backups(record):
    """{label: (db-id, start)} of a record of backups this host made (well-formed entries only)."""
    return {e["label"]: (e["db_id"], e["start"]) for e in record if isinstance(e, dict)
            and isinstance(e.get("label"), str) and LABEL.match(e["label"])
            and _is_db_id(e.get("db_id")) and _is_segment(e.get("start"))}


# A file of the WAL archive named after a segment: the segment itself (-<sha1>[.ext]), its
# .partial, a backup's .backup label file. Group 1: archive id's db-id; group 2: the segment.
WAL_FILE = re.compile(r"^archive/[^/]+/[^/]+-([0-9]+)/[0-9A-F]{16}/([0-9A-F]{24})[.-][^/]*$")


DAY = 86400


def label_epoch(label):
    """Epoch seconds of a backup label's time read as UTC (pgBackRest writes the container's
    local time: off by its zone's offset, under 14 hours)."""
    return dt.datetime.strptime(label[:15], "%Y%m%d-%H%M%S").replace(tzinfo=dt.timezone.utc).timestamp()


def made_stops(record, fallback=True):
    """{label: stop epoch} of a record of backups this host made. An entry recorded before stop
    times were kept counts, with `fallback`, as two days younger than its label says (retention
    must never look further along than it is); without, it is left out (the caller has a better
    source)."""
    stops = {}
    for e in record:
        if isinstance(e, dict) and isinstance(e.get("label"), str) and LABEL.match(e["label"]):
            stop = e.get("stop")
            if isinstance(stop, (int, float)) and not isinstance(stop, bool) and math.isfinite(stop):
                stops[e["label"]] = stop
            elif fallback:
                stops[e["label"]] = label_epoch(e["label"]) + 2 * DAY
    return stops


def retention_reached(fulls, stops, retention_days, now):
    """The oldest of `fulls` (labels of full backups kept here) when time-based retention has
    had reason to expire what precedes it, else None.

    pgBackRest (repo1-retention-full-type=time) keeps the newest full backup that is at least
    `retention_days` old and every newer one, and expires only what is older: the recovery window
    never shrinks below the promised days, however many extra fulls restores or operators take.
    So a backup older than the oldest kept full was expired, not lost, only when that full is
    itself `retention_days` old (`stops`: {label: stop epoch}; unknown: not old enough)."""
    ordered = full_labels(fulls)
    if not ordered:
        return None
    stop = stops.get(ordered[0])
    return ordered[0] if stop is not None and now - stop >= retention_days * DAY else None


def prune_deletions(missing_here, stanza, local_labels, before, floors):
    """Which remote files missing here a prune may delete: those pgBackRest's retention removed
    (folders of backups older than `before`, the oldest full kept here once retention had reason
    to expire - retention_reached() over the fulls this host recorded making: a rewritten
    backup.info alone cannot expire anything - and no longer listed here; WAL segments older
    than the oldest kept backup's start of the same archive id), never a file a kept backup may
    need (its folder, newer WAL, WAL of an archive id no kept backup uses, history and info
    files). Decided from the local repository alone (the 5-minute copies have already replaced
    the offsite backup.info). Returns (delete, keep), both sorted."""
    delete, keep = [], []
    for path in sorted(missing_here):
        (delete if _expired_file(path, stanza, local_labels, before, floors) else keep).append(path)
    return delete, keep


def _expired_file(path, stanza, local_labels, before, floors):
    """Whether retention removed `path`; nothing is expired while retention had no reason to
    expire (`before` None: fewer recorded fulls than it keeps), WAL included."""
    if not before:
        return False
    parts = path.split("/")
    if parts[:2] == ["backup", stanza] and len(parts) > 3:
        label = parts[2]
        return bool(LABEL.match(label) and label not in local_labels and full_label(label) < before)
    wal = WAL_FILE.match(path)
    if not (wal and parts[1] == stanza):
        return False
    floor = floors.get(int(wal.group(1)))
    return bool(floor and wal.group(2) < floor)


def offsite_history_errors(local, remote, before):
    """Why the local repository's backup.info must not replace the offsite one (labels of both),
    or []. Remote backups missing here are fine only when pgBackRest's retention removed them:
    older than `before`, the oldest full kept here once retention had reason to expire
    (retention_reached()). Anything else means the local repository lost backups (a wiped or
    rebuilt disk): its info files would hide them offsite and a prune would delete them."""
    missing = sorted(remote - local)
    if not missing:
        return []
    fulls = full_labels(local)
    if not fulls:
        return ["the local repository lists no full backup but the offsite copy lists %d backup(s)" % len(missing)]
    lost = [label for label in missing if full_label(label) >= fulls[0]]
    if lost:
        return ["backups the offsite copy keeps are gone here: %s" % ", ".join(lost)]
    if before is None:
        return ["the offsite copy keeps older backups (%s) that retention has no reason to remove: the oldest full "
                "backup here (%s) is younger than the recovery window" % (", ".join(missing), fulls[0])]
    return []


def info_backup_stops(text):
    """{label: backup-timestamp-stop} of a backup.info file's [backup:current] section."""
    stops = {}
    for line in info_section(text, "backup:current").splitlines():
        label, _, value = line.partition("=")
        if not LABEL.match(label):
            continue
        try:
            stop = json.loads(value).get("backup-timestamp-stop")
        except (ValueError, AttributeError):
            continue
        if isinstance(stop, int) and not isinstance(stop, bool):
            stops[label] = stop
    return stops


def stanza_info(info, stanza):
    """The entry of `stanza` in `pgbackrest info --output=json` (a list), or None."""
    if not isinstance(info, list):
        return None
    return next((s for s in info if isinstance(s, dict) and s.get("name") == stanza), None)


def stanza_backups(info, stanza):
    """The backups (dicts) `pgbackrest info --output=json` lists for a stanza."""
    backups = (stanza_info(info, stanza) or {}).get("backup")
    return [b for b in backups if isinstance(b, dict)] if isinstance(backups, list) else []


def backup_summary(info, stanza):
    """Recovery window and newest backups of a stanza: {full, diff, oldest, count, status}.

    Times are epoch seconds (0 = none). `oldest` is the stop time of the oldest backup: the
    earliest moment a restore can reach. A diff counts as a diff only (a full is newer base).
    """
    entry = stanza_info(info, stanza) or {}
    backups = stanza_backups(info, stanza)

    def stop(b):
        return int((b.get("timestamp") or {}).get("stop") or 0)

    newest = {kind: max((stop(b) for b in backups if b.get("type") == kind), default=0) for kind in ("full", "diff")}
    status = entry.get("status") or {}
    return {"full": newest["full"], "diff": newest["diff"],
            "oldest": min((stop(b) for b in backups), default=0), "count": len(backups),
            "status": int(status.get("code", 99)) if entry else 99, "message": status.get("message", "no stanza")}


def system_id(info, stanza):
    """The database system id the newest history entry of a stanza records (None: no stanza)."""
    dbs = [d for d in (stanza_info(info, stanza) or {}).get("db") or [] if isinstance(d, dict)]
    return dbs[-1].get("system-id") if dbs else None


def seed_needed(local_info, offsite_info, stanza):
    """Whether a restore from the offsite copy must first make it the local repository: when
    the local one has no backups (a rebuilt host) or belongs to another cluster (a rebuilt host
    whose new database was already archiving). The restored database archives on into the local
    repository, which must know its history."""
    if backup_summary(local_info, stanza)["count"] == 0:
        return True
    return system_id(local_info, stanza) != system_id(offsite_info, stanza)


def archive_state(last_archived, last_failed, pending, since, now):
    """Archiving health from pg_stat_archiver (epoch seconds, 0 = never) and the number of WAL
    segments waiting (.ready): {failing, stalled_seconds}.

    Failing: the newest attempt failed. Stalled: failing with WAL waiting, counted from the last
    success (or from `since`, the server's start, when nothing was ever archived) - a quiet
    database with nothing to archive is never stalled, however old its last success.
    """
    failing = bool(last_failed) and last_failed >= (last_archived or 0)
    if not failing or pending <= 0:
        return {"failing": int(failing), "stalled_seconds": 0}
    start = last_archived or since or now
    return {"failing": 1, "stalled_seconds": max(0, int(now - start))}


def swap_errors(live, fresh, previous):
    """Why the data directories of three local Docker volumes (their Mountpoints) cannot trade
    places by rename: [] when they can. A rename is atomic and instant only inside one
    directory of one filesystem; anything else would be a copy, which a failure can leave half done.
    """
    paths = {"live": live, "fresh": fresh, "previous": previous}
    errors = ["%s volume has no local mountpoint" % k for k, v in paths.items() if not v]
    if errors:
        return errors
    for name, path in paths.items():
        if os.path.basename(path.rstrip("/")) != "_data":
            errors.append("%s volume mountpoint %s is not a local volume's _data directory" % (name, path))
    volume_roots = {os.path.dirname(os.path.dirname(p.rstrip("/"))) for p in paths.values()}
    if len(volume_roots) != 1:
        errors.append("the volumes are not in one Docker volumes directory: %s" % ", ".join(sorted(volume_roots)))
    if len(set(paths.values())) != 3:
        errors.append("the live, fresh and previous volumes must be three different volumes")
    return errors


def volume_name(prefix, purpose, when):
    """<prefix>-<purpose>-<YYYYmmddTHHMMSS>, a valid Docker volume name."""
    name = "%s-%s-%s" % (prefix, purpose, when.strftime("%Y%m%dT%H%M%S"))
    if not VOLUME_NAME.match(name) or len(name) > 200:
        raise ValueError("not a usable volume name: %r" % name)
    return name


def info_system_id(text):
    """db-system-id of a pgBackRest backup.info / archive.info file's [db] section (None: absent)."""
    value = re.search(r"^db-system-id=([0-9]+)\s*$", info_section(text, "db"), re.M)
    return int(value.group(1)) if value else None


def info_section(text, name):
    """The body of section [name] of a pgBackRest info file's text ('' when absent)."""
    found = re.search(r"^\[%s\]\s*$(.*?)(?=^\[|\Z)" % re.escape(name), text or "", re.M | re.S)
    return found.group(1) if found else ""


def metrics(summary, archiver, offsite_success, drill_success, db_running, now, active=True):
    """Textfile metrics {name: (help, value)} of one `credinet-pitr metrics` run.

    `offsite_success` None: no offsite copy configured (no metric, no alert); 0: never copied.
    A drill that never ran has no metric yet (the first is up to a week away). A database that
    does not archive (yet) reports only that: its repository says nothing about now.
    """
    values = {
        "credinet_pitr_metrics_timestamp_seconds": ("When these PITR metrics were written.", int(now)),
        "credinet_pitr_db_running": ("1 when the database container runs.", int(bool(db_running))),
        "credinet_pitr_archiving_active": ("1 when the database runs the archiving image.", int(bool(active))),
    }
    if not active:
        return values
    values.update({
        "credinet_pitr_stanza_status": ("pgbackrest info status code of the stanza (0 = ok).", summary["status"]),
        "credinet_pitr_backups": ("Backups in the local pgBackRest repository.", summary["count"]),
        "credinet_pitr_last_full_success_timestamp_seconds": ("Stop time of the newest full backup.", summary["full"]),
        "credinet_pitr_last_diff_success_timestamp_seconds": ("Stop time of the newest differential backup.",
                                                              summary["diff"]),
        "credinet_pitr_recovery_window_start_timestamp_seconds": ("Earliest moment a restore can reach.",
                                                                  summary["oldest"]),
    })
    if summary.get("promised"):
        values.update({
            "credinet_pitr_recovery_window_promised_seconds": ("The recovery window retention keeps (seconds).",
                                                               summary["promised"]),
            "credinet_pitr_history_start_timestamp_seconds": ("The oldest moment this repository was ever seen to "
                                                              "reach.", summary.get("history_start", 0)),
            "credinet_pitr_drill_due_timestamp_seconds": ("When a good point-in-time drill is due.",
                                                          summary.get("drill_due", 0)),
        })
    if summary.get("gap") is not None:
        values["credinet_pitr_archive_gap"] = ("1 when the newest point cannot be restored (a WAL segment or a "
                                               "usable backup is missing), -1 when that could not be checked.",
                                               int(summary["gap"]))
    if archiver:
        values.update({
            "credinet_pitr_last_archived_timestamp_seconds": ("When the newest WAL segment was archived.",
                                                              archiver.get("last_archived", 0)),
            "credinet_pitr_archive_pending_segments": ("WAL segments waiting to be archived.", archiver.get("pending", 0)),
            "credinet_pitr_archive_failing": ("1 when the newest archive attempt failed.", archiver.get("failing", 0)),
            "credinet_pitr_archive_stalled_seconds": ("Seconds archiving has been failing with WAL waiting.",
                                                      archiver.get("stalled_seconds", 0)),
        })
    if offsite_success is not None:
        values["credinet_pitr_offsite_last_success_timestamp_seconds"] = ("Last copy of the repository offsite.",
                                                                          int(offsite_success))
    if drill_success:
        values["credinet_pitr_drill_last_success_timestamp_seconds"] = ("Last successful point-in-time drill.",
                                                                        int(drill_success))
    return values


# --- timelines and the WAL archive ----------------------------------------------------------------
# A restore starts a new timeline; the WAL of every timeline stays in the archive. Which
# timeline a restore follows, which backup it starts from and whether recovery reached the end
# of the archive are decided here from the archive's own files (history files, segment names)
# and the record of when each timeline went live (a restore's swap).

DEFAULT_SEGMENT_BYTES = 16 << 20
# A full segment in the repository: <segment>-<sha1>[.<compression>] (not .partial, .backup).
ARCHIVED_SEGMENT = re.compile(r"^([0-9A-F]{24})-[0-9a-f]{40}(?:\.[a-z0-9]+)?$")
HISTORY_FILE = re.compile(r"^([0-9A-F]{8})\.history$")
HISTORY_LINE = re.compile(r"^\s*([0-9]+)\s+([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})(?:\s+(.*))?$")
STOP_REASON_TIME = re.compile(r"^(?:before|after) ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]+)?"
                              r"([+-][0-9]{2})(?::?([0-9]{2}))?\s*$")
TIMELINES_RECORD = "credinet-timelines.json"


class PlanError(ValueError):
    """A restore that cannot be planned from the repository (message meant for the operator)."""


def parse_lsn(text):
    """'16/B374D848' as an integer WAL position."""
    high, _, low = str(text).partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn):
    return "%X/%X" % (lsn >> 32, lsn & 0xFFFFFFFF)


def segment_number(lsn, seg_bytes=DEFAULT_SEGMENT_BYTES):
    return lsn // seg_bytes


def segment_name(tli, segno, seg_bytes=DEFAULT_SEGMENT_BYTES):
    per_log = 0x100000000 // seg_bytes
    return "%08X%08X%08X" % (tli, segno // per_log, segno % per_log)


def parse_segment(name, seg_bytes=DEFAULT_SEGMENT_BYTES):
    """(timeline, segment number) of a 24-character WAL segment name."""
    per_log = 0x100000000 // seg_bytes
    return int(name[:8], 16), int(name[8:16], 16) * per_log + int(name[16:24], 16)


def parse_history(text):
    """The lines of a timeline history file: [(parent timeline, switch point lsn, reason)], oldest first."""
    entries = []
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = HISTORY_LINE.match(line)
        if not found:  # its text is not repeated: the file lies in a folder a container can write
            raise PlanError("unreadable timeline history (line %d)" % (len(entries) + 1))
        lsn = (int(found.group(2), 16) << 32) | int(found.group(3), 16)
        entries.append((int(found.group(1)), lsn, (found.group(4) or "").strip()))
    return entries


def reason_epoch(reason):
    """Epoch seconds (with their fraction) of a history line's 'before|after <timestamp>' reason
    (a time-target restore's first transaction not replayed), None for any other reason."""
    found = STOP_REASON_TIME.match(reason or "")
    if not found:
        return None
    hours, minutes = found.group(3), int(found.group(4) or 0)
    offset = int(hours) * 3600 + (minutes if hours[0] == "+" else -minutes) * 60
    stamp = dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp() + float(found.group(2) or 0) - offset


def archive_contents(names):
    """({timeline: set of archived segment numbers' names}, {timeline: history text or None})
    from the file names of one archive id folder (`<tli+log>/<segment>-<sha1>.zst`, `<tli>.history`).
    Segment names are kept as names: their numbering depends on the segment size."""
    segments, histories = {}, {}
    for name in names:
        base = os.path.basename(name)
        seg = ARCHIVED_SEGMENT.match(base)
        if seg:
            segments.setdefault(int(seg.group(1)[:8], 16), set()).add(seg.group(1))
            continue
        hist = HISTORY_FILE.match(base)
        if hist:
            histories[int(hist.group(1), 16)] = name
    return segments, histories


def timeline_begins(tli, history):
    """Where each timeline on `tli`'s history starts: [(start lsn, timeline)], oldest first."""
    begins, start = [], 0
    for parent, switch, _reason in history:
        begins.append((start, parent))
        start = switch
    begins.append((start, tli))
    return begins


def timeline_of(segno, begins, seg_bytes=DEFAULT_SEGMENT_BYTES):
    """The timeline whose file recovery reads for segment `segno` along `begins`: the newest one
    that has begun by then (the segment holding a switch point is read from the new timeline)."""
    chosen = begins[0][1]
    for start, tli in begins:
        if segment_number(start, seg_bytes) <= segno:
            chosen = tli
    return chosen


def on_history(backup, begins, seg_bytes=DEFAULT_SEGMENT_BYTES):
    """Whether recovery along `begins` can start from `backup` (a `pgbackrest info` entry): it
    was taken on one of those timelines, before that timeline left the history."""
    start = _field(backup, "archive", "start")
    stop_lsn = _field(backup, "lsn", "stop")
    if not _is_segment(start):
        return False
    tli = int(start[:8], 16)
    ends = {t: (begins[i + 1][0] if i + 1 < len(begins) else None) for i, (_s, t) in enumerate(begins)}
    if tli not in ends:
        return False
    end = ends[tli]
    if end is None:
        return True
    if isinstance(stop_lsn, str) and "/" in stop_lsn:
        return parse_lsn(stop_lsn) <= end
    stop = _field(backup, "archive", "stop")
    return _is_segment(stop) and parse_segment(stop, seg_bytes)[1] < segment_number(end, seg_bytes)


def choose_backup(backups, begins, target_epoch, seg_bytes=DEFAULT_SEGMENT_BYTES):
    """The newest backup recovery along `begins` can start from and that ended by the target
    (epoch seconds; None = the end of the archive), or None."""
    usable = [b for b in backups if on_history(b, begins, seg_bytes)
              and (target_epoch is None or int((b.get("timestamp") or {}).get("stop") or 0) <= target_epoch)]
    return max(usable, key=lambda b: int((b.get("timestamp") or {}).get("stop") or 0), default=None)


def timeline_at(target_epoch, timelines, lower_bounds, live_from, root, now=None):
    """The timeline that was live at `target_epoch`: the newest one that had gone live by then.

    `timelines`: {timeline: parsed history} of those the archive has a history file for;
    `live_from`: {timeline: epoch} of those a restore of this host recorded (the moment its data
    was swapped in); `lower_bounds`: {timeline: epoch} before which a timeline cannot have been
    live (its history's stop reason: the parent still committed then); `root`: the timeline the
    history starts from. A timeline with no record that may have been live then is not guessed
    at, and a record that contradicts the history (earlier than its own fork, later than a fork
    from it, in the future: a clock step, a rewritten file) refuses rather than picks."""
    children = {}
    for child, history in (timelines or {}).items():
        if history and child in lower_bounds:
            children.setdefault(history[-1][0], []).append(lower_bounds[child])
    for tli in sorted(set(timelines) - {root}, reverse=True):
        bound = lower_bounds.get(tli)
        if tli in live_from:
            went = live_from[tli]
            if (bound is not None and went < bound) or any(went > b for b in children.get(tli, ())) \
                    or (now is not None and went > now):
                raise PlanError("the record of timeline %d (live from %s) contradicts the archive's history: give "
                                "the timeline with restore_target_timeline" % (tli, _utc_text(went)))
            if went <= target_epoch:
                return tli
            continue
        if bound is not None and target_epoch < bound:
            continue
        raise PlanError("timeline %d of the archive has no record of when its restore went live and may be the one "
                        "live at the target: give it with restore_target_timeline (%s)"
                        % (tli, ", ".join(str(t) for t in sorted(set(timelines) | {root}))))
    return root


def _utc_text(epoch):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def wal_gap(begins, start_lsn, segments, newest, seg_bytes=DEFAULT_SEGMENT_BYTES):
    """The first segment missing from the archive on the way from `start_lsn` (a backup's start)
    to `newest` (segment name, the newest archived of the target timeline), or None."""
    first = segment_number(start_lsn, seg_bytes)
    last = parse_segment(newest, seg_bytes)[1]
    for segno in range(first, last + 1):
        name = segment_name(timeline_of(segno, begins, seg_bytes), segno, seg_bytes)
        if name not in segments.get(int(name[:8], 16), ()):
            return name
    return None


def newest_segment(segments, tli):
    """The newest archived segment's name of a timeline, None when it has none."""
    return max(segments.get(tli, ()), default=None)


def recovery_end_error(history, expected_parent, target_epoch, newest, seg_bytes=DEFAULT_SEGMENT_BYTES, begins=None,
                       min_end=None):
    """Why the recovery a side server finished did not end where it should, or None.

    `history`: the new timeline's history (its last line: the timeline recovery ended on and
    where). A restore must end on the planned timeline (`expected_parent`), past where that
    timeline began (`begins`: timeline_begins() of it). A restore to a time must stop before a
    transaction committed after the target. A restore to the end of the archive (`target_epoch`
    None) must end inside or after `newest`, the newest archived segment of that timeline (at a
    hole or a damaged segment recovery promotes and calls it complete), and not before `min_end`
    (the live database's position when the app stopped)."""
    if not history:
        return "the restored database started no new timeline (no history file): recovery did not end normally"
    parent, switch, reason = history[-1]
    where = "%s (segment %s of timeline %d)" % (format_lsn(switch), segment_name(parent, segment_number(switch, seg_bytes),
                                                                               seg_bytes), parent)
    if parent != expected_parent:
        return ("recovery ended on timeline %d at %s, not on timeline %d that the target needs"
                % (parent, where, expected_parent))
    if begins and switch < begins[-1][0]:
        return ("recovery ended at %s, before timeline %d began (%s)" % (where, parent, format_lsn(begins[-1][0])))
    if target_epoch is not None:
        stopped = reason_epoch(reason)
        if stopped is None or stopped <= target_epoch:
            return ("recovery stopped at %s (%s), not before a transaction committed after the target"
                    % (where, reason[:80] or "no reason given"))
        return None
    if newest and switch <= parse_segment(newest, seg_bytes)[1] * seg_bytes:
        return ("recovery ended at %s but the archive holds timeline %d up to segment %s: a gap in the WAL archive "
                "(segments never archived) or a damaged segment" % (where, parent, newest))
    if min_end is not None and switch < min_end:
        return ("recovery ended at %s, before %s where the database was when the app stopped"
                % (where, format_lsn(min_end)))
    return None


def timeline_entries(text):
    """The well-formed entries of a record of restored timelines: a positive integer timeline and
    a finite live-from time (anything else, e.g. from a rewritten file, is left out)."""
    try:
        entries = json.loads(text or "{}").get("timelines") or []
    except (ValueError, AttributeError):
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and _is_db_id(e.get("timeline")) and e["timeline"] > 0
            and isinstance(e.get("live_from"), (int, float)) and not isinstance(e.get("live_from"), bool)
            and math.isfinite(e["live_from"])]


def timeline_records(text, system_id=None):
    """{timeline: live-from epoch} of a record of restored timelines (empty when unreadable); with
    `system_id`, only entries of that database cluster (or that name none)."""
    return {e["timeline"]: e["live_from"] for e in timeline_entries(text)
            if system_id is None or e.get("system_id") in (None, system_id)}
