"""Row counts and row-hash checksums of every table of the app's database (runs on a host).

  python3 invariants.py [--project credinet-v2] [--catalog] > before.json

Finds the database container of the Compose project started from the app folder (or the named
project), and prints {"schema.table": "rows checksum"} for every user table, with the session
settings pinned so the same data always hashes alike. Used by the adopt scenario (before and
after the takeover and the first deploy) and the dr scenario (--catalog: also every sequence's
position, every view's definition, every relation's grants and every role but the superuser).
"""
import argparse
import json
import subprocess

APP_DIR = "/home/jair/proyectos/credinet-v2"
CANONICAL = "SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO, YMD'; SET IntervalStyle TO 'postgres'; " \
            "SET extra_float_digits TO 1; SET bytea_output TO 'hex';"


# One "key<TAB>value" line a row (psql -A with a tab separator is not used: values may hold "|").
CATALOG = (
    "SELECT 'sequence ' || quote_ident(schemaname) || '.' || quote_ident(sequencename) || E'\\t' ||"
    " coalesce(last_value::text, 'unused') || ' ' || increment_by FROM pg_sequences ORDER BY 1;",
    "SELECT 'view ' || quote_ident(schemaname) || '.' || quote_ident(viewname) || E'\\t' || md5(definition)"
    " FROM pg_views WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;",
    "SELECT 'grants ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || E'\\t' ||"
    " coalesce(c.relacl::text, 'default') FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'v', 'S') ORDER BY 1;",
    "SELECT 'role ' || quote_ident(rolname) || E'\\t' || rolcanlogin || ' ' || rolinherit FROM pg_roles"
    " WHERE rolname NOT LIKE 'pg\\_%' AND NOT rolsuper ORDER BY 1;",
)


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
    parser.add_argument("--catalog", action="store_true")
    args = parser.parse_args()
    cid = db_container(args.project)
    tables = psql(cid, "SELECT quote_ident(schemaname)||'.'||quote_ident(tablename) FROM pg_tables "
                       "WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1;").splitlines()
    result = {t: psql(cid, "SELECT count(*)||' '||coalesce(sum(hashtextextended(x::text, 0)), 0) FROM %s x;" % t)
              for t in tables}
    if args.catalog:
        for query in CATALOG:
            for line in psql(cid, query).splitlines():
                key, _, value = line.partition("\t")
                result[key] = value
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
