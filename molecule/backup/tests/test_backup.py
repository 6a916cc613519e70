"""Role `backup` on a prod host running the fixture stack: real dumps, real verification."""
import json
import re
import shlex

import pytest

from conftest import http_json

DIR = "/var/backups/credinet"
PROM = "/var/lib/prometheus/node-exporter/credinet_backup.prom"
DB_FILTER = "--filter label=com.docker.compose.project=credinet --filter label=com.docker.compose.service=postgres"


def db_cid(host, all_states=False):
    return host.check_output("docker ps %s -q %s" % ("-a" if all_states else "", DB_FILTER))


def psql(host, sql, db="credinet"):
    return host.check_output("docker exec %s psql -qAtX -U credinet -d %s -c %s" % (db_cid(host), db, _q(sql)))


def _q(text):
    return "'" + text.replace("'", "'\\''") + "'"


def metric(host, name, path=PROM):
    for line in host.file(path).content_string.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s not in %s" % (name, path))


def newest_good(host):
    sets = json.loads(host.check_output("credinet-backup list --json"))
    return [s for s in sets if s["status"] == "good"][-1]


@pytest.fixture(scope="module")
def backup(host):
    run = host.run("credinet-backup run")
    assert run.rc == 0, run.stdout + run.stderr
    latest = newest_good(host)
    manifest = json.loads(host.file("%s/%s.manifest.json" % (DIR, latest["key"])).content_string)
    return latest, manifest


def test_backup_set_files_and_modes(host, backup):
    latest, manifest = backup
    assert host.file(DIR).mode == 0o700
    names = sorted(f.rsplit("/", 1)[1] for f in latest["files"])
    key = latest["key"]
    assert names == sorted([key + ".dump.zst", key + ".globals.sql.zst", key + ".manifest.json"])
    for name in names:
        assert host.file("%s/%s" % (DIR, name)).mode == 0o600
    assert re.match(r"^credinet_credinet_\d{8}T\d{6}-0600$", key), "file names carry Mexico City time"
    assert not [n for n in host.file(DIR).listdir() if n.endswith(".partial")]


def test_manifest_describes_the_dump(host, backup):
    latest, manifest = backup
    assert manifest["status"] == "good"
    assert manifest["verify"]["errors"] == []
    dump = "%s/%s" % (DIR, manifest["files"]["dump"]["name"])
    assert host.check_output("sha256sum %s" % dump).split()[0] == manifest["files"]["dump"]["sha256"]
    assert manifest["files"]["dump"]["size"] == host.file(dump).size
    assert manifest["server_version"].startswith("17")
    tables = manifest["tables"]
    assert {t: tables["public." + t]["rows"] for t in ("users", "loans", "payments")} == {"users": 3, "loans": 3, "payments": 5}
    assert manifest["duration_seconds"] > 0


def test_globals_dump_has_the_roles(host, backup):
    latest, manifest = backup
    text = host.check_output("zstd -dc %s/%s" % (DIR, manifest["files"]["globals"]["name"]))
    assert "CREATE ROLE credinet" in text


def test_success_metrics(host, backup):
    latest, manifest = backup
    assert host.file(PROM).mode == 0o644
    assert metric(host, "credinet_backup_last_exit_status") == 0
    assert metric(host, "credinet_backup_last_verify_ok") == 1
    assert metric(host, "credinet_backup_last_size_bytes") == manifest["files"]["dump"]["size"]
    assert metric(host, "credinet_backup_last_success_timestamp_seconds") > 1.7e9


def test_timers_at_mexico_city_times(host):
    """The schedules are systemd timers with the zone in OnCalendar=: independent of the host
    clock's zone and of when any daemon started; a slot missed while the host was off runs at boot."""
    backup = host.file("/etc/systemd/system/credinet-backup.timer").content_string
    assert "OnCalendar=*-*-* 02:00:00 America/Mexico_City" in backup.splitlines()
    assert "Persistent=true" in backup.splitlines()
    drill = host.file("/etc/systemd/system/credinet-restore-drill.timer").content_string
    assert "OnCalendar=Sun *-*-* 04:00:00 America/Mexico_City" in drill.splitlines()
    for unit in ("credinet-backup.timer", "credinet-restore-drill.timer"):
        assert host.service(unit).is_enabled and host.service(unit).is_running, unit
    next_run = host.check_output("systemctl show credinet-backup.timer --property=NextElapseUSecRealtime --value")
    assert next_run.endswith(" 02:00:00 CST"), next_run
    service = host.file("/etc/systemd/system/credinet-backup.service").content_string
    assert "OnFailure=credinet-job-failed@%n.service" in service.splitlines()
    assert "ExecStart=/usr/local/bin/credinet-backup run" in service.splitlines()
    assert not host.file("/etc/cron.d/credinet-backup").exists, "the cron file of the old layout is gone"
    assert "intraday" not in backup
    assert host.file("/etc/credinet/backup.json").mode == 0o600


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_copies_fail_verification(host, backup, damage):
    latest, manifest = backup
    dump = "%s/%s" % (DIR, manifest["files"]["dump"]["name"])
    copy = "/tmp/damaged-%s.dump.zst" % damage
    if damage == "truncate":
        host.run_expect([0], "head -c $(( $(stat -c %%s %s) * 60 / 100 )) %s > %s" % (dump, dump, copy))
    else:
        host.run_expect([0], "cp %s %s && printf '\\xff\\x00\\xff\\x00' | dd of=%s bs=1 seek=$(( $(stat -c %%s %s) / 2 )) "
                             "conv=notrunc status=none" % (dump, copy, copy, copy))
    result = host.run("credinet-backup verify %s --file %s" % (latest["key"], copy))
    assert result.rc == 1
    assert "sha256 mismatch" in result.stdout
    assert "full decode failed" in result.stdout or "decompression failed" in result.stdout


def test_truncated_archive_inside_valid_compression_is_caught_by_the_full_decode(host, backup):
    # The compressed stream is intact here: only pg_restore's decode can see the damage.
    latest, manifest = backup
    dump = "%s/%s" % (DIR, manifest["files"]["dump"]["name"])
    copy = "/tmp/cut-archive.dump.zst"
    host.run_expect([0], "zstd -qdc %s > /tmp/raw.dump && head -c $(( $(stat -c %%s /tmp/raw.dump) * 60 / 100 )) "
                         "/tmp/raw.dump | zstd -q -o %s -f" % (dump, copy))
    result = host.run("credinet-backup verify %s --file %s" % (latest["key"], copy))
    assert result.rc == 1
    assert "full decode failed" in result.stdout


def test_stopped_database_fails_cleanly(host, backup):
    before = sorted(host.file(DIR).listdir())
    cid = db_cid(host)
    host.run_expect([0], "docker stop %s" % cid)
    try:
        result = host.run("credinet-backup run")
    finally:
        host.run_expect([0], "docker start %s" % cid)
        host.run_expect([0], "for i in $(seq 60); do docker exec %s pg_isready -q -h 127.0.0.1 && exit 0; sleep 1; done; exit 1" % cid)
    assert result.rc == 1
    assert "database container not running" in result.stdout
    assert sorted(host.file(DIR).listdir()) == before
    assert metric(host, "credinet_backup_last_exit_status") == 1
    assert metric(host, "credinet_backup_last_success_timestamp_seconds") > 0
    last = json.loads(host.file("/var/lib/credinet/notifications.jsonl").content_string.splitlines()[-1])
    assert last["event"] == "backup_failed"
    assert last["level"] == "critical"
    assert "database container not running" in last["text"]


def test_restore_drill_matches_every_table_of_the_source(host, backup):
    latest, manifest = backup
    result = host.run("credinet-backup drill --set %s" % latest["key"])
    assert result.rc == 0, result.stdout
    assert "every table's rows and checksum match" in result.stdout
    assert metric(host, "credinet_restore_drill_last_ok", PROM.replace("backup", "restore_drill")) == 1
    assert host.check_output("docker ps -aq --filter name=credinet-restore-drill") == ""
    # And the manifest equals the live source (nothing wrote since the backup).
    for table, stats in manifest["tables"].items():
        live = psql(host, "SET TimeZone TO 'UTC'; SELECT count(*)||' '||coalesce(sum(hashtextextended(t::text,0)),0) FROM %s t"
                    % table)
        assert live == "%d %s" % (stats["rows"], stats["checksum"]), table


def test_retention_with_backdated_sets(host, scenario_dir):
    """60 days of failed runs after 7 good ones: prune keeps the good ones; then plain 30-day pruning."""
    script = (scenario_dir / "tests" / "make_backdated_sets.py").read_text()
    host.run_expect([0], "rm -rf /tmp/ret && mkdir -p /tmp/ret/sets /tmp/ret/legacy")
    host.run_expect([0], "python3 - <<'PY'\n%s\nPY" % script)
    env = "CREDINET_BACKUP_CONFIG=/tmp/ret/backup.json"
    result = host.run("%s credinet-backup prune" % env)
    assert result.rc == 0, result.stdout
    left = json.loads(host.check_output("%s credinet-backup list --json" % env))
    good = [s for s in left if s["status"] == "good"]
    assert len(good) == 7, "the newest 7 good backups survive 60 days of failures"
    failed = [s for s in left if s["status"] == "failed"]
    assert len(failed) == 7, "failed runs are kept 7 days"
    assert [s["status"] for s in left if s["status"] == "legacy"] == ["legacy"], "recent legacy kept, old legacy pruned"
    # Now 40 daily good backups: normal 30-day pruning.
    host.run_expect([0], "python3 - normal <<'PY'\n%s\nPY" % script)
    host.run_expect([0], "%s credinet-backup prune" % env)
    left = json.loads(host.check_output("%s credinet-backup list --json" % env))
    assert len([s for s in left if s["status"] == "good"]) == 30


def test_restore_on_prod_without_confirmation_is_refused(host, hostname, playbook, scenario_dir):
    databases = psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres")
    result = playbook(scenario_dir.parents[1] / "playbooks" / "restore.yml", hostname)
    assert result.rc != 0
    assert "Re-run with -e restore_confirm=%s" % hostname in result.output
    assert result.recap(hostname)["changed"] == 0
    assert psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres") == databases


def test_a_restore_waits_for_no_deploy_it_refuses_while_one_holds_the_lock(host, hostname, playbook, scenario_dir):
    lock = "/var/lib/credinet-deploy/lock"
    holder = {"owner": "ana@laptop", "token": "FAKE-token", "time": "now", "target": "abc1234"}
    host.run_expect([0], "mkdir -p %s && python3 -c %s %s/owner.json" % (lock, shlex.quote(
        "import json,sys,time; json.dump(dict(json.loads(sys.argv[2]), epoch=time.time()), open(sys.argv[1], 'w'))"),
        lock) + " " + shlex.quote(json.dumps(holder)))
    databases = psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres")
    try:
        result = playbook(scenario_dir.parents[1] / "playbooks" / "restore.yml", hostname,
                          "-e", "restore_confirm=%s" % hostname)
        assert result.rc != 0 and "Another deploy holds the lock" in result.output and "ana@laptop" in result.output
        assert psql(host, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database", db="postgres") == databases
        assert host.file(lock + "/owner.json").exists, "a lock the restore does not hold stays"
    finally:
        host.run_expect([0], "rm -rf %s" % lock)


def test_confirmed_restore_brings_back_the_backup_and_keeps_the_previous_data(host, hostname, playbook, scenario_dir, backup):
    latest, manifest = backup
    psql(host, "INSERT INTO payments (loan_id, amount) VALUES (1, 99.99)")
    assert psql(host, "SELECT count(*) FROM payments") == "6"
    result = playbook(scenario_dir.parents[1] / "playbooks" / "restore.yml", hostname,
                      "-e", "restore_confirm=%s" % hostname, "-e", "restore_backup=%s" % latest["key"], check=True)
    assert "previous data kept as database credinet__pre_restore_" in result.output
    assert psql(host, "SELECT count(*) FROM payments") == "5"
    previous = psql(host, "SELECT datname FROM pg_database WHERE datname LIKE 'credinet__pre_restore_%'", db="postgres")
    assert psql(host, "SELECT count(*) FROM payments", db=previous.splitlines()[-1]) == "6"
    status, body = http_json(host, "http://127.0.0.1:8000/health")
    assert status == 200 and body["db"]["payments"] == 5


def test_legacy_sql_gz_from_the_old_script_is_listed_and_restorable(host):
    legacy_dir = "/home/jair/proyectos/credinet-v2/backups"
    legacy = legacy_dir + "/credinet_backup_20261101_020000.sql.gz"
    host.run_expect([0], "mkdir -p %s && docker exec %s pg_dump -U credinet credinet | gzip > %s" % (legacy_dir, db_cid(host), legacy))
    listed = json.loads(host.check_output("credinet-backup list --json"))
    assert [s["status"] for s in listed if s["key"] == legacy] == ["legacy"]
    assert host.run("credinet-backup verify %s" % legacy).rc == 0
    psql(host, "DELETE FROM payments WHERE amount = 2200.00")
    result = host.run("credinet-backup restore --set %s --yes" % legacy)
    assert result.rc == 0, result.stdout
    assert psql(host, "SELECT count(*) FROM payments") == "5"
    assert host.file(legacy).exists, "restoring never deletes the legacy file"


def test_a_dump_larger_than_a_pipe_buffer_verifies(host):
    # Regression: pg_restore -l stops reading after the table of contents; the decompressor's
    # broken pipe must not fail a good backup (found by bench/backup-bench.sh on 900 MB).
    psql(host, "INSERT INTO payments (loan_id, amount, paid_at) SELECT 1 + g % 3, 10 + g % 500, now() - g * interval '1 minute' "
               "FROM generate_series(1, 300000) g")
    result = host.run("credinet-backup run")
    assert result.rc == 0, result.stdout
    latest = newest_good(host)
    assert latest["size"] > 256 * 1024
    assert host.run("credinet-backup drill --set %s" % latest["key"]).rc == 0


def test_gzip_is_selectable_and_texts_follow_the_language(host):
    host.run_expect([0], "rm -rf /tmp/gz && mkdir -p /tmp/gz && python3 -c \"import json; c=json.load(open("
                         "'/etc/credinet/backup.json')); c.update(backup_dir='/tmp/gz/sets', compression='gzip', lang='en', "
                         "metrics_dir='', state_dir='/tmp/gz/state', legacy_dirs=[]); json.dump(c, open('/tmp/gz/backup.json', 'w'))\"")
    env = "CREDINET_BACKUP_CONFIG=/tmp/gz/backup.json"
    result = host.run("%s credinet-backup run --no-prune" % env)
    assert result.rc == 0, result.stdout
    (backup,) = json.loads(host.check_output("%s credinet-backup list --json" % env))
    assert backup["status"] == "good"
    assert any(f.endswith(".dump.gz") for f in backup["files"])
    assert host.run("%s credinet-backup verify" % env).rc == 0
    record = json.loads(host.file("/tmp/gz/state/notifications.jsonl").content_string.splitlines()[-1])
    assert record["text"].startswith("Backup OK on ")
