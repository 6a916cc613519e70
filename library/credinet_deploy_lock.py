#!/usr/bin/python
"""Ansible module: the deploy lock of a Credinet host (one deploy or rollback at a time)."""

DOCUMENTATION = r"""
module: credinet_deploy_lock
short_description: Take or release the deploy lock on the host (atomic, owner token, stale takeover)
description:
  - The lock is a directory made with mkdir (atomic) holding owner.json with a random token.
  - Ages are measured with the host's clock (the controller's may differ); a lock without
    owner.json ages by its directory's mtime, so it can never block forever.
  - A stale lock is taken over by an atomic rename that is checked afterwards: two deploys that
    both find the same stale lock cannot both take it.
  - Release needs the owner's token: a run never removes a lock it does not hold.
  - The stale age is at least what a pre-deploy backup can take (the backup job's lock wait
    plus its run timeout, read from the backup configuration on the host) plus a margin.
options:
  path: {description: Lock directory., type: path, required: true}
  state: {description: acquired or released., type: str, choices: [acquired, released], required: true}
  token: {description: Owner token (released)., type: str, no_log: false}
  owner: {description: Who deploys (shown to the next one)., type: str, default: unknown}
  target: {description: Commit being deployed., type: str, default: ""}
  ref: {description: Branch being deployed., type: str, default: ""}
  stale_after: {description: Seconds after which a lock is abandoned., type: int, default: 1800}
  backup_config: {description: credinet-backup settings whose lock wait and run timeout raise stale_after., type: path}
  host: {description: Host name used in messages (the inventory name)., type: str}
"""

EXAMPLES = r"""
- name: Take the deploy lock
  credinet_deploy_lock:
    path: /var/lib/credinet-deploy/lock
    state: acquired
    owner: ana@laptop
  register: lock
"""

RETURN = r"""
token: {description: Owner token (acquired)., returned: success, type: str}
took_over: {description: The stale holder that was replaced, if any., returned: success, type: dict}
holder: {description: Who holds the lock (on failure)., returned: failure, type: dict}
stale_after: {description: The stale age used., returned: always, type: int}
"""

import contextlib
import json
import os
import secrets
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

OWNER = "owner.json"
MARGIN_SECONDS = 600


class Held(Exception):
    def __init__(self, holder, age):
        super().__init__("held")
        self.holder, self.age = holder, age


def read_owner(lock_dir):
    try:
        with open(os.path.join(lock_dir, OWNER)) as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def lock_age(lock_dir, owner, now):
    started = owner.get("epoch") if owner else None
    if not isinstance(started, (int, float)):
        started = os.stat(lock_dir).st_mtime
    return now - started


def _create(lock_dir, info, now):
    os.mkdir(lock_dir, 0o750)
    token = secrets.token_hex(16)
    with open(os.path.join(lock_dir, OWNER), "w") as fh:
        json.dump(dict(info, token=token, epoch=now, time=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now))), fh)
    return token


def _take_over(lock_dir, observed, stale_after, now):
    """Move the stale lock we observed out of the way. False when what we moved was not it: a
    newer lock replaced it meanwhile (a new token, or a directory just made whose owner.json is
    not written yet, which only its age tells apart from a stale lock without owner.json); that
    one is put back untouched."""
    moved = "%s.stale-%s" % (lock_dir, secrets.token_hex(8))
    try:
        os.rename(lock_dir, moved)
    except FileNotFoundError:  # released or taken over meanwhile
        return False
    moved_owner = read_owner(moved)
    if (moved_owner or {}).get("token") != (observed or {}).get("token") or lock_age(moved, moved_owner, now) < stale_after:
        with contextlib.suppress(OSError):
            os.rename(moved, lock_dir)
        return False
    shutil.rmtree(moved, ignore_errors=True)
    return True


def acquire(lock_dir, info, stale_after, now=None, attempts=3):
    """(token, replaced stale holder or None); raises Held when a live deploy holds the lock."""
    now = time.time() if now is None else now
    for _ in range(attempts):
        try:
            return _create(lock_dir, info, now), None
        except FileExistsError:
            pass
        observed = read_owner(lock_dir)
        try:
            age = lock_age(lock_dir, observed, now)
        except FileNotFoundError:  # released between our mkdir and our look: try again
            continue
        if age < stale_after:
            raise Held(observed or {}, age)
        if not _take_over(lock_dir, observed, stale_after, now):
            raise Held(read_owner(lock_dir) or {}, 0)
        try:
            return _create(lock_dir, info, now), observed or {"owner": "unknown (no owner.json)"}
        except FileExistsError:
            raise Held(read_owner(lock_dir) or {}, 0)
    raise Held(read_owner(lock_dir) or {}, 0)


def release(lock_dir, token):
    """True when this token's lock was removed; False when the lock is absent or someone else's."""
    owner = read_owner(lock_dir)
    if not token or not owner or owner.get("token") != token:
        return False
    shutil.rmtree(lock_dir)
    return True


def backup_floor(path):
    """Seconds a pre-deploy backup may take at most, from the backup job's settings (0 if unknown)."""
    try:
        with open(path) as fh:
            cfg = json.load(fh)
        # The defaults are credinet-backup's own.
        return int(cfg.get("lock_wait_seconds", 900)) + int(cfg.get("run_timeout_seconds", 10800)) + MARGIN_SECONDS
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["acquired", "released"], required=True),
            token=dict(type="str", no_log=False),
            owner=dict(type="str", default="unknown"),
            target=dict(type="str", default=""),
            ref=dict(type="str", default=""),
            stale_after=dict(type="int", default=1800),
            backup_config=dict(type="path"),
            host=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    stale_after = max(p["stale_after"], backup_floor(p["backup_config"]) if p["backup_config"] else 0)
    if module.check_mode:
        module.exit_json(changed=False, token="", stale_after=stale_after, holder=read_owner(p["path"]))
    if p["state"] == "released":
        module.exit_json(changed=False, released=release(p["path"], p["token"]), stale_after=stale_after)
    os.makedirs(os.path.dirname(p["path"]), mode=0o750, exist_ok=True)
    info = {"owner": p["owner"], "target": p["target"], "ref": p["ref"]}
    try:
        token, took_over = acquire(p["path"], info, stale_after)
    except Held as held:
        module.fail_json(msg="Another deploy holds the lock on %s: %s since %s, deploying %s (%d s ago; "
                             "considered stale after %d s, %s)." % (
                                 p["host"] or os.uname().nodename, held.holder.get("owner", "unknown"), held.holder.get("time", "unknown"),
                                 held.holder.get("target") or "?", held.age, stale_after, p["path"]),
                         holder=held.holder, stale_after=stale_after)
    module.exit_json(changed=False, token=token, took_over=took_over, stale_after=stale_after)


if __name__ == "__main__":
    main()
