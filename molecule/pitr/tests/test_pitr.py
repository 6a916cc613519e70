"""Point-in-time recovery with pgBackRest, end to end on a host running the fixture stack.

The tests run in file order and build on each other: archiving is on; a mistaken DELETE is
undone by a restore to the second before it; a second restore to a time before the first one's
swap follows the timeline live then, and `latest` the newest; archiving survives a restart and a full disk; a
crash under continuous inserts is rebuilt from the offsite and the local repository within the
one-minute bound; the drill passes; a hole in the archive fails `latest` and the drill until
the full backup it starts; bad input and a restart production did not allow change nothing.
"""
import json
import re
import time
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[3]
PROJECT = "credinet"
REPO = "/var/backups/credinet/pgbackrest"
OVERRIDE = "/etc/credinet-compose/credinet.pitr.yml"
METRICS = "/var/lib/prometheus/node-exporter/credinet_pitr.prom"
ZONE = "America/Mexico_City"
CONFIRM = "pitr-prod"


def db_id(host, running=True):
    flags = "" if running else "-a"
    return host.check_output("docker ps %s -q --filter label=com.docker.compose.project=%s "
                             "--filter label=com.docker.compose.service=postgres" % (flags, PROJECT)).split()[0]


def sql(host, query):
    return host.check_output("docker exec -u postgres %s psql -qAtX -v ON_ERROR_STOP=1 -U credinet -d credinet -c %s"
                             % (db_id(host), _quote(query)))


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def local_now(host):
    return host.check_output("TZ=%s date '+%%Y-%%m-%%d %%H:%%M:%%S'" % ZONE)


def archive_now(host):
    """A WAL switch archived end to end (pgbackrest check waits for it)."""
    host.check_output("docker exec -u postgres %s pgbackrest --stanza=credinet check" % db_id(host))


def wait_backups(host):
    """Until no pgBackRest backup runs (a restore starts a full one for the new timeline)."""
    time.sleep(2)  # the restore starts it with --no-block
    for _ in range(300):
        # A oneshot service is "activating" while it runs.
        if host.run("systemctl is-active credinet-pitr-full.service").stdout.strip() not in ("active", "activating"):
            return
        time.sleep(1)
    raise AssertionError("the full backup after the restore did not end in 300 s")


def pgbackrest_info(host):
    return json.loads(host.check_output("docker exec -u postgres %s pgbackrest --stanza=credinet --output=json info"
                                        % db_id(host)))[0]


def recorded_fulls(host):
    record = json.loads(host.file("/var/lib/credinet/pitr-backups-made.json").content_string)
    return {b["label"] for b in record["backups"] if b["label"].endswith("F")}


def metric(host, name):
    text = host.file(METRICS).content_string
    found = re.search(r"^%s\{[^}]*\} (\S+)$" % re.escape(name), text, re.M)
    assert found, "%s not in %s:\n%s" % (name, METRICS, text)
    return float(found.group(1))


def restore(playbook, target, *extra):
    return playbook(PROJECT_DIR / "playbooks/restore.yml", "prod", "-e", "restore_target_time='%s'" % target,
                    "-e", "restore_confirm=%s" % CONFIRM, *extra)


@pytest.fixture(scope="module")
def loan(host):
    return int(sql(host, "SELECT min(id) FROM loans"))


def test_archiving_is_on_with_the_override_role_app_applies(host):
    assert sql(host, "SHOW archive_mode") == "on"
    assert "pgbackrest --stanza=credinet archive-push" in sql(host, "SHOW archive_command")
    assert sql(host, "SHOW archive_timeout") == "50s"
    env = host.file("/home/jair/proyectos/credinet-v2/.env").content_string
    assert re.search(r"^COMPOSE_FILE=.*%s" % re.escape(OVERRIDE), env, re.M), env
    info = pgbackrest_info(host)
    assert info["status"]["code"] == 0, info["status"]
    assert [b["type"] for b in info["backup"]] == ["full"]
    assert recorded_fulls(host) == {info["backup"][0]["label"]}  # made by this host: counts for the offsite prune
    repo = host.file(REPO)
    assert repo.mode == 0o700
    uid = host.check_output("docker exec %s id -u postgres" % db_id(host))
    assert repo.uid == int(uid)
    assert "OnCalendar=Sun *-*-* 03:15:00 %s" % ZONE in host.check_output("systemctl cat credinet-pitr-full.timer")
    assert "OnCalendar=Mon..Sat *-*-* 03:15:00 %s" % ZONE in host.check_output("systemctl cat credinet-pitr-diff.timer")
    for timer in ("full", "diff", "check", "drill", "metrics", "offsite", "offsite-prune"):
        assert host.service("credinet-pitr-%s.timer" % timer).is_enabled
    assert metric(host, "credinet_pitr_last_full_success_timestamp_seconds") > time.time() - 3600
    assert metric(host, "credinet_pitr_archiving_active") == 1
    assert metric(host, "credinet_pitr_archive_failing") == 0


def test_bad_input_and_an_unallowed_restart_change_nothing(host, playbook, scenario_dir):
    before = (db_id(host), host.file(OVERRIDE).sha256sum)
    bad = playbook(scenario_dir / "converge.yml", "prod", "-e", "pitr_archive_timeout=5")
    assert bad.rc != 0 and "Nothing was changed." in bad.flat, bad.output[-3000:]
    # New archiving settings need a restart; production did not allow one: the database keeps
    # running as it is, its override untouched, and the operator is told how to go on.
    held = playbook(scenario_dir / "converge.yml", "prod", "-e", "pitr_archive_timeout=30", "-e", "pitr_allow_restart=false")
    assert held.rc == 0, held.output[-3000:]
    assert "needs one restart of the database" in held.flat
    assert (db_id(host), host.file(OVERRIDE).sha256sum) == before
    assert sql(host, "SHOW archive_timeout") == "50s"
    for target in ("2026-13-01 10:00:00", "mañana", "2999-01-01 00:00:00", "2020-01-01 00:00:00"):
        refused = restore(playbook, target)
        assert refused.rc != 0 and "Nothing was changed." in refused.flat, refused.output[-3000:]
    assert "before the oldest backup" in refused.flat  # pgBackRest would have used its newest backup
    assert db_id(host) == before[0]


def test_role_app_never_leaves_the_archiving_override_out(host, playbook, scenario_dir):
    """A database recreated without the override would stop archiving: a hole in the archive."""
    env = "/home/jair/proyectos/credinet-v2/.env"
    before = (db_id(host), host.file(env).sha256sum)
    host.check_output("mv %s /root/override-aside" % OVERRIDE)
    try:
        result = playbook(scenario_dir / "app-only.yml", "prod")
        # In check mode (a first site.yml --check --diff, before role pitr ever wrote it) it is
        # said, not refused: the real run writes it before role app.
        checked = playbook(scenario_dir / "app-only.yml", "prod", "--check")
    finally:
        host.check_output("mv /root/override-aside %s" % OVERRIDE)
    assert checked.rc == 0, checked.output[-3000:]
    assert "not on pitr-prod yet" in checked.flat
    assert result.rc != 0
    assert "credinet.pitr.yml (listed in credinet_compose_extra_files) is not on" in result.flat, result.output[-3000:]
    assert "Nothing was changed." in result.flat
    assert (db_id(host), host.file(env).sha256sum) == before


def test_restore_to_a_time_undoes_a_mistaken_delete(host, playbook, loan):
    sql(host, "INSERT INTO payments (loan_id, amount) SELECT %d, 777.77 FROM generate_series(1, 3)" % loan)
    time.sleep(1.5)
    target = local_now(host)
    time.sleep(1.5)
    sql(host, "DELETE FROM payments WHERE amount = 777.77")
    sql(host, "INSERT INTO payments (loan_id, amount) VALUES (%d, 888.88)" % loan)
    archive_now(host)
    result = restore(playbook, target)
    assert result.rc == 0, result.output[-4000:]
    assert sql(host, "SELECT count(*) FROM payments WHERE amount = 777.77") == "3"
    assert sql(host, "SELECT count(*) FROM payments WHERE amount = 888.88") == "0"
    previous = host.check_output("docker volume ls -q --filter name=credinet-before-pitr-")
    assert previous, "the previous data must stay in a volume"
    assert "credinet-before-pitr-" in result.output
    wait_backups(host)


def marked(host):
    """{amount: rows} of the marker payments the timeline tests insert."""
    rows = sql(host, "SELECT amount, count(*) FROM payments WHERE amount BETWEEN 101 AND 606 GROUP BY amount")
    return {float(a): int(n) for a, n in (line.split("|") for line in rows.splitlines() if line)}


def insert_marker(host, loan, amount):
    sql(host, "INSERT INTO payments (loan_id, amount) SELECT %d, %s FROM generate_series(1, 2)" % (loan, amount))
    time.sleep(1.5)


def timeline(host):
    return int(sql(host, "SELECT pg_walfile_name(pg_current_wal_lsn())")[:8], 16)


def test_a_second_restore_follows_the_timeline_that_was_live_at_its_target(host, playbook, loan):
    """Restore to t1, then to a later t taken before that first swap: recovery must follow the
    timeline live at t (not the newest one, which forks at t1 and would bring back t1's state)."""
    insert_marker(host, loan, 101.01)
    t1 = local_now(host)
    time.sleep(1.5)
    insert_marker(host, loan, 202.02)
    t = local_now(host)
    time.sleep(1.5)
    insert_marker(host, loan, 303.03)
    archive_now(host)
    first = restore(playbook, t1)
    assert first.rc == 0, first.output[-4000:]
    assert marked(host) == {101.01: 2}
    wait_backups(host)
    insert_marker(host, loan, 404.04)  # written on the first restore's timeline
    archive_now(host)
    second = restore(playbook, t)
    assert second.rc == 0, second.output[-4000:]
    assert marked(host) == {101.01: 2, 202.02: 2}, "exactly the rows committed up to %s" % t
    wait_backups(host)
    insert_marker(host, loan, 505.05)
    newest = restore(playbook, "latest")
    assert newest.rc == 0, newest.output[-4000:]
    assert marked(host) == {101.01: 2, 202.02: 2, 505.05: 2}
    wait_backups(host)
    record = json.loads(host.file(REPO + "/credinet-timelines.json").content_string)["timelines"]
    # Every restore recorded when its timeline went live; the newest is the one running.
    assert len(record) >= 4 and record[-1]["timeline"] == timeline(host), record
    assert host.file(REPO + "/credinet-timelines.json").exists


def test_archiving_survives_a_restart_and_a_full_disk(host, loan):
    host.check_output("docker restart %s" % db_id(host))
    for _ in range(60):
        if host.run("docker exec -u postgres %s pg_isready -q" % db_id(host)).rc == 0:
            break
        time.sleep(1)
    archive_now(host)
    failed_before = int(sql(host, "SELECT failed_count FROM pg_stat_archiver"))
    # Fill the repository's filesystem: archiving fails, PostgreSQL keeps the WAL.
    host.run("dd if=/dev/zero of=%s/ballast bs=1M status=none" % REPO)
    try:
        sql(host, "INSERT INTO payments (loan_id, amount) VALUES (%d, 555.55)" % loan)
        sql(host, "SELECT pg_switch_wal()")
        for _ in range(60):
            if int(sql(host, "SELECT failed_count FROM pg_stat_archiver")) > failed_before:
                break
            time.sleep(1)
        host.check_output("credinet-pitr metrics")
        assert metric(host, "credinet_pitr_archive_failing") == 1
        assert metric(host, "credinet_pitr_archive_pending_segments") >= 1
    finally:
        host.run("rm -f %s/ballast" % REPO)
    # Space again: PostgreSQL retries on its own and catches up.
    for _ in range(120):
        if sql(host, "SELECT count(*) FROM pg_ls_dir('pg_wal/archive_status') f WHERE f LIKE '%.ready'") == "0":
            break
        time.sleep(2)
    archive_now(host)
    host.check_output("credinet-pitr metrics")
    assert metric(host, "credinet_pitr_archive_failing") == 0
    assert metric(host, "credinet_pitr_archive_pending_segments") == 0


INSERTER = r"""
end=$((SECONDS + {seconds}))
while [ $SECONDS -lt $end ]; do
  docker exec -u postgres {db} psql -qAtX -v ON_ERROR_STOP=1 -U credinet -d credinet -c \
    "INSERT INTO payments (loan_id, amount) VALUES ({loan}, 1.11) RETURNING id, extract(epoch FROM clock_timestamp())" \
    >> /root/committed.txt || break
  sleep 0.2
done
"""


COMMITTED_LINE = re.compile(r"^(\d+)\|(\d+(?:\.\d+)?)$")


def committed(host):
    """(id, epoch) of every insert whose COMMIT returned.

    Waits for the inserter to stop first (it stops at its first failed insert), then keeps
    only whole "id|epoch" lines: when the database is killed, `docker exec` may print its own
    error text on stdout (seen in CI), and that is not a committed row."""
    for _ in range(30):
        if host.run("pgrep -f 'committed[.]txt'").rc != 0:
            break
        time.sleep(1)
    lines = host.file("/root/committed.txt").content_string.splitlines()
    matches = (COMMITTED_LINE.match(line.strip()) for line in lines)
    return [(int(m.group(1)), float(m.group(2))) for m in matches if m]


def loss_window(host, rows, crash):
    present = {int(i) for i in sql(host, "SELECT id FROM payments WHERE amount = 1.11").split()}
    missing_old = [i for i, t in rows if t < crash - 60 and i not in present]
    kept = [t for i, t in rows if i in present]
    return missing_old, crash - max(kept) if kept else None


def test_a_crash_under_inserts_is_rebuilt_within_a_minute(host, playbook, loan, capsys):
    host.run("rm -f /root/committed.txt")
    host.check_output("nohup bash -c %s >/dev/null 2>&1 &" % _quote(INSERTER.format(seconds=150, db=db_id(host), loan=loan)))
    time.sleep(75)
    crash = time.time()
    host.check_output("docker kill -s KILL %s" % db_id(host))
    time.sleep(2)
    rows = committed(host)
    assert rows and rows[0][1] < crash - 60, "the inserts must have run more than a minute"
    # The host lives on: its 5-minute offsite copy runs; the database's disk is what was lost.
    host.check_output("credinet-pitr offsite")
    refused_while_the_volume_holds_unarchived_wal(host, playbook)
    windows = {}
    for source in ("offsite", "local"):
        result = restore(playbook, "latest", "-e", "restore_from=%s" % source, "-e", "restore_discard_unarchived=true")
        assert result.rc == 0, result.output[-4000:]
        missing, windows[source] = loss_window(host, rows, crash)
        assert not missing, "%s: rows committed more than 60 s before the crash are missing: %s" % (source, missing)
        assert windows[source] is not None and windows[source] <= 60, windows
        wait_backups(host)
    with capsys.disabled():  # shown in the suite's output, not only on failure
        print("\nPITR data-loss window (crash at %.0f, %d rows committed): offsite %.1f s, local %.1f s"
              % (crash, len(rows), windows["offsite"], windows["local"]))


def refused_while_the_volume_holds_unarchived_wal(host, playbook):
    """`latest` of a stopped database whose volume still holds its data is refused: starting that
    database would recover more than the archive has (the segment it was writing, and here a
    marker of one more waiting: the real ones are archived within a second)."""
    cid = db_id(host, running=False)
    volume = host.check_output("docker inspect -f '{{range .Mounts}}{{if eq .Destination \"/var/lib/postgresql/data\"}}"
                               "{{.Name}}{{end}}{{end}}' %s" % cid)
    image = host.check_output("docker inspect -f '{{.Config.Image}}' %s" % cid)
    marker = "/d/pg_wal/archive_status/0000000100000000000000FE.ready"
    host.check_output("docker run --rm --network none -v %s:/d --entrypoint touch %s %s" % (volume, image, marker))
    volumes = host.check_output("docker volume ls -q")
    try:
        result = restore(playbook, "latest")
        assert result.rc != 0
        assert re.search(r"the WAL segment it was writing and [1-9][0-9]* more never archived", result.output), \
            result.output[-3000:]
        assert "Nothing was changed." in result.output
        assert db_id(host, running=False) == cid and host.check_output("docker volume ls -q") == volumes
    finally:
        host.check_output("docker run --rm --network none -v %s:/d --entrypoint rm %s -f %s" % (volume, image, marker))


def test_the_drill_restores_the_newest_point_into_a_throwaway_container(host, playbook):
    result = playbook(PROJECT_DIR / "playbooks/restore-drill.yml", "prod")
    assert result.rc == 0, result.output[-4000:]
    assert '"payments":' in result.output
    leftovers = host.check_output("docker ps -aq --filter label=credinet.pitr=1")
    assert leftovers == ""
    drills = host.check_output("docker volume ls -q --filter label=credinet.pitr=1 --filter name=pitr-drill")
    assert drills == ""
    assert metric(host, "credinet_pitr_drill_last_success_timestamp_seconds") > time.time() - 600


def archived_segments(host):
    """Paths of the archived WAL segments of the running timeline, oldest first."""
    tli = "%08X" % timeline(host)
    listing = host.check_output("find %s/archive/credinet -name '%s*-*' -type f | sort" % (REPO, tli))
    return [p for p in listing.splitlines() if re.search(r"/[0-9A-F]{24}-[0-9a-f]{40}", p)]


def segment_of(path):
    return re.search(r"/([0-9A-F]{24})-", path).group(1)


def test_a_hole_in_the_archive_fails_latest_and_the_drill_until_a_full_backup(host, playbook, loan):
    """Segments never archived (archiving off for a while): recovery would promote at the hole and
    call it complete. `latest` and the drill refuse; a damaged segment is caught where recovery
    ended; the metrics job starts the full backup that makes the newest point restorable again."""
    for amount in (606.01, 606.02, 606.03):
        sql(host, "INSERT INTO payments (loan_id, amount) VALUES (%d, %s)" % (loan, amount))
        archive_now(host)
    segments = archived_segments(host)
    hole = segments[-2]
    name = segment_of(hole)
    host.check_output("mv %s /root/held-segment" % hole)
    try:
        before = (db_id(host), host.check_output("docker volume ls -q"))
        drill = host.run("credinet-pitr drill")
        assert drill.rc != 0
        assert "gap in the WAL archive: segment %s is missing" % name in drill.stderr + drill.stdout, drill.stdout[-3000:]
        refused = restore(playbook, "latest")
        assert refused.rc != 0 and "segment %s is missing" % name in refused.flat, refused.output[-3000:]
        assert "Nothing was changed." in refused.flat
        assert (db_id(host), host.check_output("docker volume ls -q")) == before
        # A damaged segment under the right name: recovery stops there; its end is compared.
        host.check_output("head -c 4096 /dev/urandom > %s && chown --reference=/root/held-segment %s" % (hole, hole))
        damaged = host.run("credinet-pitr drill")
        assert damaged.rc != 0
        ended = re.search(r"recovery ended at \S+ \(segment ([0-9A-F]{24}) of timeline \d+\) but the archive holds "
                          r"timeline \d+ up to segment ([0-9A-F]{24})", damaged.stdout)
        assert ended, (damaged.stdout + damaged.stderr)[-3000:]
        # It ended at the damaged segment; the newest is the one archived last (or a newer one since).
        assert ended.group(1) <= name < ended.group(2) and ended.group(2) >= segment_of(segments[-1])
        host.check_output("rm -f %s" % hole)
        # A hole counts once later segments have been there a minute (async push order): time
        # cannot pass here, the newest segment's file is aged instead.
        host.check_output("touch -h -d '5 minutes ago' %s" % segments[-1])
        host.check_output("credinet-pitr metrics")
        assert metric(host, "credinet_pitr_archive_gap") == 1
        wait_backups(host)  # the metrics job started a full backup
        host.check_output("credinet-pitr metrics")
        assert metric(host, "credinet_pitr_archive_gap") == 0
        drill = host.run("credinet-pitr drill")
        assert drill.rc == 0, (drill.stdout + drill.stderr)[-3000:]
    finally:
        host.run("test -e %s || mv /root/held-segment %s" % (hole, hole))
        host.run("rm -f /root/held-segment")


RCLONE = "rclone --config /etc/credinet/rclone.conf "


def test_the_offsite_prune_removes_only_what_retention_removed(host):
    """Planted offsite: a WAL segment older than every kept backup (what expire removes) and a file
    of a kept backup that is missing here (lost, not expired). The prune removes the first only,
    once retention had reason to expire: the oldest full kept here that this host recorded making
    is as old as the recovery window (14 days; the record is aged here, time cannot pass)."""
    local = host.check_output("cd %s && ls archive/credinet && ls backup/credinet | grep -E 'F$' | head -1" % REPO).split()
    old_wal = "archive/credinet/%s/0000000100000000/000000010000000000000000-%s.zst" % (local[0], "0" * 40)
    lost = "backup/credinet/%s/pg_data/planted-lost.zst" % local[1]
    for path in (old_wal, lost):
        host.check_output("echo planted | " + RCLONE + "rcat offsite:pgbackrest/" + path)
    # Every full here is minutes old: time-based retention expired nothing, the prune removes nothing.
    waited = host.check_output("credinet-pitr offsite --prune")
    assert "offsite retention waits" in waited, waited
    listed = host.check_output(RCLONE + "lsf -R --files-only offsite:pgbackrest").splitlines()
    assert old_wal in listed and lost in listed
    kept_fulls = sorted(b["label"] for b in pgbackrest_info(host)["backup"] if b["type"] == "full")
    assert kept_fulls[0] in recorded_fulls(host), kept_fulls
    record_path = "/var/lib/credinet/pitr-backups-made.json"
    record = json.loads(host.file(record_path).content_string)
    for entry in record["backups"]:
        if entry["label"] == kept_fulls[0]:
            entry["stop"] = int(time.time()) - 15 * 86400
    host.check_output("echo %s > %s" % (_quote(json.dumps(record)), record_path))
    host.check_output("credinet-pitr offsite --prune")
    listed = host.check_output(RCLONE + "lsf -R --files-only offsite:pgbackrest").splitlines()
    assert old_wal not in listed
    assert lost in listed
    host.check_output(RCLONE + "deletefile offsite:pgbackrest/" + lost)
