#!/usr/bin/python
"""Ansible module: merge managed keys into a Compose .env file without clobbering it."""

DOCUMENTATION = r"""
module: credinet_env_file
short_description: Merge managed KEY=VALUE settings into a .env file (Compose quoting, never clobbering)
description:
  - Managed keys are set (single-quoted, so Compose reads them literally); every other line
    (unmanaged keys, comments, order) is kept as it was.
  - A key listed in C(keep_when_empty) whose managed value is empty keeps its current value: an
    empty vault entry never blanks a working token. Such keys are returned in C(kept_keys).
  - Keys listed in C(frozen) are never changed once C(frozen_active) (an initialised database):
    a different value fails the task before anything is written, with how to change it on purpose.
  - Values with a line break are refused before anything is written.
  - The previous file is copied (0600) to C(previous_dir) before it is replaced; only key
    NAMES are returned, never values.
options:
  path: {description: The .env file., type: path, required: true}
  managed: {description: "{KEY: value} this role owns.", type: dict, required: true, no_log: true}
  keep_when_empty: {description: Keys whose empty managed value keeps the current one., type: list, elements: str, default: []}
  frozen: {description: Keys that must not change once frozen_active., type: list, elements: str, default: []}
  frozen_active: {description: Whether the frozen keys are frozen now., type: bool, default: false}
  frozen_hint: {description: Text appended to the frozen-key error (how to rotate on purpose)., type: str, default: ""}
  frozen_container:
    description:
      - The running database container; its environment is what the database was created with, also
        when the .env does not list the key (Compose defaults, a value typed in the shell). Compared inside
        the module, so the password never leaves the host.
    type: str
    default: ""
  previous_dir: {description: Where the replaced file is kept (0700 directory)., type: path}
  previous_keep: {description: How many copies of replaced files stay in previous_dir (the newest)., type: int, default: 10}
  owner: {description: Owner of the file., type: str}
  group: {description: Group of the file., type: str}
  mode: {description: Mode of the file., type: raw, default: "0600"}
"""

EXAMPLES = r"""
- name: The app .env
  credinet_env_file:
    path: /home/jair/proyectos/credinet-v2/.env
    managed: {TZ: America/Mexico_City, TELEGRAM_BOT_TOKEN: "{{ vault_telegram_bot_token }}"}
    keep_when_empty: [TELEGRAM_BOT_TOKEN]
    owner: jair
  no_log: true
"""

RETURN = r"""
changed_keys: {description: Names of the keys whose value changed., returned: always, type: list}
kept_keys: {description: Names of keys kept because their managed value was empty., returned: always, type: list}
previous_copy: {description: Where the replaced file was kept., returned: when changed, type: str}
"""

import itertools
import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops import envfile, secretfile


def frozen_conflicts(current, managed, frozen):
    """Frozen keys whose current non-empty value the managed value would change."""
    return [k for k in frozen if current.get(k, "") != "" and str(managed.get(k, "")) not in ("", current.get(k))]


def container_env(module, container):
    """{KEY: value} of a container's environment ({} when it cannot be read)."""
    if not container:
        return {}
    rc, out, _ = module.run_command(["docker", "inspect", "-f", "{{json .Config.Env}}", container])
    try:
        return dict(e.split("=", 1) for e in json.loads(out) if "=" in e) if rc == 0 else {}
    except (ValueError, TypeError):
        return {}


def keep_previous(path, previous_dir, keep):
    """A 0600 copy of the file about to be replaced (created 0600: never readable by others, not
    even for a moment; a second change in the same second gets its own copy); the newest `keep`
    copies stay, older ones (old secrets) go."""
    os.makedirs(previous_dir, mode=0o700, exist_ok=True)
    prefix = (os.path.basename(path).lstrip(".") or "env") + "."
    now = time.time()
    base = os.path.join(previous_dir, prefix + time.strftime("%Y%m%dT%H%M%S", time.localtime(now))
                        + ".%06d" % int(now % 1 * 1e6))
    for n in itertools.count():
        copy = base if n == 0 else "%s-%d" % (base, n)
        try:
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
        shutil.copyfileobj(src, out)
    # The copy just made always stays (after a clock jump back its name sorts first).
    others = sorted(n for n in os.listdir(previous_dir) if n.startswith(prefix) and n != os.path.basename(copy))
    for name in others[:len(others) - (keep - 1)] if keep > 0 else []:
        os.unlink(os.path.join(previous_dir, name))
    return copy


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            managed=dict(type="dict", required=True, no_log=True),
            keep_when_empty=dict(type="list", elements="str", default=[]),
            frozen=dict(type="list", elements="str", default=[]),
            frozen_active=dict(type="bool", default=False),
            frozen_hint=dict(type="str", default=""),
            frozen_container=dict(type="str", default=""),
            previous_dir=dict(type="path"),
            previous_keep=dict(type="int", default=10),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw", default="0600"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    managed = {k: "" if v is None else str(v) for k, v in p["managed"].items()}
    errors = [e for k, v in managed.items() for e in envfile.check_value(k, v)]
    if errors:
        module.fail_json(msg="Refusing to write %s: %s. Nothing was changed." % (p["path"], "; ".join(errors)))
    try:
        # A hand-written .env may hold Latin-1 bytes (contraseña in a comment): kept byte for byte.
        with open(p["path"], encoding="utf-8", errors="surrogateescape") as fh:
            current_text = fh.read()
    except FileNotFoundError:
        current_text = ""
    current = envfile.parse(current_text)
    if p["frozen_active"]:
        conflicts = sorted(set(frozen_conflicts(current, managed, p["frozen"]))
                           | set(frozen_conflicts(container_env(module, p["frozen_container"]), managed, p["frozen"])))
        if conflicts:
            module.fail_json(msg="%s: %s would change for a database that already holds data; a converge never "
                                 "changes it. %s Nothing was changed." % (p["path"], ", ".join(conflicts), p["frozen_hint"]),
                             frozen_keys=conflicts)
    # An empty value is no opinion, as frozen_conflicts assumes: it never blanks a frozen key.
    keep_when_empty = set(p["keep_when_empty"]) | (set(p["frozen"]) if p["frozen_active"] else set())
    new_text, changed_keys, kept_keys = envfile.merge(current_text, managed, keep_when_empty=keep_when_empty)
    result = {"changed_keys": changed_keys, "kept_keys": kept_keys}
    changed = new_text != current_text
    if changed and not module.check_mode:
        if current_text and p["previous_dir"]:
            result["previous_copy"] = keep_previous(p["path"], p["previous_dir"], p["previous_keep"])
        secretfile.replace(module, p["path"], new_text)
    if os.path.exists(p["path"]) and not module.check_mode:
        file_args = module.load_file_common_arguments(
            {"path": p["path"], "owner": p["owner"], "group": p["group"], "mode": p["mode"]})
        changed = module.set_fs_attributes_if_different(file_args, changed)
    if kept_keys:
        module.warn("kept the current value of %s: the managed value is empty" % ", ".join(kept_keys))
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
