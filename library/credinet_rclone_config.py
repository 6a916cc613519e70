#!/usr/bin/python
"""Ansible module: write rclone.conf without fighting rclone's own token refresh."""

DOCUMENTATION = r"""
module: credinet_rclone_config
short_description: Write an rclone config idempotently (obscured secrets, refreshed tokens kept)
description:
  - Renders the given remotes into an rclone config file (mode 0600, written atomically).
  - Secrets listed in C(obscure) are stored obscured; an existing obscured value that reveals to
    the same secret is kept, so re-runs report no change.
  - An OAuth token already in the file that expires later than the given one (rclone refreshed
    it) is kept.
options:
  path: {description: Config file., type: path, required: true}
  remotes: {description: "{name: {key: value}} of the remotes.", type: dict, required: true}
  obscure:
    description: "{remote: {key: plaintext}} secrets to store obscured."
    type: dict
    default: {}
  rclone: {description: rclone binary., type: path, default: rclone}
"""

EXAMPLES = r"""
- name: Offsite remotes
  credinet_rclone_config:
    path: /root/.config/rclone/rclone.conf
    remotes: "{{ remotes }}"
    obscure: {offsite: {password: "{{ vault_rclone_crypt_password }}"}}
  no_log: true
"""

RETURN = r"""
remotes:
  description: Names of the remotes written.
  returned: always
  type: list
"""

import configparser
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_offsite import render


def existing_value(text, section, key):
    conf = configparser.ConfigParser(interpolation=None)
    try:
        conf.read_string(text)
    except configparser.Error:
        return None
    return conf.get(section, key, fallback=None)


def obscured(module, rclone, plaintext, current):
    if current:
        rc, out, _ = module.run_command([rclone, "reveal", current])
        if rc == 0 and out.rstrip("\n") == plaintext:
            return current
    rc, out, err = module.run_command([rclone, "obscure", "-"], data=plaintext, binary_data=True)
    if rc != 0:
        module.fail_json(msg="rclone obscure failed (exit %d)" % rc)
    return out.strip()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            remotes=dict(type="dict", required=True, no_log=True),
            obscure=dict(type="dict", default={}, no_log=True),
            rclone=dict(type="path", default="rclone"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    current = ""
    if os.path.exists(path):
        with open(path) as fh:
            current = fh.read()
    remotes = {name: {k: str(v) for k, v in section.items()} for name, section in module.params["remotes"].items()}
    for name, secrets in module.params["obscure"].items():
        for key, plaintext in secrets.items():
            remotes.setdefault(name, {})[key] = obscured(module, module.params["rclone"], str(plaintext),
                                                         existing_value(current, name, key))
    text = render(remotes, current)
    changed = text != current
    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".rclone.conf.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    elif os.path.exists(path) and not module.check_mode and (os.stat(path).st_mode & 0o777) != 0o600:
        os.chmod(path, 0o600)
        changed = True
    module.exit_json(changed=changed, remotes=sorted(remotes))


if __name__ == "__main__":
    main()
