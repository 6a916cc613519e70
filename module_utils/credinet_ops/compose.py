"""Docker Compose as the app runs under it: project names, the app's .env keys that are not
secrets, image names, and the override credinet-ops adds to the app without editing its checkout.
"""
import os
import re

from . import envfile

# The only keys of the app's .env the discovery reads: none of them is a secret.
ENV_KEYS = ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "APP_VERSION")


def normalize_project_name(name):
    """The project name Compose derives from a folder name (compose-go NormalizeProjectName)."""
    return re.sub(r"[^a-z0-9_-]", "", str(name).lower()).lstrip("_-")


def folder_project(app_dir):
    return normalize_project_name(os.path.basename(os.path.normpath(app_dir)))


def env_value(env_text, key):
    """The value of `key` in a .env text ('' when unset; the last assignment wins, as in Compose).

    Read as Compose reads it (envfile.parse): a quoted value ends at its closing quote, so a
    comment after it is not part of the value.
    """
    return envfile.parse(env_text).get(key, "")


def image_repo(image):
    """'credinet-backend' of 'credinet-backend:abc'; a registry port is not a tag."""
    name = str(image or "")
    if "@" in name:
        name = name.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def built_images(config, project):
    """{service: image repository} of the services Compose builds (the ones tagged by commit)."""
    services = (config or {}).get("services") or {}
    return {name: image_repo(s.get("image")) or "%s-%s" % (project, name)
            for name, s in sorted(services.items()) if s.get("build")}


def override(config, project, timezone, zoneinfo_dir="/usr/share/zoneinfo"):
    """The override every app container runs with, from the app's own `docker compose config`.

    Every service: TZ and the host's zone files, read-only (images without tzdata need them: TZ
    alone then silently means UTC). Every service that is built: its image tagged with the
    commit, `<repo>:${APP_VERSION}`, so a rollback finds the previous images whatever the app's
    own compose file says about tags.
    """
    services = (config or {}).get("services") or {}
    if not services:
        raise ValueError("the app's compose configuration has no services")
    built = built_images(config, project)
    result = {}
    for name in sorted(services):
        entry = {
            "environment": {"TZ": timezone},
            "volumes": [{"type": "bind", "source": zoneinfo_dir, "target": zoneinfo_dir, "read_only": True}],
        }
        if name in built:
            entry["image"] = "%s:${APP_VERSION:-dev}" % built[name]
        result[name] = entry
    return {"services": result}
