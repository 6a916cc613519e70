#!/usr/bin/python
"""Ansible module: disable the old jobs of a user's crontab that credinet-ops replaced."""

DOCUMENTATION = r"""
module: credinet_crontab_retire
short_description: Comment out a user's crontab lines that a managed job replaces (original kept)
description:
  - Lines of C(user)'s crontab that run a command matching C(pattern) and are not commented
    yet are commented out with a marker naming their replacement, so exactly one job runs.
  - The original crontab is saved (0600) in C(save_dir) before it is changed; nothing else in
    the crontab changes. Lines already retired stay as they are (idempotent).
  - A user without a crontab is fine (nothing to do).
options:
  user: {description: Whose crontab., type: str, required: true}
  pattern: {description: Regular expression matched against each active line., type: str, required: true}
  replacement: {description: What replaces the job (written in the marker)., type: str, required: true}
  save_dir: {description: Where the original crontab is kept (0700 directory)., type: path, required: true}
"""

EXAMPLES = r"""
- name: The old backup script retires
  credinet_crontab_retire:
    user: jair
    pattern: 'backup-db\.sh'
    replacement: credinet-backup.timer (systemctl list-timers)
    save_dir: /var/backups/credinet/retired
"""

RETURN = r"""
retired:
  description: The lines that were commented out, the values of NAME=value words masked (a crontab line may carry a password).
  returned: always
  type: list
saved: {description: The copy of the original crontab., returned: when changed, type: str}
"""

import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

MARKER = "# credinet-ops: disabled on %s, replaced by %s; original crontab in %s: "


def retire(text, pattern, marker):
    """(new text, retired lines): active lines matching `pattern` commented out with `marker`."""
    regex = re.compile(pattern)
    out, retired = [], []
    for line in text.splitlines():
        active = line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]
        if active and regex.search(line):
            retired.append(line)
            out.append(marker + line)
        else:
            out.append(line)
    return ("\n".join(out) + "\n" if out else ""), retired


_ASSIGNMENT = re.compile(r"(?<![^\s;&|])([A-Za-z_][A-Za-z0-9_]*=)(?:'[^']*'|\"[^\"]*\"|\S)*")


def mask_assignments(line):
    """The line as it may be shown: every NAME=value word's value masked (PGPASSWORD=x pg_dump ...)."""
    return _ASSIGNMENT.sub(r"\1***", line)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str", required=True),
            pattern=dict(type="str", required=True),
            replacement=dict(type="str", required=True),
            save_dir=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    crontab = module.get_bin_path("crontab")
    if not crontab:  # no cron on this host: no old job can run
        module.exit_json(changed=False, retired=[])
    rc, current, err = module.run_command([crontab, "-l", "-u", p["user"]])
    if rc != 0:
        if "no crontab" in err.lower() or "does not exist" in err.lower() or "unknown user" in err.lower():
            module.exit_json(changed=False, retired=[])
        module.fail_json(msg="crontab -l -u %s failed: %s" % (p["user"], err.strip()))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    saved = os.path.join(p["save_dir"], "crontab.%s.%s" % (p["user"], stamp))
    new_text, retired = retire(current, p["pattern"], MARKER % (time.strftime("%Y-%m-%d"), p["replacement"], saved))
    if not retired:
        module.exit_json(changed=False, retired=[])
    if not module.check_mode:
        os.makedirs(p["save_dir"], mode=0o700, exist_ok=True)
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(current)
        rc, _, err = module.run_command([crontab, "-u", p["user"], "-"], data=new_text, binary_data=True)
        if rc != 0:
            module.fail_json(msg="installing the new crontab of %s failed: %s (original saved in %s)"
                                 % (p["user"], err.strip(), saved))
    module.exit_json(changed=True, retired=[mask_assignments(line) for line in retired], saved=saved)


if __name__ == "__main__":
    main()
