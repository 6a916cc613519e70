#!/usr/bin/env bash
# The operators' nightly backup, as it runs today from jair's crontab at 02:00:
#   0 2 * * * /home/jair/proyectos/credinet-v2/scripts/backup-db.sh >> /home/jair/backup.log 2>&1
# pg_dump | gzip into backups/, anything older than 30 days deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a
# shellcheck disable=SC1091
. ./.env
set +a
mkdir -p backups
docker compose exec -T postgres pg_dump -U "${POSTGRES_USER:-credinet}" "${POSTGRES_DB:-credinet}" \
  | gzip > "backups/credinet_backup_$(date +%Y%m%d_%H%M%S).sql.gz"
find backups -name '*.sql.gz' -mtime +30 -delete
