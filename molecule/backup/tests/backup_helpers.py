"""Helpers shared by the backup scenario's test files."""
import json
import shlex


def side_config(host, name, **changes):
    """A copy of backup.json with `changes`, in /tmp/<name>; returns the env prefix that selects it."""
    base = "/tmp/%s" % name
    host.run_expect([0], "rm -rf %s && mkdir -p %s/sets %s/state" % (base, base, base))
    script = ("import json,sys; c=json.load(open('/etc/credinet/backup.json')); c.update(json.loads(sys.argv[1])); "
              "json.dump(c, open('%s/backup.json', 'w'))" % base)
    settings = dict({"backup_dir": base + "/sets", "state_dir": base + "/state", "metrics_dir": "", "legacy_dirs": []},
                    **changes)
    host.run_expect([0], "python3 -c %s %s" % (shlex.quote(script), shlex.quote(json.dumps(settings))))
    return "CREDINET_BACKUP_CONFIG=%s/backup.json" % base
