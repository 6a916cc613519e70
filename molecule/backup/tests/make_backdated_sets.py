"""Create backdated backup sets for the retention test (runs on the host, stdlib only).

Default: 7 good sets 61-67 days old, then 60 days of failed runs, plus two legacy files
(one 5 days old, one 90 days old). With argument "normal": 40 daily good sets instead.
"""
import datetime as dt
import json
import os
import sys
import zoneinfo
from pathlib import Path

root = "/tmp/ret"
tz = zoneinfo.ZoneInfo("America/Mexico_City")
now = dt.datetime.now(tz).replace(microsecond=0)
sets_dir = root + "/sets"
for name in os.listdir(sets_dir):
    os.unlink(os.path.join(sets_dir, name))


def make(days_ago, status):
    moment = now - dt.timedelta(days=days_ago)
    key = "credinet_credinet_" + moment.strftime("%Y%m%dT%H%M%S%z")
    suffix = ".failed" if status == "failed" else ""
    Path("%s/%s.dump.zst%s" % (sets_dir, key, suffix)).write_bytes(b"x" * 100)
    entry = {"name": key + ".dump.zst", "size": 100, "sha256": "0" * 64}
    manifest = {"format": 1, "status": status, "key": key, "db": "credinet", "server_image": "postgres:17",
                "files": {"dump": entry, "globals": dict(entry, name=key + ".globals.sql.zst")}, "tables": {}}
    Path("%s/%s.manifest.json" % (sets_dir, key)).write_text(json.dumps(manifest))


if sys.argv[1:] == ["normal"]:
    for day in range(40):
        make(day, "good")
else:
    for day in range(61, 68):
        make(day, "good")
    for day in range(60):
        make(day, "failed")
    for name, days in (("backup_recent.sql.gz", 5), ("backup_old.sql.gz", 90)):
        path = root + "/legacy/" + name
        Path(path).write_bytes(b"gz")
        stamp = (now - dt.timedelta(days=days)).timestamp()
        os.utime(path, (stamp, stamp))
config = json.loads(Path("/etc/credinet/backup.json").read_text())
config.update(backup_dir=sets_dir, legacy_dirs=[root + "/legacy"], metrics_dir="", state_dir=root + "/state",
              lock_file=root + "/lock")
# Pruning 60 days of failed runs at once is this test's point, not the per-run deletion cap's.
config["retention"]["max_deletes"] = 1000
Path(root + "/backup.json").write_text(json.dumps(config))
