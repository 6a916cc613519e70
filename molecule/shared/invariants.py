"""Row counts and row-hash checksums of every table of the app's database (runs on a host).

  python3 invariants.py [--project credinet-v2] > before.json

Finds the database container of the Compose project started from the app folder (or the named
project), and prints {"schema.table": "rows checksum"} for every user table, with the session
settings pinned so the same data always hashes alike. Used by the adopt scenario (before and
after the takeover and the first deploy).
"""
import argparse
import json
import subprocess

APP_DIR = "/home/jair/proyectos/credinet-v2"
CANONICAL = "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET IntervalStyle TO 'postgres'; " \
            "SET extra_float_digits TO 1; SET bytea_output TO 'hex';"


def db_container(project):
    label = "com.docker.compose.project=%s" % project if project else \
        "com.docker.compose.project.working_dir=%s" % APP_DIR
    out = subprocess.run(["docker", "ps", "-q", "--filter", "label=" + label,
                          "--filter", "label=com.docker.compose.service=postgres"],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        raise SystemExit("no running database container (%s)" % label)
    return out[0]


def psql(cid, sql):
    return subprocess.run(["docker", "exec", "-i", cid, "psql", "-qAtX", "-U", "credinet", "-d", "credinet"],
                          input=CANONICAL + sql, capture_output=True, text=True, check=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="")
    args = parser.parse_args()
    cid = db_container(args.project)
    tables = psql(cid, "SELECT quote_ident(schemaname)||'.'||quote_ident(tablename) FROM pg_tables "
                       "WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1;").splitlines()
    result = {t: psql(cid, "SELECT count(*)||' '||coalesce(sum(hashtextextended(x::text, 0)), 0) FROM %s x;" % t)
              for t in tables}
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
