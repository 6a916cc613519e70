#!/usr/bin/python
"""Ansible module: write rclone.conf without fighting rclone's own token refresh."""

DOCUMENTATION = r"""
module: credinet_rclone_config
short_description: Write an rclone config idempotently (obscured secrets, refreshed tokens kept)
description:
  - Renders the given remotes into an rclone config file (mode 0600, replaced atomically).
  - Secrets listed in C(obscure) are stored obscured (C(rclone obscure -), the secret on stdin).
  - Whether an obscured value still matches the vault is decided by a salted HMAC (of the secret
    and the obscured value, so a hand-edited value is replaced too) kept in
    C(fingerprint_file) (0600), never by C(rclone reveal), which would show the secret in the
    process list. The first run after an upgrade re-obscures once.
  - An OAuth token already in the file that expires later than the given one (rclone refreshed
    it) is kept.
options:
  path: {description: Config file., type: path, required: true}
  remotes: {description: "{name: {key: value}} of the remotes.", type: dict, required: true}
  obscure:
    description: "{remote: {key: plaintext}} secrets to store obscured."
    type: dict
    default: {}
  fingerprint_file: {description: "Salted HMACs of the obscured secrets (default: path + .fingerprints).", type: path}
  rclone: {description: rclone binary., type: path, default: rclone}
"""

EXAMPLES = r"""
- name: Offsite remotes
  credinet_rclone_config:
    path: /etc/credinet/rclone.conf
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
import json
import os
import secrets

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops import secretfile
from ansible.module_utils.credinet_ops.rclone import fingerprint, render


def existing_value(text, section, key):
    conf = configparser.ConfigParser(interpolation=None)
    try:
        conf.read_string(text)
    except configparser.Error:
        return None
    return conf.get(section, key, fallback=None)


def read_text(path, default=""):
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return default


def read_fingerprints(path):
    try:
        data = json.loads(read_text(path, "{}"))
    except ValueError:
        data = {}
    if not isinstance(data, dict) or not isinstance(data.get("salt"), str) or not isinstance(data.get("values"), dict):
        data = {"salt": secrets.token_hex(16), "values": {}}
    return data


def obscure(module, rclone, plaintext):
    rc, out, _ = module.run_command([rclone, "obscure", "-"], data=plaintext, binary_data=True)
    if rc != 0:
        module.fail_json(msg="rclone obscure failed (exit %d)" % rc)
    return out.strip()


def mark_of(plaintext, obscured, salt):
    """The fingerprint of a secret AND the obscured value stored for it: a rotated vault secret
    and an edited config file both stop matching (the value is then obscured again)."""
    return fingerprint("%s\0%s" % (plaintext, obscured), salt)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            remotes=dict(type="dict", required=True, no_log=True),
            obscure=dict(type="dict", default={}, no_log=True),
            fingerprint_file=dict(type="path"),
            rclone=dict(type="path", default="rclone"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    prints_path = module.params["fingerprint_file"] or path + ".fingerprints"
    current = read_text(path)
    prints = read_fingerprints(prints_path)
    remotes = {name: {k: str(v) for k, v in section.items()} for name, section in module.params["remotes"].items()}
    new_values = {}
    for name, secret_values in module.params["obscure"].items():
        for key, plaintext in secret_values.items():
            slot = "%s.%s" % (name, key)
            kept = existing_value(current, name, key)
            if kept and prints["values"].get(slot) == mark_of(plaintext, kept, prints["salt"]):
                value = kept
            elif module.check_mode:
                value = "(re-obscured)"
            else:
                value = obscure(module, module.params["rclone"], str(plaintext))
            remotes.setdefault(name, {})[key] = value
            new_values[slot] = mark_of(plaintext, value, prints["salt"])
    text = render(remotes, current)
    prints_text = json.dumps({"salt": prints["salt"], "values": new_values}, sort_keys=True) + "\n"
    changed = text != current or (bool(new_values) and prints_text != read_text(prints_path))
    if not module.check_mode:
        if text != current:
            secretfile.replace(module, path, text)
        if bool(new_values) and prints_text != read_text(prints_path):
            secretfile.replace(module, prints_path, prints_text)
        for target in (path, prints_path):
            if os.path.exists(target) and (os.stat(target).st_mode & 0o777) != 0o600:
                os.chmod(target, 0o600)
                changed = True
    module.exit_json(changed=changed, remotes=sorted(remotes))


if __name__ == "__main__":
    main()
