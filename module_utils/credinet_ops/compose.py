"""Docker Compose as the app runs under it: project names, the app's .env keys that are not
secrets, image names, and the override credinet-ops adds to the app without editing its checkout.
"""
import os
import re

from . import envfile

# The only keys of the app's .env the discovery reads: none of them is a secret. POSTGRES_USER
# and POSTGRES_DB are the database settings other roles connect with (role pitr's pgBackRest).
ENV_KEYS = ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "APP_VERSION", "POSTGRES_USER", "POSTGRES_DB")


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


# What Compose reads in a folder without -f or COMPOSE_FILE (compose-go's DefaultFileNames and
# DefaultOverrideFileNames, in its order of preference).
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDES = ("compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                     "docker-compose.override.yaml")


def default_files(present):
    """The files Compose itself uses in a folder holding `present` (names): the first default file
    and the first override file. Setting COMPOSE_FILE switches that discovery off, so whoever sets
    it must list the app's own override too (a developer's docker-compose.override.yml)."""
    names = set(present or ())
    base = [name for name in DEFAULT_FILES if name in names][:1] or ["docker-compose.yml"]
    return base + [name for name in DEFAULT_OVERRIDES if name in names][:1]


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
    own compose file says about tags. So does every service that runs a built image without
    building it (a scheduler reusing the backend image): it must run the same commit, never
    the stale `:latest` the app's file names.
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
        repo = built.get(name) or image_repo(services[name].get("image"))
        if repo and repo in built.values():
            entry["image"] = "%s:${APP_VERSION:-dev}" % repo
        result[name] = entry
    return {"services": result}
