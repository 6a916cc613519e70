#!/usr/bin/python
"""Ansible module: send a Credinet notification to the routed channels."""

DOCUMENTATION = r"""
module: credinet_notify
short_description: Send a Credinet notification (Telegram, Discord, email)
description:
  - Sends one event to the channels routed for it, each channel isolated from the others.
  - In check mode it reports what it would send and sends nothing.
  - No secret reaches the result, also not URL-encoded or inside error texts.
options:
  event: {description: Event name (backup_failed, deploy_started, ...)., type: str, required: true}
  level: {description: Severity., type: str, choices: [info, warning, critical], default: info}
  text: {description: Message body., type: str, required: true}
  settings:
    description: The notifier settings (the keys of /etc/credinet/notify.env).
    type: dict
    required: true
  channels:
    description: Channels to use instead of the routing; C(all) means every configured one.
    type: list
    elements: str
  host: {description: Host name shown in the message (default the target's name)., type: str}
  fail_on_error: {description: Fail when a channel fails (default only report it)., type: bool, default: false}
"""

EXAMPLES = r"""
- name: Tell the group a deploy started
  credinet_notify:
    event: deploy_started
    level: info
    text: "Desplegando {{ sha }}"
    settings: "{{ notify_settings }}"
  no_log: true
"""

RETURN = r"""
delivery:
  description: Per channel, whether it was accepted and a redacted detail.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops.notify import CHANNELS, LEVELS, configured_channels, dispatch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            event=dict(type="str", required=True),
            level=dict(type="str", choices=list(LEVELS), default="info"),
            text=dict(type="str", required=True),
            settings=dict(type="dict", required=True, no_log=True),
            channels=dict(type="list", elements="str"),
            host=dict(type="str"),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    settings = {k: "" if v is None else str(v) for k, v in p["settings"].items()}
    channels = p["channels"]
    if channels == ["all"]:
        channels = configured_channels(settings)
    unknown = [c for c in channels or [] if c not in CHANNELS]
    if unknown:
        module.fail_json(msg="unknown channel(s): %s (known: %s)" % (", ".join(unknown), ", ".join(CHANNELS)))
    results = dispatch(settings, p["event"], p["level"], p["text"], host=p["host"], channels=channels,
                       dry_run=module.check_mode)
    attempted = {c: r for c, r in results.items() if not r.get("skipped")}
    failed = [c for c, r in attempted.items() if not r["ok"]]
    sent = bool(attempted) and not module.check_mode and len(failed) < len(attempted)
    if failed and p["fail_on_error"]:
        module.fail_json(msg="notification failed on: %s" % ", ".join(failed), delivery=results)
    module.exit_json(changed=sent, delivery=results, failed_channels=failed)


if __name__ == "__main__":
    main()
