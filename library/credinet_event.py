#!/usr/bin/python
"""Ansible module: one deploy event - its operator text from the catalog, an audit line, a notification."""

DOCUMENTATION = r"""
module: credinet_event
short_description: Record and announce a Credinet deploy event (audit log + notifier)
description:
  - Renders the event's text from the runtime message catalog (Spanish by default), appends one
    JSON line to the audit log when C(audit) is given, and hands the text to the notifier.
  - Never fails the play because of the notifier (a deploy must not depend on Telegram); the
    notifier's outcome is returned. Check mode records and sends nothing.
  - Bookkeeping only, so it reports C(changed=false).
options:
  event: {description: Message name in the catalog (deploy_started, deploy_rolled_back, ...)., type: str, required: true}
  level: {description: Severity., type: str, choices: [info, warning, critical], default: info}
  values: {description: Fields of the message (target, previous, backup, failure, ...)., type: dict, default: {}}
  lang: {description: Catalog language., type: str, choices: [es, en], default: es}
  env: {description: Environment shown in the text., type: str, default: ""}
  host: {description: Host shown in the text (default the target's name)., type: str}
  notify_command: {description: The notifier; absent or not executable = not notified., type: path}
  notify_timeout: {description: Seconds the notifier may take., type: int, default: 150}
  audit_file: {description: Audit log (JSON lines, 0640)., type: path}
  audit: {description: Record to append (the event name and text are added)., type: dict}
"""

EXAMPLES = r"""
- name: Announce the deploy
  credinet_event:
    event: deploy_started
    values: {previous: abc123, target: def456}
    lang: "{{ credinet_runtime.lang }}"
    env: prod
    notify_command: /usr/local/bin/credinet-notify
"""

RETURN = r"""
text: {description: The rendered text., returned: always, type: str}
notified: {description: What the notifier did., returned: always, type: str}
"""

import json
import os
import socket
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops import messages


def render(params):
    host = params["host"] or socket.gethostname()
    try:
        return messages.render(params["lang"], params["event"], host=host, env=params["env"], **params["values"])
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # TypeError: `values` repeats host, env, ...
        raise ValueError("message %s: %s" % (params["event"], exc))


def append_audit(path, record):
    os.makedirs(os.path.dirname(path) or ".", mode=0o750, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def notify(command, event, level, text, timeout):
    if not command or not os.access(command, os.X_OK):
        return "notifier not installed"
    try:
        proc = subprocess.run([command, "--event", event, "--level", level, text], capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return "notifier error: %s" % type(exc).__name__
    return "sent" if proc.returncode == 0 else "notifier exit %d" % proc.returncode


def main():
    module = AnsibleModule(
        argument_spec=dict(
            event=dict(type="str", required=True),
            level=dict(type="str", choices=["info", "warning", "critical"], default="info"),
            values=dict(type="dict", default={}),
            lang=dict(type="str", choices=list(messages.LANGUAGES), default="es"),
            env=dict(type="str", default=""),
            host=dict(type="str"),
            notify_command=dict(type="path"),
            notify_timeout=dict(type="int", default=150),
            audit_file=dict(type="path"),
            audit=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        text = render(p)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if module.check_mode:
        module.exit_json(changed=False, text=text, notified="check mode: nothing sent")
    if p["audit_file"] and p["audit"] is not None:
        append_audit(p["audit_file"], dict(p["audit"], event=p["event"], text=text))
    module.exit_json(changed=False, text=text,
                     notified=notify(p["notify_command"], p["event"], p["level"], text, p["notify_timeout"]))


if __name__ == "__main__":
    main()
