"""credinet_ops.compose: project names as Compose derives them, the app's .env keys, image names
and the override credinet-ops adds to the app."""
import copy

import pytest

from credinet_ops import compose

# `docker compose config --format json` of an app like Credinet (Compose 2.26): a database from
# an image, a backend built and tagged by its compose file, a frontend built without an image name.
CONFIG = {
    "name": "credinet-v2",
    "services": {
        "postgres": {
            "command": None, "entrypoint": None, "image": "postgres:17",
            "environment": {"POSTGRES_DB": "credinet", "POSTGRES_USER": "credinet", "POSTGRES_PASSWORD": "FAKE-pw"},
            "networks": {"default": None},
            "volumes": [{"type": "volume", "source": "pgdata", "target": "/var/lib/postgresql/data", "volume": {}}],
        },
        "backend": {
            "build": {"context": "/home/jair/proyectos/credinet-v2/backend", "dockerfile": "Dockerfile"},
            "command": None, "entrypoint": None, "image": "credinet-backend:abc",
            "depends_on": {"postgres": {"condition": "service_healthy", "required": True}},
            "networks": {"default": None}, "ports": [{"mode": "ingress", "target": 8000, "published": "8000",
                                                      "protocol": "tcp"}],
        },
        "frontend": {
            "build": {"context": "/home/jair/proyectos/credinet-v2/frontend", "dockerfile": "Dockerfile"},
            "command": None, "entrypoint": None,
            "depends_on": {"backend": {"condition": "service_started", "required": True}},
            "networks": {"default": None},
        },
    },
    "networks": {"default": {"name": "credinet-v2_default", "ipam": {}}},
    "volumes": {"pgdata": {"name": "credinet-v2_pgdata"}},
}
ZONEINFO = {"type": "bind", "source": "/usr/share/zoneinfo", "target": "/usr/share/zoneinfo", "read_only": True}


# --- project names -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("credinet-v2", "credinet-v2"),
    ("Credinet_V2", "credinet_v2"),
    ("my app", "myapp"),
    (".hidden", "hidden"),
    ("__x", "x"),
    ("-_-x-", "x-"),
    ("ñandú", "and"),
    ("2026", "2026"),
    ("app2", "app2"),
    ("CrediNet 3.0", "credinet30"),
    ("", ""),
])
def test_normalize_project_name_as_compose_derives_it(name, expected):
    assert compose.normalize_project_name(name) == expected


@pytest.mark.parametrize("app_dir, expected", [
    ("/home/jair/proyectos/credinet-v2", "credinet-v2"),
    ("/home/jair/proyectos/credinet-v2/", "credinet-v2"),
    ("/home/jair/proyectos/credinet-v2//", "credinet-v2"),
    ("/srv/apps/Credinet V2/current", "current"),
    ("/srv/apps/Credinet V2", "credinetv2"),
    ("/srv/apps/credinet/../credinet-v2", "credinet-v2"),
])
def test_folder_project_is_the_last_folder_normalised(app_dir, expected):
    assert compose.folder_project(app_dir) == expected


# --- the app's .env ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("APP_VERSION=abc\n", "abc"),
    ("APP_VERSION='abc def'\n", "abc def"),
    ('APP_VERSION="abc def"\n', "abc def"),
    ("APP_VERSION=abc # pinned by hand\n", "abc"),
    ("APP_VERSION=abc#notacomment\n", "abc#notacomment"),
    ('APP_VERSION="a #b"\n', "a #b"),
    ('APP_VERSION="abc" # pinned by hand\n', "abc"),  # a quoted value ends at its closing quote
    ("APP_VERSION='abc'  # pinned\n", "abc"),
    ("APP_VERSION=one\nAPP_VERSION=two\n", "two"),  # the last assignment wins
    ("export APP_VERSION=abc\n", "abc"),
    ("  export   APP_VERSION = abc  \n", "abc"),
    ("APP_VERSION=\n", ""),
    ("APP_VERSION=''\n", ""),
    ("#APP_VERSION=commented\n", ""),
    ("APP_VERSION=one\n# APP_VERSION=two\n", "one"),
    ("APP_VERSION_OLD=old\nMY_APP_VERSION=mine\n", ""),  # other keys that contain the name
    ("COMPOSE_PROJECT_NAME=credinet\n", ""),
    ("", ""),
    ("APP_VERSION=abc\r\nCOMPOSE_FILE=a.yml\r\n", "abc"),  # written on Windows
])
def test_env_value(text, expected):
    assert compose.env_value(text, "APP_VERSION") == expected


def test_env_value_reads_each_discovery_key_of_a_hand_written_env():
    text = ("# Credinet\n"
            "COMPOSE_PROJECT_NAME=credinet\n"
            "POSTGRES_PASSWORD='FAKE-secret'\n"
            "COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml  # prod\n"
            "export APP_VERSION=\"f727416\"\n"
            "POSTGRES_USER=cuentas\n")
    assert {k: compose.env_value(text, k) for k in compose.ENV_KEYS} == {
        "COMPOSE_PROJECT_NAME": "credinet", "COMPOSE_FILE": "docker-compose.yml:docker-compose.prod.yml",
        "APP_VERSION": "f727416", "POSTGRES_USER": "cuentas", "POSTGRES_DB": ""}
    assert "POSTGRES_PASSWORD" not in compose.ENV_KEYS


# --- images --------------------------------------------------------------------------------------

@pytest.mark.parametrize("image, expected", [
    ("credinet-backend:abc", "credinet-backend"),
    ("credinet-backend", "credinet-backend"),
    ("postgres:17", "postgres"),
    ("library/postgres:17-alpine", "library/postgres"),
    ("host:5000/x/y:tag", "host:5000/x/y"),
    ("host:5000/x/y", "host:5000/x/y"),
    ("localhost:5000/credinet-backend", "localhost:5000/credinet-backend"),
    ("postgres@sha256:" + "0" * 64, "postgres"),
    ("postgres:17@sha256:" + "a" * 64, "postgres"),
    ("host:5000/x/y:tag@sha256:" + "b" * 64, "host:5000/x/y"),
    ("", ""),
    (None, ""),
])
def test_image_repo(image, expected):
    assert compose.image_repo(image) == expected


def test_built_images_are_the_services_with_a_build_section():
    assert compose.built_images(CONFIG, "credinet-v2") == {
        "backend": "credinet-backend",  # its own image name, without the tag
        "frontend": "credinet-v2-frontend",  # Compose names it <project>-<service>
    }


@pytest.mark.parametrize("config", [None, {}, {"services": None}, {"services": {}},
                                    {"services": {"postgres": {"image": "postgres:17"}}}])
def test_built_images_of_a_configuration_without_builds(config):
    assert compose.built_images(config, "credinet") == {}


# --- the override --------------------------------------------------------------------------------

def test_override_gives_every_service_the_zone_and_tags_only_the_built_ones():
    original = copy.deepcopy(CONFIG)
    result = compose.override(CONFIG, "credinet-v2", "America/Mexico_City")
    assert result == {"services": {
        "backend": {"environment": {"TZ": "America/Mexico_City"}, "volumes": [ZONEINFO],
                    "image": "credinet-backend:${APP_VERSION:-dev}"},
        "frontend": {"environment": {"TZ": "America/Mexico_City"}, "volumes": [ZONEINFO],
                     "image": "credinet-v2-frontend:${APP_VERSION:-dev}"},
        "postgres": {"environment": {"TZ": "America/Mexico_City"}, "volumes": [ZONEINFO]},
    }}
    assert "image" not in result["services"]["postgres"]  # an image from a registry keeps its tag
    assert CONFIG == original  # the app's configuration is not modified


def test_override_with_another_zoneinfo_dir_binds_it_read_only():
    result = compose.override(CONFIG, "credinet", "UTC", zoneinfo_dir="/opt/zoneinfo")
    for entry in result["services"].values():
        assert entry["volumes"] == [{"type": "bind", "source": "/opt/zoneinfo", "target": "/opt/zoneinfo",
                                     "read_only": True}]
        assert entry["environment"] == {"TZ": "UTC"}
    assert result["services"]["frontend"]["image"] == "credinet-frontend:${APP_VERSION:-dev}"


def test_override_services_do_not_share_mutable_entries():
    result = compose.override(CONFIG, "credinet-v2", "UTC")
    result["services"]["backend"]["volumes"].append("x")
    result["services"]["backend"]["environment"]["X"] = "1"
    assert result["services"]["postgres"]["volumes"] == [ZONEINFO]
    assert result["services"]["postgres"]["environment"] == {"TZ": "UTC"}


@pytest.mark.parametrize("config", [None, {}, {"services": None}, {"services": {}}, {"name": "credinet"}])
def test_override_of_a_configuration_without_services_is_refused(config):
    with pytest.raises(ValueError, match="no services"):
        compose.override(config, "credinet", "UTC")


@pytest.mark.parametrize(("present", "files"), [
    ([], ["docker-compose.yml"]),
    (None, ["docker-compose.yml"]),
    (["docker-compose.yml"], ["docker-compose.yml"]),
    (["docker-compose.yml", "docker-compose.override.yml", "README.md"], ["docker-compose.yml", "docker-compose.override.yml"]),
    # compose.yaml is preferred over docker-compose.yml, as Compose does (with a warning).
    (["docker-compose.yml", "compose.yaml"], ["compose.yaml"]),
    (["compose.yml", "compose.override.yaml"], ["compose.yml", "compose.override.yaml"]),
    # The first override of Compose's list, whatever the base file is named.
    (["docker-compose.yaml", "compose.override.yml", "docker-compose.override.yml"],
     ["docker-compose.yaml", "compose.override.yml"]),
    # An override alone: Compose still needs a base file (it would fail; the default is named).
    (["docker-compose.override.yml"], ["docker-compose.yml", "docker-compose.override.yml"]),
])
def test_default_files_are_what_compose_picks_in_the_folder(present, files):
    assert compose.default_files(present) == files


def test_a_service_running_a_built_image_without_building_it_runs_the_same_commit():
    # A scheduler (the period cut-off) that reuses the backend image: it must never stay on the
    # stale tag of the app's file while the backend moves to the deployed commit.
    config = copy.deepcopy(CONFIG)
    config["services"]["scheduler"] = {"image": "credinet-backend:latest", "command": ["python", "-m", "app.cutoff"]}
    config["services"]["frontend-worker"] = {"image": "credinet-v2-frontend"}  # the default name of a built service
    config["services"]["cache"] = {"image": "redis:7"}
    result = compose.override(config, "credinet-v2", "UTC")["services"]
    assert result["scheduler"]["image"] == "credinet-backend:${APP_VERSION:-dev}"
    assert result["frontend-worker"]["image"] == "credinet-v2-frontend:${APP_VERSION:-dev}"
    assert "image" not in result["cache"] and "image" not in result["postgres"]
