"""Pure helpers for Docker and Compose: daemon.json settings, compose versions, the app's
Compose override (the settings credinet-ops adds to the app without editing its checkout)."""
import json
import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from ansible.module_utils.credinet_ops import compose

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def insecure_registries(mirrors):
    """host[:port] of every plain-http mirror: dockerd refuses http mirrors not listed as insecure.

    https mirrors need no entry. Anything that is not an http(s) URL with a host is an error,
    raised here rather than as a daemon that will not start.
    """
    if not isinstance(mirrors, (list, tuple)):
        raise AnsibleFilterError("registry mirrors must be a list of URLs, got %r" % type(mirrors).__name__)
    hosts = []
    for url in mirrors:
        parts = urlsplit(str(url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AnsibleFilterError("registry mirror %r is not an http(s) URL with a host" % (url,))
        if parts.path not in ("", "/"):
            raise AnsibleFilterError("registry mirror %r must not have a path" % (url,))
        if parts.scheme == "http" and parts.netloc not in hosts:
            hosts.append(parts.netloc)
    return hosts


def compose_version(text):
    """'2.26.1' from `docker compose version --short` output in its distro spellings.

    Examples: '2.26.1+ds1-0+deb13u1', 'v2.29.7', 'Docker Compose version v2.20.2', '2.26.1-4'.
    """
    match = _VERSION.search(str(text or ""))
    if not match:
        raise AnsibleFilterError("cannot read a Docker Compose version from %r" % (text,))
    major, minor, patch = match.group(1), match.group(2), match.group(3) or "0"
    return "%s.%s.%s" % (int(major), int(minor), int(patch))


def compose_override(config, project, timezone, zoneinfo_dir="/usr/share/zoneinfo"):
    try:
        return compose.override(config, project, timezone, zoneinfo_dir)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def pitr_base_image(declared_config, db_service, running_image, running_base, archiving_name):
    """The postgres image role pitr's archiving image is built FROM: the one the app's own Compose
    files declare for its database (`docker compose config --format json` without the role's
    override: a new tag there, a PostgreSQL minor update, reaches the archiving image), else the
    base an archiving database runs on (its label), else the image the database runs. '' when
    none is known."""
    try:
        services = json.loads(declared_config or "{}").get("services") or {}
        declared = str((services.get(db_service) or {}).get("image") or "")
    except (ValueError, AttributeError):
        declared = ""
    archiving = str(running_image or "").startswith(str(archiving_name) + ":")
    if declared and not declared.startswith(str(archiving_name) + ":"):
        return declared
    return str(running_base or "") if archiving else str(running_image or "")


def file_args(files):
    """['-f', a, '-f', b] for `docker compose`."""
    return [arg for name in files for arg in ("-f", str(name))]


class FilterModule:
    def filters(self):
        return {
            "credinet_insecure_registries": insecure_registries,
            "credinet_compose_version": compose_version,
            "credinet_compose_override": compose_override,
            "credinet_built_images": compose.built_images,
            "credinet_image_repo": compose.image_repo,
            "credinet_compose_project_name": compose.normalize_project_name,
            "credinet_compose_file_args": file_args,
            "credinet_pitr_base_image": pitr_base_image,
            "credinet_compose_default_files": compose.default_files,
        }
