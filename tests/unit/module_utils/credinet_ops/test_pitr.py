"""credinet_ops.pitr: recovery targets, pgbackrest info and pg_stat_archiver as metrics, swaps."""
import datetime as dt
import zoneinfo

import pytest

from credinet_ops import pitr

MX = zoneinfo.ZoneInfo("America/Mexico_City")
NY = zoneinfo.ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 12, 4, 12, 0, 0, tzinfo=MX)


@pytest.mark.parametrize(("text", "expected"), [
    ("latest", None),
    # Mexico City is UTC-6 all year since 2022.
    ("2026-12-04 10:42:00", "2026-12-04 16:42:00+00"),
    ("2026-07-01 23:59:59", "2026-07-02 05:59:59+00"),
    ("2026-12-04 12:00:00", "2026-12-04 18:00:00+00"),  # now itself is allowed
])
def test_recovery_target_is_utc_for_postgres(text, expected):
    assert pitr.recovery_target(text, MX, NOW) == expected


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "YYYY-MM-DD HH:MM:SS"),
    ("2026-12-04", "YYYY-MM-DD HH:MM:SS"),
    ("2026-12-04T10:42:00", "YYYY-MM-DD HH:MM:SS"),
    ("2026-12-04 10:42:00-06", "YYYY-MM-DD HH:MM:SS"),
    ("2026-12-04 10:42:00'; DROP TABLE payments; --", "YYYY-MM-DD HH:MM:SS"),
    ("2026-12-04 10:42:00\n", "YYYY-MM-DD HH:MM:SS"),
    ("LATEST", "YYYY-MM-DD HH:MM:SS"),
    (None, "YYYY-MM-DD HH:MM:SS"),
    ("2026-02-30 10:00:00", "not a date"),
    ("2026-13-01 10:00:00", "not a date"),
    ("2026-12-04 24:00:00", "not a date"),
    ("2026-12-04 12:00:01", "in the future"),
    ("2999-01-01 00:00:00", "in the future"),
])
def test_recovery_target_refuses_what_cannot_be_meant(text, fragment):
    with pytest.raises(pitr.TargetError, match=fragment):
        pitr.recovery_target(text, MX, NOW)


def test_a_time_a_clock_change_skips_or_repeats_is_refused():
    now = dt.datetime(2026, 12, 1, tzinfo=NY)
    with pytest.raises(pitr.TargetError, match="does not exist"):
        pitr.recovery_target("2026-03-08 02:30:00", NY, now)
    with pytest.raises(pitr.TargetError, match="happens twice"):
        pitr.recovery_target("2026-11-01 01:30:00", NY, now)
    assert pitr.recovery_target("2026-11-01 00:59:59", NY, now) == "2026-11-01 04:59:59+00"


INFO = [{
    "name": "credinet",
    "status": {"code": 0, "message": "ok"},
    "backup": [
        {"label": "20261122-031500F", "type": "full", "timestamp": {"start": 100, "stop": 200}},
        {"label": "20261122-031500F_20261123-031500D", "type": "diff", "timestamp": {"start": 300, "stop": 400}},
        {"label": "20261129-031500F", "type": "full", "timestamp": {"start": 500, "stop": 600}},
        {"label": "20261129-031500F_20261130-031500I", "type": "incr", "timestamp": {"start": 700, "stop": 800}},
    ],
}]


def test_backup_summary_reads_the_recovery_window():
    summary = pitr.backup_summary(INFO, "credinet")
    assert summary == {"full": 600, "diff": 400, "oldest": 200, "count": 4, "status": 0, "message": "ok"}


@pytest.mark.parametrize("info", [[], None, {"name": "credinet"}, [{"name": "other", "status": {"code": 0}}], ["x"]])
def test_backup_summary_of_no_stanza_is_unhealthy(info):
    summary = pitr.backup_summary(info, "credinet")
    assert (summary["count"], summary["status"], summary["full"], summary["oldest"]) == (0, 99, 0, 0)


def test_backup_summary_of_a_missing_stanza_path():
    info = [{"name": "credinet", "status": {"code": 1, "message": "missing stanza path"}, "backup": []}]
    assert pitr.backup_summary(info, "credinet")["status"] == 1


@pytest.mark.parametrize(("args", "expected"), [
    # archived 10 s ago, nothing failed
    ((990, 0, 0, 500, 1000), {"failing": 0, "stalled_seconds": 0}),
    # an old failure, then successes
    ((990, 900, 0, 500, 1000), {"failing": 0, "stalled_seconds": 0}),
    # failing, WAL waiting: stalled since the last success
    ((400, 990, 3, 100, 1000), {"failing": 1, "stalled_seconds": 600}),
    # failing but nothing waiting (the failed segment went through another way): not stalled
    ((400, 990, 0, 100, 1000), {"failing": 1, "stalled_seconds": 0}),
    # never archived, failing since the server started
    ((0, 990, 2, 100, 1000), {"failing": 1, "stalled_seconds": 900}),
    # a quiet database: its last success is old, nothing failed, nothing waits
    ((10, 0, 0, 5, 100000), {"failing": 0, "stalled_seconds": 0}),
    # clock jumped back: never negative
    ((2000, 2001, 1, 100, 1000), {"failing": 1, "stalled_seconds": 0}),
])
def test_archive_state(args, expected):
    assert pitr.archive_state(*args) == expected


ROOT = "/var/lib/docker/volumes"


def test_swap_of_three_local_volumes_is_allowed():
    assert pitr.swap_errors(ROOT + "/a/_data", ROOT + "/b/_data", ROOT + "/c/_data") == []


@pytest.mark.parametrize(("paths", "fragment"), [
    (("", ROOT + "/b/_data", ROOT + "/c/_data"), "live volume has no local mountpoint"),
    ((ROOT + "/a/_data", "/mnt/nfs/b", ROOT + "/c/_data"), "not a local volume's _data"),
    ((ROOT + "/a/_data", "/other/volumes/b/_data", ROOT + "/c/_data"), "not in one Docker volumes directory"),
    ((ROOT + "/a/_data", ROOT + "/a/_data", ROOT + "/c/_data"), "three different volumes"),
])
def test_swap_refused(paths, fragment):
    assert any(fragment in e for e in pitr.swap_errors(*paths))


def test_volume_names():
    when = dt.datetime(2026, 12, 4, 10, 42, 5)
    assert pitr.volume_name("credinet", "before-pitr", when) == "credinet-before-pitr-20261204T104205"
    with pytest.raises(ValueError):
        pitr.volume_name("-bad", "pitr", when)
    with pytest.raises(ValueError):
        pitr.volume_name("a b", "pitr", when)


def test_metrics_leave_out_what_is_not_there():
    summary = pitr.backup_summary(INFO, "credinet")
    values = pitr.metrics(summary, {}, None, None, False, 1000)
    assert "credinet_pitr_archive_failing" not in values
    assert "credinet_pitr_offsite_last_success_timestamp_seconds" not in values
    assert "credinet_pitr_drill_last_success_timestamp_seconds" not in values
    assert values["credinet_pitr_db_running"][1] == 0
    arch = dict(pitr.archive_state(400, 990, 3, 100, 1000), last_archived=400, pending=3)
    values = pitr.metrics(summary, arch, 0, 900, True, 1000)
    assert values["credinet_pitr_offsite_last_success_timestamp_seconds"][1] == 0
    assert values["credinet_pitr_drill_last_success_timestamp_seconds"][1] == 900
    assert values["credinet_pitr_archive_stalled_seconds"][1] == 600
    assert values["credinet_pitr_recovery_window_start_timestamp_seconds"][1] == 200


def _stanza(system, backups=1):
    return [{"name": "credinet", "status": {"code": 0, "message": "ok"},
             "db": [{"id": 1, "system-id": 111}, {"id": 2, "system-id": system}],
             "backup": [{"type": "full", "timestamp": {"stop": 1}}] * backups}]


@pytest.mark.parametrize(("local", "offsite", "needed"), [
    (_stanza(7), _stanza(7), False),      # same cluster: the local repository may hold newer WAL
    (_stanza(7), _stanza(8), True),       # a rebuilt host's new cluster archived there
    (_stanza(7, backups=0), _stanza(7), True),
    ([], _stanza(7), True),               # no stanza at all (a new disk)
])
def test_seed_from_the_offsite_copy_only_when_the_local_repository_cannot_serve(local, offsite, needed):
    assert pitr.seed_needed(local, offsite, "credinet") is needed


def test_system_id_of_the_newest_history_entry():
    assert pitr.system_id(_stanza(9), "credinet") == 9
    assert pitr.system_id([{"name": "credinet", "db": []}], "credinet") is None
    assert pitr.system_id([{"name": "credinet", "db": ["x"]}], "credinet") is None
    assert pitr.system_id(None, "credinet") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("[backrest]\nbackrest-format=5\n\n[db]\ndb-id=1\ndb-system-id=7445566778899\ndb-version=\"17\"\n", 7445566778899),
    # the history section repeats ids in JSON: only [db] counts
    ("[db]\ndb-id=2\n\n[db:history]\n1={\"db-system-id\":111}\n", None),
    ("[db:history]\ndb-system-id=5\n[db]\ndb-system-id=6\n", 6),
    ("", None),
    (None, None),
    ("[db]\ndb-system-id=12a\n", None),
])
def test_info_system_id(text, expected):
    assert pitr.info_system_id(text) == expected


def test_inactive_archiving_reports_only_that():
    values = pitr.metrics(pitr.backup_summary(None, "credinet"), {}, 0, 0, True, 1000, active=False)
    assert set(values) == {"credinet_pitr_metrics_timestamp_seconds", "credinet_pitr_db_running",
                           "credinet_pitr_archiving_active"}
    assert values["credinet_pitr_archiving_active"][1] == 0


MEXICO = zoneinfo.ZoneInfo("America/Mexico_City")


def test_recovery_target_pads_an_early_year():
    now = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)
    assert pitr.recovery_target("0001-01-01 00:00:00", MEXICO, now).startswith("0001-01-01 06:36:36")


def window(count=2, oldest=1_764_000_000):
    return {"count": count, "oldest": oldest, "message": "ok"}


@pytest.mark.parametrize("target, info, fragment", [
    (None, window(), None),
    (None, window(count=0), "no backups"),
    ("2025-11-24 16:00:00+00", window(oldest=1_764_000_000), None),  # exactly the oldest stop
    ("2025-11-24 15:59:59+00", window(oldest=1_764_000_000), "earliest moment this repository reaches is 2025-11-24 10:00:00"),
    ("0001-01-01 06:36:36+00", window(), "before the oldest backup"),
    ("2026-12-05 10:00:00+00", window(count=0), "no backups"),
])
def test_window_error(target, info, fragment):
    error = pitr.window_error(target, info, MEXICO)
    assert (error is None) if fragment is None else (fragment in error)


@pytest.mark.parametrize("container, running, archiving, data, ready, discard, fragment", [
    (True, True, True, False, 0, False, None),          # the restore archives the last segment itself
    (True, True, False, False, 0, False, "does not run the archiving image"),
    (True, False, False, True, 0, False, "does not run the archiving image"),  # stopped, never archived
    (True, True, False, False, 0, True, None),
    (True, False, True, True, 0, False, "start the database to recover everything"),  # the segment being written
    (True, False, True, True, 3, False, "and 3 more never archived"),
    (True, False, True, False, 0, False, None),          # its volume is gone (a dead disk)
    (False, False, False, False, 0, False, None),        # a rebuilt host without the stack
    (True, False, True, True, 3, True, None),            # the operator says the live data is lost
])
def test_latest_error(container, running, archiving, data, ready, discard, fragment):
    error = pitr.latest_error(container, running, archiving, data, ready, discard)
    assert (error is None) if fragment is None else (fragment in error)


@pytest.mark.parametrize("seed, discard, refused", [(True, False, False), (False, False, True), (False, True, False)])
def test_offsite_latest_error(seed, discard, refused):
    error = pitr.offsite_latest_error(seed, discard)
    assert bool(error) == refused and (not error or "restore_from=local" in error)


BACKUP_INFO = """[backrest]
backrest-format=5

[backup:current]
20261122-013001F={"backup-type":"full"}
20261122-013001F_20261123-013001D={"backup-type":"diff"}
20261129-013001F={"backup-type":"full"}

[db]
db-id=1
db-system-id=7391
"""


@pytest.mark.parametrize("text, expected", [
    (BACKUP_INFO, {"20261122-013001F", "20261122-013001F_20261123-013001D", "20261129-013001F"}),
    ("[backrest]\nbackrest-format=5\n\n[db]\ndb-id=1\n", set()),
    ("[backup:current]\n", set()),
    ("", set()),
    (None, set()),
    ("[backup:current]\nnot-a-label={}\n20261129-013001F={}\n", {"20261129-013001F"}),
])
def test_info_backup_labels(text, expected):
    assert pitr.info_backup_labels(text) == expected


F1, D1, F2, F3 = "20261115-013001F", "20261115-013001F_20261116-013001D", "20261122-013001F", "20261129-013001F"
F4 = "20261206-013001F"


@pytest.mark.parametrize("local, remote, fragment", [
    ({F2, F3}, {F2, F3}, None),                        # in step
    ({F2, F3, F4}, {F2, F3}, None),                    # new backups here: copied
    ({F2, F3}, set(), None),                           # first copy
    ({F2, F3}, {F1, D1, F2, F3}, None),                # retention (14 days, F2 is older) expired F1 and its diff
    ({F4}, {F1, D1, F2, F3}, "no reason to remove"),   # a wiped repository, a new full since
    ({F2}, {F2, F3}, "gone here: " + F3),              # a newer backup lost here
    ({F2, F3}, {F2, F2 + "_20261123-013001D", F3}, "gone here"),  # a diff of a kept full lost
    (set(), {F2}, "no full backup"),
])
def test_offsite_history_errors(local, remote, fragment):
    errors = pitr.offsite_history_errors(local, remote, reached(local, made=local))
    assert (errors == []) if fragment is None else any(fragment in e for e in errors)


INFO_ENTRIES = ('[backup:current]\n'
                '20261122-031501F={"backup-archive-start":"000000010000000000000010","db-id":1}\n'
                '20261122-031501F_20261123-031501D={"backup-archive-start":"00000001000000000000000C","db-id":1}\n'
                '20261129-031501F={"backup-archive-start":"000000020000000000000030","db-id":2}\n'
                '\n[db]\ndb-id=2\n')


@pytest.mark.parametrize("extra, made, expected", [
    ("", {}, {1: "00000001000000000000000C", 2: "000000020000000000000030"}),
    # A start the container rewrote is replaced by the one recorded when the backup was made.
    ("", {"20261122-031501F_20261123-031501D": (1, "00000001000000000000000E")},
     {1: "00000001000000000000000E", 2: "000000020000000000000030"}),
    # Any unreadable entry: no floor at all (skipping it would raise the floor over its WAL).
    ('20261130-031501F={"backup-archive-start":"not-a-segment","db-id":2}\n', {}, {}),
    ('20261130-031501F={"backup-archive-start":"000000020000000000000031","db-id":true}\n', {}, {}),
    ("20261201-031501F={broken json\n", {}, {}),
    ("20261201-031501F=[1]\n", {}, {}),
    ("not-a-label=1\n", {}, {}),
    # ... unless this host recorded it.
    ("20261201-031501F={broken json\n", {"20261201-031501F": (2, "000000020000000000000040")},
     {1: "00000001000000000000000C", 2: "000000020000000000000030"}),
])
def test_archive_floors(extra, made, expected):
    text = INFO_ENTRIES.replace("\n\n[db]", "\n" + extra + "\n[db]")
    assert pitr.archive_floors(text, made) == expected


@pytest.mark.parametrize("text", [None, "", "[backup:current]\n", "[db]\ndb-id=1\n"])
def test_archive_floors_of_no_backups(text):
    assert pitr.archive_floors(text, {}) == {}


def info_json(*backups):
    return [{"name": "credinet", "backup": [dict(b) for b in backups]}]


def made(label, kind="full", start="000000010000000000000010", db_id=1):
    return {"label": label, "type": kind, "archive": {"start": start, "stop": start}, "database": {"id": db_id}}


OLD_FULL = made("20261122-031501F")
FULL_ENTRY = {"label": "20261129-031501F", "db_id": 1, "start": "000000010000000000000010"}
DIFF = "20261122-031501F_20261123-031501D"


@pytest.mark.parametrize("before, after, kind, expected", [
    ([OLD_FULL], [OLD_FULL, made("20261129-031501F")], "full", FULL_ENTRY),
    ([OLD_FULL], [OLD_FULL, made(DIFF, "diff")], "diff", dict(FULL_ENTRY, label=DIFF)),
    ([OLD_FULL], [made("20261129-031501F")], "full", FULL_ENTRY),             # expire ran inside the backup
    ([], [made("20261129-031501F")], "diff", FULL_ENTRY),                     # no full yet: pgBackRest made one
    ([], [made("20261129-031501F")], "diff", "recorded"),                     # ... but a host that made one knows
    ([OLD_FULL], [OLD_FULL], "full", None),                                   # nothing new
    ([OLD_FULL], [OLD_FULL, made("20261129-031501F"), made("20261130-031501F")], "full", None),  # two new
    ([OLD_FULL], [OLD_FULL, made("20261129-031501F")], "diff", None),         # a full on a diff run
    ([OLD_FULL], [OLD_FULL, made(DIFF, "diff")], "full", None),               # a diff on a full run
    ([OLD_FULL], [OLD_FULL, made("20261115-031501F_20261123-031501D", "diff")], "diff", None),  # of no listed full
    ([OLD_FULL], [OLD_FULL, made("20261115-031501F")], "full", None),         # older than a listed one
    ([OLD_FULL, {"type": "full"}], [OLD_FULL, {"type": "full"}, made("20261129-031501F")], "full", None),
    ([OLD_FULL], [OLD_FULL, made("20261129-031501F", start="nope")], "full", None),
    ([OLD_FULL], [OLD_FULL, made("20261129-031501F", db_id="1")], "full", None),
    ([OLD_FULL], [OLD_FULL, made("../../etc")], "full", None),
    ([OLD_FULL], [OLD_FULL, {"label": "20261129-031501F", "type": "full"}], "full", None),
    ([OLD_FULL], [OLD_FULL, dict(made("20261129-031501F"), archive="x", database=[1])], "full", None),
])
def test_new_backup(before, after, kind, expected):
    first = expected != "recorded"
    result = pitr.new_backup(info_json(*before), info_json(*after), "credinet", kind, nothing_recorded=first)
    assert result == (expected if first else None)


def test_new_backup_of_unreadable_info():
    assert pitr.new_backup(None, "garbage", "credinet", "full", True) is None
    assert pitr.new_backup([], [{"name": "credinet", "backup": "x"}], "credinet", "full", True) is None


def test_remember_backup_keeps_listed_backups_once_each():
    older = [dict(FULL_ENTRY, label="20261%03d-031501F" % n) for n in range(120, 125)]
    record = older + ["junk", {"label": 3}, FULL_ENTRY]
    listed = {"20261123-031501F", "20261124-031501F", FULL_ENTRY["label"]}
    updated = pitr.remember_backup(record, FULL_ENTRY, listed)
    assert [e["label"] for e in updated] == ["20261123-031501F", "20261124-031501F", "20261129-031501F"]
    assert pitr.remember_backup([], FULL_ENTRY, set()) == [FULL_ENTRY]


def test_made_backups_drops_malformed_entries():
    good = {"label": "20261129-031501F", "db_id": 1, "start": "000000010000000000000010"}
    record = [good, dict(good, label="x"), dict(good, db_id=True), dict(good, start="0"), "junk", {}]
    assert pitr.made_backups(record) == {"20261129-031501F": (1, "000000010000000000000010")}


SHA = "0123456789abcdef0123456789abcdef01234567"
WAL_DIR = "archive/credinet/17-1/0000000100000000/"


KEPT = {"20261122-031501F", "20261122-031501F_20261123-031501D", "20261129-031501F"}
NOW_R = pitr.label_epoch("20261207-031501F")  # the 22 Nov full is 15 days old, the 29 Nov one 8


def reached(local, made=KEPT, days=14, now=NOW_R):
    """retention_reached() over the fulls here this host made, stop times as their labels say."""
    return pitr.retention_reached(local & made, {label: pitr.label_epoch(label) for label in local}, days, now)


@pytest.mark.parametrize("path, deleted", [
    ("backup/credinet/20261115-031501F/backup.manifest", True),                     # an expired full
    ("backup/credinet/20261115-031501F_20261116-031501D/pg_data/base/1/123.zst", True),  # its diff
    ("backup/credinet/20261122-031501F/pg_data/base/1/123.zst", False),             # a kept backup's file lost here
    ("backup/credinet/20261122-031501F_20261124-031501D/backup.manifest", False),   # a diff of a kept full lost here
    ("backup/credinet/20261130-031501F/backup.manifest", False),                    # newer than the oldest kept: lost
    ("backup/credinet/backup.history/2026/20261115-031501F.manifest.gz", False),
    ("backup/credinet/backup.info", False),
    ("backup/credinet/not-a-label/x", False),
    ("backup/other/20261115-031501F/backup.manifest", False),                       # another stanza
    (WAL_DIR + "00000001000000000000000F-%s.zst" % SHA, True),                      # older than the oldest start
    (WAL_DIR + "000000010000000000000010-%s.zst" % SHA, False),                     # the oldest start itself
    (WAL_DIR + "000000010000000000000011-%s.zst" % SHA, False),                     # newer WAL lost here
    (WAL_DIR + "00000001000000000000000F-%s" % SHA, True),                          # uncompressed
    ("archive/credinet/17-1/00000002.history", False),
    ("archive/credinet/archive.info", False),
    (WAL_DIR + "00000001000000000000000F.00000028.backup", True),                   # a backup's label file
    (WAL_DIR + "00000001000000000000000F.partial-%s.zst" % SHA, True),
    (WAL_DIR + "000000010000000000000010.00000028.backup", False),
    ("archive/credinet/17-2/0000000100000000/000000010000000000000001-%s.zst" % SHA, False),  # no kept backup's archive id
    ("archive/credinet/17-1/0000000100000000/garbage", False),
])
def test_prune_deletions(path, deleted):
    delete, keep = pitr.prune_deletions({path}, "credinet", KEPT, reached(KEPT), {1: "000000010000000000000010"})
    assert (delete, keep) == (([path], []) if deleted else ([], [path]))


def test_prune_deletes_no_backup_folder_before_retention_had_reason_to():
    """The oldest full here is younger than the window (a young or rebuilt repository): nothing
    was expired, an older folder offsite is kept."""
    path = "backup/credinet/20261115-031501F/backup.manifest"
    local = {"20261129-031501F"}
    assert pitr.prune_deletions({path}, "credinet", local, reached(local), {}) == ([], [path])


def test_prune_deletes_no_wal_without_a_floor():
    path = WAL_DIR + "00000001000000000000000F-%s.zst" % SHA
    assert pitr.prune_deletions({path}, "credinet", KEPT, reached(KEPT), {}) == ([], [path])


def test_prune_deletes_no_wal_before_retention_had_reason_to():
    """A rebuilt repository with one full (same cluster and archive id): the old WAL offsite is
    what the moved-aside backups need, retention removed none of it."""
    paths = {WAL_DIR + "000000010000000000000001-%s.zst" % SHA, "backup/credinet/20261115-031501F/backup.manifest"}
    floors = {1: "000000010000000000000040"}
    local = {"20261129-031501F"}
    assert pitr.prune_deletions(paths, "credinet", local, reached(local), floors) == ([], sorted(paths))


def test_prune_counts_only_fulls_this_host_recorded():
    """A backup.info rewritten in the database container lists newer fulls with a high WAL start:
    they do not count toward retention, nothing goes offsite."""
    forged = {"20261130-031501F", "20261201-031501F", "20261202-031501F"}
    paths = {WAL_DIR + "00000001000000000000000F-%s.zst" % SHA, "backup/credinet/20261122-031501F/backup.manifest",
             "backup/credinet/20261129-031501F/backup.manifest"}
    floors = {1: "FFFFFFFFFFFFFFFFFFFFFFFF"}
    assert pitr.prune_deletions(paths, "credinet", forged, reached(forged), floors) == ([], sorted(paths))
    more = forged | {"20261129-031501F"}
    assert pitr.prune_deletions(paths, "credinet", more, reached(more), floors)[0] == []


# --- timelines and the WAL archive (texts as PostgreSQL 15 and pgBackRest 2.45 write them) ---------

HISTORY_2 = "1\t0/3016668\tbefore 2026-12-08 03:51:43.41564+00\n\n"
# Timeline 3 made by a second restore to a time before timeline 2 went live: it forked from 1.
HISTORY_3 = "1\t0/30167B8\tbefore 2026-12-08 03:51:47.538043+00\n\n"
# What the defect produced: recovery followed 1 -> 2 and stopped on 2 at its first commit.
HISTORY_3_WRONG = "1\t0/3016668\tbefore 2026-12-08 03:51:43.41564+00\n\n\n2\t0/3016810\tbefore 2026-12-08 03:52:04.302098+00\n\n"
LATEST_END = "1\t0/3016668\tbefore 2026-12-08 03:51:43.41564+00\n\n\n2\t0/5000000\tno recovery target specified\n"
T1 = dt.datetime(2026, 12, 8, 3, 51, 42, tzinfo=dt.timezone.utc).timestamp()
T = dt.datetime(2026, 12, 8, 3, 51, 47, tzinfo=dt.timezone.utc).timestamp()
SWAP_1 = dt.datetime(2026, 12, 8, 3, 52, 0, tzinfo=dt.timezone.utc).timestamp()


def test_history_files_parse_as_postgres_writes_them():
    assert pitr.parse_history(HISTORY_2) == [(1, 0x3016668, "before 2026-12-08 03:51:43.41564+00")]
    assert [h[:2] for h in pitr.parse_history(HISTORY_3_WRONG)] == [(1, 0x3016668), (2, 0x3016810)]
    assert pitr.parse_history("") == []
    with pytest.raises(pitr.PlanError, match="unreadable"):
        pitr.parse_history("1 garbage\n")


def test_the_stop_reason_keeps_its_fraction_of_a_second():
    assert pitr.reason_epoch("before 2026-12-08 03:51:43.41564+00") == pytest.approx(T1 + 1.41564)
    assert pitr.reason_epoch("before 2026-12-08 09:51:43-06") == pytest.approx(T1 + 1 + 12 * 3600)  # 15:51:43 UTC
    assert pitr.reason_epoch("no recovery target specified") is None


def test_lsn_and_segment_names():
    assert pitr.parse_lsn("16/B374D848") == 0x16B374D848
    assert pitr.format_lsn(0x16B374D848) == "16/B374D848"
    assert pitr.segment_name(2, pitr.segment_number(0x16B374D848)) == "0000000200000016000000B3"
    assert pitr.parse_segment("0000000200000016000000B3") == (2, 0x16 * 256 + 0xB3)
    assert pitr.segment_name(1, 256) == "000000010000000100000000"


def test_archive_contents_from_pgbackrest_file_names():
    names = ["15-1/0000000100000000/000000010000000000000003-5acc558a321a0b21d3ad8a9a83cf3099623b704d.zst",
             "15-1/0000000100000000/000000010000000000000002.00000028.backup",
             "15-1/0000000100000000/000000010000000000000004.partial-5acc558a321a0b21d3ad8a9a83cf3099623b704d.zst",
             "15-1/00000002.history", "15-1/0000000200000000/000000020000000000000003-" + "a" * 40 + ".zst"]
    segments, histories = pitr.archive_contents(names)
    assert segments == {1: {"000000010000000000000003"}, 2: {"000000020000000000000003"}}
    assert histories == {2: "15-1/00000002.history"}


def test_the_timeline_live_at_the_target_is_the_newest_gone_live_by_then():
    timelines, bounds = {2: [], 3: []}, {2: T1 + 1.4, 3: T + 0.5}
    live = {2: SWAP_1, 3: SWAP_1 + 60}
    assert pitr.timeline_at(T, timelines, bounds, live, 1) == 1  # restored to T1 at SWAP_1: before it, 1 was live
    assert pitr.timeline_at(SWAP_1 + 10, timelines, bounds, live, 1) == 2
    assert pitr.timeline_at(SWAP_1 + 61, timelines, bounds, live, 1) == 3
    assert pitr.timeline_at(T1 - 100, {}, {}, {}, 1) == 1


def test_a_timeline_without_a_record_is_never_guessed():
    # Before its fork's first unreplayed commit it cannot have been live: no need to know more.
    assert pitr.timeline_at(T1, {2: []}, {2: T1 + 1.4}, {}, 1) == 1
    with pytest.raises(pitr.PlanError, match="timeline 2 .*restore_target_timeline"):
        pitr.timeline_at(T, {2: []}, {2: T1 + 1.4}, {}, 1)
    with pytest.raises(pitr.PlanError, match="timeline 2"):
        pitr.timeline_at(T, {2: []}, {}, {}, 1)  # a restore to the end of the archive leaves no bound
    # A newer recorded timeline live by then decides without it.
    assert pitr.timeline_at(SWAP_1 + 61, {2: [], 3: []}, {}, {3: SWAP_1 + 60}, 1) == 3


def backup(label, tli, start, stop, lsn_start, lsn_stop):
    return {"label": label, "type": "full" if label.endswith("F") else "diff",
            "archive": {"start": pitr.segment_name(tli, start), "stop": pitr.segment_name(tli, stop)},
            "lsn": {"start": lsn_start, "stop": lsn_stop}, "timestamp": {"start": 0, "stop": 0}}


def test_the_backup_must_lie_on_the_history_of_the_target_timeline():
    f1 = dict(backup("20261208-035137F", 1, 2, 2, "0/2000028", "0/2000100"), timestamp={"start": T1 - 9, "stop": T1 - 8})
    # A full of timeline 2 (after the first restore), newer than everything else.
    f2 = dict(backup("20261208-035300F", 2, 6, 6, "0/6000028", "0/6000100"), timestamp={"start": SWAP_1 + 5,
                                                                                        "stop": SWAP_1 + 9})
    begins_3 = pitr.timeline_begins(3, pitr.parse_history(HISTORY_3))
    assert begins_3 == [(0, 1), (0x30167B8, 3)]
    assert pitr.choose_backup([f1, f2], begins_3, None)["label"] == f1["label"]  # not 2's: 3 is no child of it
    begins_2 = pitr.timeline_begins(2, pitr.parse_history(HISTORY_2))
    assert pitr.choose_backup([f1, f2], begins_2, None)["label"] == f2["label"]
    assert pitr.choose_backup([f1, f2], begins_2, SWAP_1)["label"] == f1["label"]  # f2 ended after the target
    assert pitr.choose_backup([f2], begins_3, None) is None
    # A backup taken on the parent after the fork is not on the history either.
    late = dict(backup("20261208-035301F", 1, 4, 4, "0/4000028", "0/4000100"), timestamp={"start": 1, "stop": 2})
    assert not pitr.on_history(late, begins_3)
    no_lsn = {k: v for k, v in late.items() if k != "lsn"}
    assert not pitr.on_history(no_lsn, begins_3)


def test_a_hole_in_the_archive_is_found_on_the_way_to_the_newest_segment():
    begins = pitr.timeline_begins(2, pitr.parse_history(HISTORY_2))
    whole = {1: {pitr.segment_name(1, n) for n in (1, 2)}, 2: {pitr.segment_name(2, n) for n in (3, 4, 5, 6)}}
    assert pitr.wal_gap(begins, 0x2000028, whole, pitr.segment_name(2, 6)) is None
    holed = {1: whole[1], 2: whole[2] - {pitr.segment_name(2, 4)}}
    assert pitr.wal_gap(begins, 0x2000028, holed, pitr.segment_name(2, 6)) == "000000020000000000000004"
    # The segment that holds the switch point is read from the new timeline, not the old one's.
    old_only = {1: whole[1] | {pitr.segment_name(1, 3)}, 2: whole[2] - {pitr.segment_name(2, 3)}}
    assert pitr.wal_gap(begins, 0x2000028, old_only, pitr.segment_name(2, 6)) == "000000020000000000000003"


def test_recovery_must_end_on_the_planned_timeline_after_the_target():
    wrong = pitr.parse_history(HISTORY_3_WRONG)
    assert "ended on timeline 2" in pitr.recovery_end_error(wrong, 1, T, None)
    assert pitr.recovery_end_error(pitr.parse_history(HISTORY_3), 1, T, None) is None
    assert "before a transaction" in pitr.recovery_end_error(pitr.parse_history(HISTORY_3), 1, T + 1, None)
    assert "no history file" in pitr.recovery_end_error([], 1, T, None)


def test_recovery_to_the_end_of_the_archive_must_reach_its_newest_segment():
    end = pitr.parse_history(LATEST_END)
    assert pitr.recovery_end_error(end, 2, None, "000000020000000000000004") is None  # its switch: the next one's start
    # Ended at the very start of the newest segment: that segment was unreadable (damaged).
    assert "damaged segment" in pitr.recovery_end_error(end, 2, None, "000000020000000000000005")
    error = pitr.recovery_end_error(end, 2, None, "000000020000000000000009")
    assert "recovery ended at 0/5000000 (segment 000000020000000000000005 of timeline 2)" in error
    assert "up to segment 000000020000000000000009" in error and "gap in the WAL archive" in error


def test_the_timeline_record_is_read_defensively():
    text = '{"timelines": [{"timeline": 2, "live_from": 1.5}, {"timeline": "3", "live_from": 2}, 7]}'
    assert pitr.timeline_records(text) == {2: 1.5}
    assert pitr.timeline_records("not json") == {}
    assert pitr.timeline_records("") == {}


def test_gap_metric_only_when_known():
    summary = dict(pitr.backup_summary(INFO, "credinet"), gap=1)
    assert pitr.metrics(summary, {}, None, None, True, 1000)["credinet_pitr_archive_gap"][1] == 1
    assert "credinet_pitr_archive_gap" not in pitr.metrics(dict(summary, gap=None), {}, None, None, True, 1000)


# --- retention over simulated weeks -------------------------------------------------------------------

def pgbackrest_expire(backups, days, now, count=None):
    """pgBackRest's full retention as documented: time type keeps the newest full at least
    `days` old and everything newer; count type (the old setting) keeps the newest `count` fulls.
    Diffs go with their full. `backups`: {label: stop epoch}."""
    fulls = sorted(label for label in backups if label.endswith("F"))
    if count is not None:
        kept = fulls[-count:]
    else:
        old = [f for f in fulls if now - backups[f] >= days * pitr.DAY]
        kept = fulls[fulls.index(old[-1]):] if old else fulls
    return {label: stop for label, stop in backups.items() if pitr.full_label(label) in kept}


def label_at(epoch, full=None):
    stamp = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return stamp + "F" if full is None else "%s_%sD" % (full, stamp)


def simulate(days=14, count=None, weeks=12, extra_full_days=(10, 11, 12, 30, 31, 32, 33, 50, 51)):
    """Daily backups (Sunday full, other days diff) plus extra fulls (restores, manual runs) for
    `weeks`; every day the local expire, the offsite copy and the offsite prune. Yields (now,
    local window days, offsite window days, offsite labels, local labels)."""
    start = dt.datetime(2026, 1, 4, 9, 15, tzinfo=dt.timezone.utc).timestamp()  # a Sunday
    local, offsite, record = {}, set(), []
    for day in range(weeks * 7):
        now = start + day * pitr.DAY
        newest_full = max((label for label in local if label.endswith("F")), default=None)
        regular = label_at(now) if day % 7 == 0 or newest_full is None else label_at(now, newest_full)
        made = [(regular, now + 60)] + ([(label_at(now + 3600), now + 3660)] if day in extra_full_days else [])
        for label, stop in made:
            local[label] = stop
            record.append({"label": label, "db_id": 1, "start": "000000010000000000000010", "stop": stop})
        local = pgbackrest_expire(local, days, now + 7200, count)
        offsite |= set(local)
        made_fulls = set(local) & {e["label"] for e in record}
        before = pitr.retention_reached(made_fulls, pitr.made_stops(record), days, now + 7200)
        paths = {"backup/credinet/%s/backup.manifest" % label for label in offsite - set(local)}
        delete, _keep = pitr.prune_deletions(paths, "credinet", set(local), before, {})
        offsite -= {p.split("/")[2] for p in delete}
        window = (now + 7200 - min(local.values())) / pitr.DAY
        offsite_window = (now + 7200 - min(e["stop"] for e in record if e["label"] in offsite)) / pitr.DAY
        yield day, window, offsite_window, offsite, set(local)


def test_time_retention_keeps_the_promised_window_whatever_extra_fulls_are_taken():
    for day, window, offsite_window, offsite, local in simulate():
        if day >= 14:
            assert window >= 14, "day %d: the local window is %.1f days" % (day, window)
            assert offsite_window >= 14, "day %d: the offsite window is %.1f days" % (day, offsite_window)
        assert local <= offsite, "day %d: a backup kept here is gone offsite" % day
    assert window < 14 + 8  # and retention does expire: the window does not grow without bound


def test_count_retention_was_the_defect_extra_fulls_shrank_the_window():
    windows = [window for day, window, *_ in simulate(count=3) if day >= 14]
    assert min(windows) < 7, "three fulls kept: two extra fulls leave under a week"


def test_recovery_end_checks_the_review_found_missing():
    three = pitr.parse_history(HISTORY_3)
    # Stopped on the planned timeline but before it began (an inconsistent plan).
    assert "before timeline 1 began" in pitr.recovery_end_error(three, 1, T, None, begins=[(0, 1), (0x4000000, 1)])
    # A time target whose stop reason says nothing about time is no proof it went past the target.
    odd = [(1, 0x30167B8, "no recovery target specified")]
    assert "not before a transaction committed after the target" in pitr.recovery_end_error(odd, 1, T, None)
    end = pitr.parse_history(LATEST_END)
    assert "before 0/6000000 where the database was" in pitr.recovery_end_error(end, 2, None, None, min_end=0x6000000)
    assert pitr.recovery_end_error(end, 2, None, None, min_end=0x4FFFFFF) is None


def test_a_record_that_contradicts_the_history_refuses():
    # Clock set back at the swap, or a rewritten file: live_from before the fork's first unreplayed commit.
    with pytest.raises(pitr.PlanError, match="record of timeline 2 .*contradicts"):
        pitr.timeline_at(T, {2: []}, {2: T1 + 1.4}, {2: T1}, 1)
    # A history file rewritten in the container (its stop reason moved to the future) cannot make
    # root's record count as missing and the parent be followed silently.
    with pytest.raises(pitr.PlanError, match="contradicts"):
        pitr.timeline_at(SWAP_1 + 30, {2: []}, {2: SWAP_1 + 10 ** 6}, {2: SWAP_1}, 1)
    # Later than a fork from it (timeline 3 forked from 2 at a commit of 2 made before 2's record says).
    history_3 = [(2, 0x5000000, "before x")]
    with pytest.raises(pitr.PlanError, match="record of timeline 2"):
        pitr.timeline_at(SWAP_1 + 30, {2: [], 3: history_3}, {2: T1 + 1.4, 3: SWAP_1 - 5}, {2: SWAP_1, 3: SWAP_1 + 60}, 1)
    # In the future.
    with pytest.raises(pitr.PlanError, match="contradicts"):
        pitr.timeline_at(T, {2: []}, {}, {2: SWAP_1}, 1, now=SWAP_1 - 1)
    assert pitr.timeline_at(T, {2: []}, {2: T1 + 1.4}, {2: T + 5}, 1, now=T + 10) == 1


def test_made_stops_without_fallback_leaves_unknown_stops_out():
    record = [{"label": "20261122-031501F", "stop": 5}, {"label": "20261129-031501F"},
              {"label": "20261130-031501F", "stop": float("nan")}]
    assert pitr.made_stops(record, fallback=False) == {"20261122-031501F": 5}
    assert set(pitr.made_stops(record)) == {"20261122-031501F", "20261129-031501F", "20261130-031501F"}
