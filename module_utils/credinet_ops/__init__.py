"""credinet_ops: the host-side runtime of credinet-ops, one package with one import path per side.

Modules, by concept:
  sets       backup set names and grouping files into sets (local folders and remote listings alike)
  retention  what may be deleted (local and offsite policies, deletion caps, clock sanity)
  manifest   the typed manifest of a backup set: one writer, one reader
  job        what every scheduled job shares: config, log, metrics, lock, notification, atomic writes
  messages   operator texts in Spanish (default) and English, for the commands and the app role
  postgres   the database container, psql sessions, dump/decode streams, table statistics
  rclone     rclone configuration rendering, remote sections, exit codes
  notify     Telegram, Discord and email: escaping, splitting, redaction, routing, retries
  envfile    KEY=VALUE files as Compose and the notifier read them (quoting, merging)
  fingerprint  what role runtime compares to copy this package only when the host's differs

How it is imported (no sys.path manipulation anywhere):
  - inside Ansible (modules, filter and callback plugins): ``from ansible.module_utils.credinet_ops import notify``.
    AnsiballZ ships the package with a module; on the controller `make venv` links it into the venv's
    ansible.module_utils (scripts/link-runtime-package.py).
  - on the hosts (credinet-backup, credinet-offsite, credinet-notify) and in the unit tests:
    ``from credinet_ops import notify``; role `runtime` installs the package for the host's python3,
    `make venv` for the venv's.
Inside the package, imports are relative, so both names load the same code.

Pure standard library, Python >= 3.9 (Debian 12's 3.11, Debian 13's 3.13).
"""
