#!/usr/bin/python
"""Ansible module: the deploy health gate - every URL must answer 200 several times in a row."""

DOCUMENTATION = r"""
module: credinet_health_gate
short_description: Wait until every health URL answers 200 N consecutive times
description:
  - A single 200 is not health: a crash-looping backend answers once between restarts. The gate
    passes only after C(successes) consecutive 200s per URL, C(interval) seconds apart, within
    C(timeout) seconds; any other answer resets that URL's count.
  - Runs on the host (the URLs are usually loopback ports of the stack).
options:
  urls: {description: URLs that must answer 200., type: list, elements: str, required: true}
  successes: {description: Consecutive 200 answers needed per URL., type: int, default: 3}
  interval: {description: Seconds between probes., type: float, default: 2}
  timeout: {description: Seconds before the gate fails., type: int, default: 120}
  request_timeout: {description: Seconds one request may take., type: float, default: 5}
"""

EXAMPLES = r"""
- name: Health gate
  credinet_health_gate:
    urls: [http://127.0.0.1:8000/health]
    successes: 3
"""

RETURN = r"""
results:
  description: Per URL, whether it passed, its consecutive successes and its last answer.
  returned: always
  type: dict
"""

import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def probe(url, timeout):
    """The HTTP status of one GET (0 = no answer) and a short description."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, "HTTP %d" % resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, "HTTP %d" % exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, "%s: %s" % (type(exc).__name__, getattr(exc, "reason", exc))


def gate(urls, successes, interval, timeout, request_timeout, probe=probe, clock=time.monotonic, sleep=time.sleep):
    """{url: {passed, streak, last}}; every URL needs `successes` consecutive 200s before `timeout`."""
    state = {url: {"passed": False, "streak": 0, "last": "not probed"} for url in urls}
    deadline = clock() + timeout
    while True:
        for url, entry in state.items():
            if entry["passed"]:
                continue
            status, entry["last"] = probe(url, request_timeout)
            entry["streak"] = entry["streak"] + 1 if status == 200 else 0
            entry["passed"] = entry["streak"] >= successes
        if all(e["passed"] for e in state.values()) or clock() + interval > deadline:
            return state
        sleep(interval)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            urls=dict(type="list", elements="str", required=True),
            successes=dict(type="int", default=3),
            interval=dict(type="float", default=2),
            timeout=dict(type="int", default=120),
            request_timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, results={})
    needed = max(1, p["successes"])
    results = gate(p["urls"], needed, p["interval"], p["timeout"], p["request_timeout"])
    failed = {u: r for u, r in results.items() if not r["passed"]}
    if failed:
        module.fail_json(msg="health gate failed: %s" % "; ".join(
            "%s (%d consecutive 200s of %d needed, last: %s)" % (u, r["streak"], needed, r["last"])
            for u, r in failed.items()), results=results)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
