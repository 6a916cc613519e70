"""Callback: post a summary of every playbook run to the Credinet notification channels.

Enabled in ansible.cfg (callbacks_enabled = credinet_run_summary). Silent unless
CREDINET_NOTIFY_ENV_FILE names a readable notify.env on the controller (same format as
/etc/credinet/notify.env). Never lets a secret into what it sends or displays.
"""
import os
import time

from ansible.module_utils.credinet_ops import notify as cn
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: credinet_run_summary
type: notification
short_description: Post a playbook run summary to Telegram/Discord/email
description:
  - Sends playbook, environment, hosts, ok/changed/failed/unreachable counts, duration and the first failure.
  - Silent when CREDINET_NOTIFY_ENV_FILE is unset or unreadable.
requirements:
  - enable in ansible.cfg callbacks_enabled
"""


def summary_text(playbook, env, stats, duration, first_failure):
    """The Spanish summary sent for one run."""
    lines = ["Playbook: %s" % playbook, "Entorno: %s" % (env or "?"), "Duración: %.0f s" % duration]
    for host, counts in sorted(stats.items()):
        lines.append("%s: ok=%d changed=%d failed=%d unreachable=%d" % (
            host, counts["ok"], counts["changed"], counts["failures"], counts["unreachable"]))
    if first_failure:
        lines.append("Primer fallo: %s" % first_failure)
    return "\n".join(lines)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "credinet_run_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.settings = self._load_settings()
        self.started = time.monotonic()
        self.playbook = "?"
        self.env = ""
        self.first_failure = None

    @staticmethod
    def _load_settings():
        path = os.environ.get("CREDINET_NOTIFY_ENV_FILE", "")
        try:
            with open(path) as fh:
                return cn.parse_env(fh.read())
        except OSError:
            return None

    def v2_playbook_on_start(self, playbook):
        self.playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        # The environment is the group (prod/dev) of the play's hosts; reading variables here
        # would need a templating context the callback does not have.
        inventory = play.get_variable_manager()._inventory
        for host in inventory.get_hosts(play.hosts):
            groups = {g.name for g in host.get_groups()}
            env = next((e for e in ("prod", "dev") if e in groups), "")
            if env:
                self.env = env
                break

    def _record_failure(self, result, kind):
        if self.first_failure is None:
            msg = result._result.get("msg", "") if not result._task.no_log else "(salida oculta: no_log)"
            self.first_failure = "%s en %s: %s (%s)" % (result._task.get_name(), result._host.get_name(),
                                                         cn.truncate(str(msg), 500), kind)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._record_failure(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record_failure(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self.settings:
            return
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        bad = any(s["failures"] or s["unreachable"] for s in summary.values())
        secrets = cn.secrets_of(self.settings)
        text = cn.redact(summary_text(self.playbook, self.env or self.settings.get("CREDINET_ENV", ""), summary,
                                      time.monotonic() - self.started, self.first_failure), secrets)
        try:
            results = cn.dispatch(self.settings, "playbook_failed" if bad else "playbook_completed",
                                  "critical" if bad else "info", text, host="ansible", env=self.env or None)
        except Exception as exc:  # a notifier problem must never break or leak from the run
            self._display.warning("credinet_run_summary: %s" % cn.redact("%s: %s" % (type(exc).__name__, exc), secrets))
            return
        failed = [c for c, r in results.items() if not r["ok"] and not r.get("skipped")]
        if failed:
            self._display.warning("credinet_run_summary: not delivered to %s" % ", ".join(
                "%s (%s)" % (c, results[c]["detail"]) for c in failed))
