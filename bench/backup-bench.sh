#!/usr/bin/env bash
# Backup benchmark on the sandbox prod host (run `make sandbox` first):
# fills the fixture database with a synthetic lending data set (>= 500 MB by default), then
# compares, in one run, the seed's `pg_dump | gzip` with `credinet-backup run` (pg_dump -Fc -Z0
# | zstd, plus verification) and with the floor (a bare pg_dump -Fc -Z0 to /dev/null), and the restore time (restore drill into a throwaway container).
# A measurement, not a test: it prints a table and asserts nothing about speed.
#   PAYMENTS=9000000 bash bench/backup-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-sandbox-prod}
USERS=${USERS:-300000}
LOANS=${LOANS:-900000}
PAYMENTS=${PAYMENTS:-9000000}
in_host() { docker exec "$HOST" bash -c "$1"; }
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

command -v bc >/dev/null || { apt-get install -y -qq bc >/dev/null; }
docker inspect "$HOST" >/dev/null 2>&1 || { echo "no $HOST: run make sandbox first" >&2; exit 1; }

echo "==> the app deployed on $HOST (playbooks/deploy.yml)"
.venv/bin/ansible-playbook -i inventories/sandbox -l "$HOST" playbooks/deploy.yml >/dev/null
# The project the backup command uses (discovered by role runtime, not assumed).
PROJECT=$(in_host "python3 -c 'import json; print(json.load(open(\"/etc/credinet/backup.json\"))[\"compose_project\"])'")
PG=$(in_host "docker ps -q --filter label=com.docker.compose.project=$PROJECT --filter label=com.docker.compose.service=postgres")
[ -n "$PG" ] || { echo "no running postgres container of project $PROJECT on $HOST" >&2; exit 1; }
psql_() { docker exec -i "$HOST" docker exec -i "$PG" psql -qAtX -v ON_ERROR_STOP=1 -U credinet -d credinet <<<"$1"; }

size=$(psql_ "SELECT pg_database_size('credinet')")
[ -n "$size" ] || { echo "cannot read the database size" >&2; exit 1; }
if [ "$size" -lt 500000000 ]; then
  echo "==> generating $USERS users, $LOANS loans, $PAYMENTS payments (takes a few minutes)"
  psql_ "
    TRUNCATE payments, loans, users RESTART IDENTITY CASCADE;
    INSERT INTO users (email, full_name, created_at)
      SELECT 'user' || g || '@example.test', 'Cliente ' || g, now() - (g % 1000) * interval '1 day'
      FROM generate_series(1, $USERS) g;
    INSERT INTO loans (user_id, principal, rate, status, created_at)
      SELECT 1 + (g % $USERS), 1000 + (g % 50000), 0.03 + (g % 30) / 1000.0,
             (ARRAY['active','paid','late'])[1 + g % 3], now() - (g % 700) * interval '1 day'
      FROM generate_series(1, $LOANS) g;
    INSERT INTO payments (loan_id, amount, paid_at)
      SELECT 1 + (g % $LOANS), 50 + (g % 5000) / 10.0, now() - (g % 600) * interval '1 day'
      FROM generate_series(1, $PAYMENTS) g;
    ANALYZE;"
  size=$(psql_ "SELECT pg_database_size('credinet')")
fi
echo "    database size: $((size / 1000000)) MB"

echo "==> seed: pg_dump | gzip"
t0=$(now)
in_host "docker exec $PG pg_dump -U credinet credinet | gzip > /tmp/seed-bench.sql.gz"
seed_time=$(elapsed "$t0" "$(now)")
seed_size=$(in_host "stat -c %s /tmp/seed-bench.sql.gz")
in_host "rm -f /tmp/seed-bench.sql.gz"

echo "==> floor: pg_dump -Fc -Z0 > /dev/null (no compression, no file, no check; in 1 MiB blocks as ours)"
t0=$(now)
in_host "docker exec $PG sh -c 'pg_dump -U credinet -Fc -Z0 credinet | dd bs=1M iflag=fullblock status=none' >/dev/null"
floor_time=$(elapsed "$t0" "$(now)")

echo "==> credinet-backup run (dump + verify)"
t0=$(now)
in_host "credinet-backup run --no-prune >/tmp/bench-run.log 2>&1" || { in_host "cat /tmp/bench-run.log"; exit 1; }
ours_time=$(elapsed "$t0" "$(now)")
key=$(in_host "credinet-backup list --json" | python3 -c 'import json,sys; print([s["key"] for s in json.load(sys.stdin) if s["status"]=="good"][-1])')
manifest=$(in_host "cat /var/backups/credinet/$key.manifest.json")
read -r ours_size dump_s total_s < <(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(m["files"]["dump"]["size"], m["dump_seconds"], m["duration_seconds"])' "$manifest")
verify_s=$(echo "$total_s - $dump_s" | bc)

echo "==> restore drill (restore into a throwaway container + checksums)"
t0=$(now)
in_host "credinet-backup drill --set $key >/tmp/bench-drill.log 2>&1" || { in_host "cat /tmp/bench-drill.log"; exit 1; }
drill_time=$(elapsed "$t0" "$(now)")

echo "==> restore baseline: pg_restore -j2 of a seekable custom dump, and ours (one stream from the set)"
pg_in() { in_host "docker exec $PG $1"; }
pg_in "pg_dump -U credinet -Fc -Z0 -f /tmp/bench.dump credinet"
pg_in "dropdb -U credinet --if-exists bench_restore"
pg_in "createdb -U credinet bench_restore"
t0=$(now)
pg_in "pg_restore -U credinet -j2 --no-owner -d bench_restore /tmp/bench.dump"
base_restore=$(elapsed "$t0" "$(now)")
pg_in "dropdb -U credinet bench_restore"
pg_in "rm -f /tmp/bench.dump"
pg_in "createdb -U credinet bench_restore"
dump_file=$(in_host "credinet-backup list --json" | python3 -c '
import json, os, sys
name = json.loads(sys.argv[1])["files"]["dump"]["name"]
print(next(f for s in json.load(sys.stdin) if s["key"] == sys.argv[2] for f in s["files"] if os.path.basename(f) == os.path.basename(name)))' "$manifest" "$key")
t0=$(now)
in_host "zstd -dcq $dump_file | docker exec -i $PG pg_restore -U credinet --exit-on-error --no-owner -d bench_restore"
ours_restore=$(elapsed "$t0" "$(now)")
pg_in "dropdb -U credinet bench_restore"

echo "==> credinet-backup restore (end to end: sha256, restore into a new database, every table compared, swap, app back)"
t0=$(now)
in_host "credinet-backup restore --set $key --yes >/tmp/bench-restore.log 2>&1" || { in_host "cat /tmp/bench-restore.log"; exit 1; }
real_restore=$(elapsed "$t0" "$(now)")
# The restore keeps the data it replaced (same rows here): dropped, so later benches see one copy.
previous=$(in_host "sed -n 's/.*previous data kept as database \([A-Za-z0-9_]*\).*/\1/p' /tmp/bench-restore.log" | tail -1)
[ -z "$previous" ] || pg_in "dropdb -U credinet $previous"

printf '\n%-44s %10s %10s\n' "step (database $((size / 1000000)) MB)" "seconds" "MB"
printf '%-44s %10.1f %10.1f\n' "seed: pg_dump | gzip" "$seed_time" "$(echo "$seed_size / 1000000" | bc -l)"
printf '%-44s %10.1f %10s\n' "floor: pg_dump -Fc -Z0 | dd bs=1M > /dev/null" "$floor_time" "-"
printf '%-44s %10.1f %10.1f\n' "credinet-backup: snapshot, pg_dump -Fc | zstd" "$dump_s" "$(echo "$ours_size / 1000000" | bc -l)"
printf '%-44s %10.1f %10s\n' "credinet-backup: verify (sha256, full decode)" "$verify_s" "-"
printf '%-44s %10.1f %10s\n' "credinet-backup run, end to end" "$ours_time" "-"
printf '%-44s %10.1f %10s\n' "restore drill (restore + checksum compare)" "$drill_time" "-"
printf '%-44s %10.1f %10s\n' "baseline: pg_restore -j2 (seekable dump)" "$base_restore" "-"
printf '%-44s %10.1f %10s\n' "ours: set -> pg_restore, one stream" "$ours_restore" "-"
printf '%-44s %10.1f %10s\n' "credinet-backup restore, end to end" "$real_restore" "-"

ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\n%-44s %10s %10s\n' "goal (issue #15)" "measured" "goal"
printf '%-44s %9sx %9sx\n' "backup run time / pg_dump | gzip" "$(ratio "$ours_time" "$seed_time")" "1.0"
printf '%-44s %9sx %9s\n' "backup run time / floor (for reference)" "$(ratio "$ours_time" "$floor_time")" "-"
printf '%-44s %9sx %9sx\n' "backup size / pg_dump | gzip" "$(ratio "$ours_size" "$seed_size")" "0.5"
printf '%-44s %9sx %9sx\n' "our restore / pg_restore -j2" "$(ratio "$ours_restore" "$base_restore")" "1.2"
printf '%-44s %9sx %9s\n' "restore end to end / pg_restore -j2" "$(ratio "$real_restore" "$base_restore")" "-"
printf '%-44s %9sx %9s\n' "restore drill / pg_restore -j2" "$(ratio "$drill_time" "$base_restore")" "-"
