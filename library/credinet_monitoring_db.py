#!/usr/bin/python
"""Ansible module: the least-privilege PostgreSQL login postgres_exporter uses, and where it connects."""

DOCUMENTATION = r"""
module: credinet_monitoring_db
short_description: Ensure a pg_monitor login for postgres_exporter in the app's database container
description:
  - Finds the running database container of the app's Compose project, its database and the
    Docker network the exporter must join to reach it by service name.
  - Keeps the login's password in C(password_file) on the host (generated once, 0600, owned by
    the exporter's user). The server only ever gets its SCRAM-SHA-256 verifier, computed here
    (the password itself never reaches PostgreSQL, its logs or pg_stat_activity), on psql's
    stdin, with statement logging off for that session.
  - Creates the role (LOGIN, no other attribute, member of pg_monitor, 3 connections at most) or
    repairs it; the role's comment carries a SHA-256 of the password, so a converge knows without
    logging in whether the password is current.
  - Fails (nothing changed) when the database container is not running.
  - Supports check mode (reports what it would change).
options:
  project: {description: The app's Compose project., type: str, required: true}
  db_service: {description: Compose service of PostgreSQL., type: str, default: postgres}
  role: {description: Name of the login role., type: str, default: credinet_monitor}
  password_file: {description: Host file with the login's password., type: path, required: true}
  password_owner: {description: Numeric owner of the password file (the exporter's user)., type: int, default: 65534}
"""

RETURN = r"""
container: {description: Id of the database container., returned: success, type: str}
network: {description: Docker network of the database container the exporter joins., returned: success, type: str}
db_name: {description: The app's database (POSTGRES_DB)., returned: success, type: str}
actions: {description: What was (or would be) done., returned: always, type: list, elements: str}
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops import postgres, secretfile
from ansible.module_utils.credinet_ops.job import JobError

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
COMMENT_PREFIX = "credinet-ops monitoring login; password sha256:"


def password_comment(password):
    return COMMENT_PREFIX + hashlib.sha256(password.encode()).hexdigest()


def scram_verifier(password, salt=None, iterations=4096):
    """PostgreSQL's SCRAM-SHA-256 verifier of `password` (RFC 7677), as pg_authid stores it:
    ALTER ROLE ... PASSWORD '<verifier>' sets the password without the server seeing it."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731 - local shorthand
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


def choose_network(networks, project):
    """The project's default network when the container is on it, else the first by name."""
    if not networks:
        return ""
    preferred = "%s_default" % project
    return preferred if preferred in networks else sorted(networks)[0]


def role_state_sql(role):
    """One row: 'absent', or '<member of pg_monitor 0|1>:<comment>'."""
    literal = postgres.quote_literal(role)
    return ("SELECT coalesce((SELECT pg_has_role(oid, 'pg_monitor', 'MEMBER')::int || ':' "
            "|| coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = %s), 'absent')" % literal)


def plan(state, role, password):
    """(actions, SQL statements) that bring the role from `state` (role_state_sql's row) to what it must be."""
    ident, secret = postgres.quote_ident(role), postgres.quote_literal(scram_verifier(password))
    comment = "COMMENT ON ROLE %s IS %s" % (ident, postgres.quote_literal(password_comment(password)))
    if state == "absent":
        return (["create role %s" % role],
                ["CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                 "CONNECTION LIMIT 3 PASSWORD %s" % (ident, secret), "GRANT pg_monitor TO %s" % ident, comment])
    member, _, current = state.partition(":")
    actions, statements = [], []
    if member != "1":
        actions.append("grant pg_monitor")
        statements.append("GRANT pg_monitor TO %s" % ident)
    if current != password_comment(password):
        actions.append("set password")
        statements += ["ALTER ROLE %s PASSWORD %s" % (ident, secret), comment]
    return actions, statements


def read_or_create_password(module, path, owner):
    """(password, created): the file's first line, or a new random one written 0600."""
    if os.path.exists(path):
        with open(path) as fh:
            value = fh.readline().strip()
        if value:
            return value, False
    value = secrets.token_urlsafe(32)
    if not module.check_mode:
        secretfile.replace(module, path, value + "\n")
        os.chown(path, owner, owner)
    return value, True


def hide(text, password):
    """psql quotes a failing statement: never let the password out with it."""
    if not password:
        return text
    return text.replace(password.replace("'", "''"), "********").replace(password, "********")


def container_details(cid):
    info = json.loads(postgres.run(["docker", "inspect", cid]).stdout)[0]
    env = dict(e.split("=", 1) for e in info["Config"]["Env"] if "=" in e)
    return env, list((info.get("NetworkSettings") or {}).get("Networks") or {})


def main():
    module = AnsibleModule(
        argument_spec=dict(
            project=dict(type="str", required=True),
            db_service=dict(type="str", default="postgres"),
            role=dict(type="str", default="credinet_monitor"),
            password_file=dict(type="path", required=True),
            password_owner=dict(type="int", default=65534),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not ROLE_NAME.match(p["role"]):
        module.fail_json(msg="role %r is not a plain lower-case PostgreSQL name. Nothing was changed." % p["role"], actions=[])
    ids = postgres.compose_containers(p["project"], p["db_service"])
    if not ids:
        module.fail_json(msg="the database container (project %r, service %r) is not running: start the app first, or set "
                             "monitoring_postgres_exporter_enabled: false. Nothing was changed." % (p["project"], p["db_service"]),
                         actions=[])
    try:
        env, networks = container_details(ids[0])
        network = choose_network(networks, p["project"])
        if not network:
            module.fail_json(msg="the database container is on no Docker network the exporter could join. Nothing was changed.",
                             actions=[])
        user, db_name = postgres.db_identity({}, {"env": env})
        password, created = read_or_create_password(module, p["password_file"], p["password_owner"])
        actions = ["create password file"] if created else []
        with postgres.Psql(ids[0], user, db_name) as session:
            state = session.query(role_state_sql(p["role"]))[0]
            role_actions, statements = plan(state, p["role"], password)
            actions += role_actions
            if statements and not module.check_mode:
                # The password must not reach the server log.
                for sql in ["SET log_statement = 'none'", "SET log_min_duration_statement = -1",
                            "SET log_min_error_statement = panic"] + statements:
                    session.query(sql, rows=0)
                session.query("SELECT 'done'")
    except JobError as exc:
        module.fail_json(msg=hide(str(exc), locals().get("password")), actions=[])
    module.exit_json(changed=bool(actions), actions=actions, container=ids[0], network=network, db_name=db_name)


if __name__ == "__main__":
    main()
