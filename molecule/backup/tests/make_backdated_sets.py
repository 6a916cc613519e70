"""Create backdated backup sets for the retention test (runs on the host, stdlib only).

Default: 7 good sets 61-67 days old, then 60 days of failed runs, plus two legacy files
(one 5 days old, one 90 days old). With argument "normal": 40 daily good sets instead.
"""
import datetime as dt
import json
import os
import sys
import zoneinfo

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
    open("%s/%s.dump.zst%s" % (sets_dir, key, suffix), "wb").write(b"x" * 100)
    json.dump({"status": status}, open("%s/%s.manifest.json" % (sets_dir, key), "w"))


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
        open(path, "wb").write(b"gz")
        stamp = (now - dt.timedelta(days=days)).timestamp()
        os.utime(path, (stamp, stamp))
config = json.load(open("/etc/credinet/backup.json"))
config.update(backup_dir=sets_dir, legacy_dirs=[root + "/legacy"], metrics_dir="", state_dir=root + "/state",
              lock_file=root + "/lock")
json.dump(config, open(root + "/backup.json", "w"))
