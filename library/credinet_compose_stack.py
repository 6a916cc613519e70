#!/usr/bin/python
"""Ansible module: what runs from the app folder - the Compose project, its database and volumes."""

DOCUMENTATION = r"""
module: credinet_compose_stack
short_description: Discover the app's Compose stack (project, database container and volume) before any change
description:
  - Reads the containers Docker labels as belonging to a Compose project started from C(app_dir)
    (a stack started by hand with plain C(docker compose up -d) is named after the folder).
  - Chooses the project every role must use, in this order; a configured name; the one project
    running from the folder; COMPOSE_PROJECT_NAME in the folder's .env; the one project with
    stopped containers from the folder; the folder name as Compose normalises it.
  - Database volumes are found by their Compose volume key, from the app's database containers
    and from the app's own Compose configuration (volumes left by C(docker compose down)).
  - Fails (nothing changed) when the Docker engine does not answer, or a volume cannot be looked
    into: an unreadable engine is never taken for "nothing runs".
  - Finds the project's database container and data volume, and the database volumes of other
    projects of the same app. When the chosen project would start PostgreSQL on a missing or
    empty volume while another volume of the app holds data, it returns C(refusal), a message
    naming both volumes and the row counts: the caller stops before any change. So it does when
    the project's running database has none of the app's rows while another volume has them.
  - Read-only; runs the same in check mode.
options:
  app_dir: {description: The app folder (the Compose project directory)., type: path, required: true}
  project: {description: Configured project name ('' = discover)., type: str, default: ""}
  db_service: {description: Compose service of PostgreSQL., type: str, default: postgres}
  critical_tables: {description: Tables whose row counts describe a database with data., type: list, elements: str, default: []}
  pgdata: {description: Data directory inside the database container., type: str, default: /var/lib/postgresql/data}
"""

EXAMPLES = r"""
- name: The running stack
  credinet_compose_stack:
    app_dir: /home/jair/proyectos/credinet-v2
    critical_tables: [users, loans, payments]
  register: stack
"""

RETURN = r"""
project: {description: The project to use., returned: always, type: str}
project_source: {description: configured, running, env_file, stopped or folder., returned: always, type: str}
running: {description: Whether a container of the project runs., returned: always, type: bool}
services: {description: "{service: {id, state, health, image, image_id, running}} of the project.", returned: always, type: dict}
config_services: {description: "Services the app's Compose configuration declares ([] = unreadable).", returned: always, type: list}
config_files: {description: Compose files the running project was started with., returned: always, type: list}
db_container: {description: Id of the project's database container ('' = none)., returned: always, type: str}
db_volume: {description: The project's database volume ('' = unknown)., returned: always, type: str}
db_initialised: {description: Whether that volume holds a PostgreSQL cluster., returned: always, type: bool}
other_volumes: {description: Database volumes of other projects of the app with their state and row counts., returned: always, type: list}
refusal: {description: Why starting the project now would lose data (null = safe)., returned: always, type: str}
env_values:
  description: COMPOSE_PROJECT_NAME, COMPOSE_FILE, APP_VERSION, POSTGRES_USER and POSTGRES_DB of the folder's .env (no other key is read).
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.credinet_ops import compose

LABEL = "com.docker.compose."


def env_project(env_text):
    return compose.env_value(env_text, "COMPOSE_PROJECT_NAME")


def labels(container):
    return (container.get("Config") or {}).get("Labels") or {}


def in_dir(container, app_dir):
    working_dir = labels(container).get(LABEL + "project.working_dir", "")
    return bool(working_dir) and os.path.realpath(working_dir) == os.path.realpath(app_dir)


def choose_project(configured, containers, app_dir, env_text):
    """(project, source) by precedence; raises ValueError when several projects run from the folder."""
    if configured:
        return configured, "configured"
    in_folder = [c for c in containers if in_dir(c, app_dir)]
    running = _single_project([c for c in in_folder if (c.get("State") or {}).get("Running")], app_dir)
    if running:
        return running, "running"
    # What the folder's .env names wins over old stopped containers of some other project.
    from_env = env_project(env_text)
    if from_env:
        return from_env, "env_file"
    stopped = _single_project(in_folder, app_dir)
    if stopped:
        return stopped, "stopped"
    return compose.folder_project(app_dir), "folder"


def _single_project(containers, app_dir):
    found = sorted({labels(c).get(LABEL + "project") for c in containers} - {None, ""})
    if len(found) > 1:
        raise ValueError("several Compose projects were started from %s: %s; set the project name explicitly"
                         % (app_dir, ", ".join(found)))
    return found[0] if found else ""


def project_services(containers, project):
    services = {}
    for c in containers:
        lab = labels(c)
        if lab.get(LABEL + "project") != project:
            continue
        state = (c.get("State") or {})
        entry = {"id": c.get("Id", ""), "state": state.get("Status", ""), "running": bool(state.get("Running")),
                 "health": (state.get("Health") or {}).get("Status", ""),
                 "image": (c.get("Config") or {}).get("Image", ""), "image_id": c.get("Image", ""),
                 "config_files": lab.get(LABEL + "project.config_files", "")}
        current = services.get(lab.get(LABEL + "service", ""))
        if current is None or (entry["running"] and not current["running"]):
            services[lab.get(LABEL + "service", "")] = entry
    return services


def data_volume(container, pgdata):
    """(volume name, compose volume key) of the container's data directory, or ('', '')."""
    for mount in container.get("Mounts") or []:
        if mount.get("Type") == "volume" and mount.get("Destination") == pgdata:
            return mount.get("Name", ""), ""
    return "", ""


def refusal_text(project, volume, others, empty_cluster=False):
    holders = ["%s (project %s%s)" % (o["name"], o["project"] or "?",
                                      ", " + ", ".join("%s=%s" % kv for kv in sorted(o["rows"].items())) if o["rows"] else "")
               for o in others if o["initialised"]]
    return ("Compose project '%s' would start PostgreSQL on volume '%s', which is %s, while %s hold%s data. Starting it "
            "would bring the app up on an empty database. Use the project that holds the data (app/stack project "
            "setting, COMPOSE_PROJECT_NAME) or move the data on purpose. Nothing was changed."
            % (project, volume or "(not created yet)",
               "a database without the app's rows" if empty_cluster else "missing" if not volume else "empty",
               "; ".join(holders),
               "s" if len(holders) == 1 else ""))


def read_env(app_dir):
    """The folder's .env ('' when there is none). Compose reads it as bytes: a comment in Latin-1
    must not stop the discovery."""
    try:
        with open(os.path.join(app_dir, ".env"), encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


class Docker:
    def __init__(self, module):
        self.module = module

    def run(self, *args, check=True, cwd=None):
        rc, out, err = self.module.run_command(["docker", *args], cwd=cwd)
        if check and rc != 0:
            self.module.fail_json(msg="docker %s failed: %s. Nothing was changed." % (args[0], err.strip()[-300:]))
        return rc, out

    def inspect(self, kind, ids):
        """docker <kind> inspect of ids ([] when there are none or they vanished meanwhile)."""
        if not ids:
            return []
        # One id that vanished makes docker exit 1, yet it still prints the others: keep them.
        _, out = self.run(kind, "inspect", *ids, check=False)
        try:
            found = json.loads(out) if out.strip() else []
        except ValueError:
            return []
        return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []

    def compose_containers(self):
        # An engine that does not answer is an error, never "nothing runs" (that would switch the
        # empty-volume refusal off).
        _, out = self.run("ps", "-aq", "--no-trunc", "--filter", "label=" + LABEL + "project")
        return self.inspect("container", out.split())

    def volumes(self, key):
        _, out = self.run("volume", "ls", "-q", "--filter", "label=%svolume=%s" % (LABEL, key))
        return self.inspect("volume", out.split())

    def initialised(self, volume, image, pgdata):
        """Whether the volume holds a PostgreSQL cluster; None when it cannot be told (no image)."""
        if not image:
            return None
        rc, out = self.run("run", "--rm", "--pull", "never", "--network", "none", "-v", "%s:%s:ro" % (volume, pgdata),
                           "--entrypoint", "test", image, "-f", pgdata + "/PG_VERSION", check=False)
        if rc in (0, 1):
            return rc == 0
        self.module.fail_json(msg="cannot look into volume %s with image %s (docker exit %d). Nothing was changed."
                                  % (volume, image, rc))

    def config_volume_keys(self, app_dir, project, db_service):
        """Named volumes of the database service in the app's own Compose configuration (the keys
        of volumes that may exist without any container: after `docker compose down`), its image,
        and the names of every service the configuration declares."""
        # In the folder: relative COMPOSE_FILE entries of its .env resolve against the working directory.
        rc, out = self.run("compose", "--project-directory", app_dir, "-p", project, "config", "--format", "json",
                           check=False, cwd=app_dir)
        try:
            config = json.loads(out) if rc == 0 else {}
        except ValueError:
            return set(), "", []
        services = config.get("services") or {}
        service = services.get(db_service) or {}
        keys = {v.get("source") for v in service.get("volumes") or [] if isinstance(v, dict) and v.get("type") == "volume"}
        return keys - {None, ""}, service.get("image", ""), sorted(services)

    def row_counts(self, container, tables):
        env = dict(e.split("=", 1) for e in (container.get("Config") or {}).get("Env") or [] if "=" in e)
        user = env.get("POSTGRES_USER", "postgres")
        counts = {}
        for table in tables:
            rc, out = self.run("exec", container["Id"], "psql", "-qAtX", "-U", user, "-d", env.get("POSTGRES_DB", user),
                               "-c", "SELECT count(*) FROM %s" % table, check=False)
            counts[table] = out.strip() if rc == 0 else "?"
        return counts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_dir=dict(type="path", required=True),
            project=dict(type="str", default=""),
            db_service=dict(type="str", default="postgres"),
            critical_tables=dict(type="list", elements="str", default=[]),
            pgdata=dict(type="str", default="/var/lib/postgresql/data"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    env_text = read_env(p["app_dir"])
    if not module.get_bin_path("docker"):  # Docker not installed yet: nothing runs
        project, source = choose_project(p["project"], [], p["app_dir"], env_text)
        module.exit_json(changed=False, project=project, project_source=source, running=False, services={},
                         config_services=[], config_files=[], db_container="", db_volume="", db_initialised=False, other_volumes=[],
                         refusal=None, env_values={k: compose.env_value(env_text, k) for k in compose.ENV_KEYS})
    docker = Docker(module)
    containers = docker.compose_containers()
    try:
        project, source = choose_project(p["project"], containers, p["app_dir"], env_text)
    except ValueError as exc:
        module.fail_json(msg="%s. Nothing was changed." % exc)
    services = project_services(containers, project)
    db = services.get(p["db_service"])
    db_full = next((c for c in containers if db and c.get("Id") == db["id"]), None)
    volume = data_volume(db_full, p["pgdata"])[0] if db_full else ""
    result = {"project": project, "project_source": source, "running": any(s["running"] for s in services.values()),
              "services": services, "db_container": db["id"] if db else "", "db_volume": volume,
              "config_files": [f for f in (db or next(iter(services.values()), {})).get("config_files", "").split(",") if f],
              "db_initialised": False, "other_volumes": [], "refusal": None,
              "env_values": {k: compose.env_value(env_text, k) for k in compose.ENV_KEYS}}
    # Database volumes of the app: the compose volume keys of its database service (its own
    # configuration, and any database container of the app), then every volume with such a key.
    app_db = [c for c in containers if labels(c).get(LABEL + "service") == p["db_service"]
              and (in_dir(c, p["app_dir"]) or labels(c).get(LABEL + "project") == project)]
    mounted = [data_volume(c, p["pgdata"])[0] for c in app_db]
    keys = {(v.get("Labels") or {}).get(LABEL + "volume") for v in docker.inspect("volume", [m for m in mounted if m])}
    config_keys, config_image, result["config_services"] = docker.config_volume_keys(p["app_dir"], project, p["db_service"]) \
        if os.path.isdir(p["app_dir"]) else (set(), "", [])
    keys |= config_keys
    # Probe with the exact image of a database container (never pulled), else the configured one.
    image = (db_full or (app_db[0] if app_db else {})).get("Image", "") or config_image
    for key in sorted(keys - {None, ""}):
        for vol in docker.volumes(key):
            name, owner = vol.get("Name", ""), (vol.get("Labels") or {}).get(LABEL + "project", "")
            initialised = docker.initialised(name, image, p["pgdata"])
            if name == volume or (owner == project and not volume):
                # Cannot be told (no image to look with): taken as holding data, never as empty.
                result["db_volume"], result["db_initialised"] = name, initialised is not False
                volume = name
                continue
            user = next((c for c in app_db if data_volume(c, p["pgdata"])[0] == name
                         and (c.get("State") or {}).get("Running")), None)
            result["other_volumes"].append({"name": name, "project": owner, "initialised": initialised is not False,
                                            "rows": docker.row_counts(user, p["critical_tables"]) if user else {}})
    if volume and not result["db_initialised"] and volume not in [o["name"] for o in result["other_volumes"]]:
        result["db_initialised"] = docker.initialised(volume, image, p["pgdata"]) is not False
    holders = [o for o in result["other_volumes"] if o["initialised"]]
    own_rows = docker.row_counts(db_full, p["critical_tables"]) if db_full and db["running"] else {}
    # Own tables empty or missing (a fresh cluster) while another volume holds the app's rows.
    own_empty = bool(own_rows) and all(v in ("0", "?") for v in own_rows.values())
    others_hold_rows = any(any(v not in ("0", "?") for v in o["rows"].values()) for o in holders)
    if holders and (not result["db_initialised"] or (own_empty and others_hold_rows)):
        result["refusal"] = refusal_text(project, volume, holders, empty_cluster=result["db_initialised"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
