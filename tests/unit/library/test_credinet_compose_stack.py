"""The credinet_compose_stack module: its pure functions, and the module run in-process against a
fake `docker` that answers from recorded output of a real stack (tests/unit/fixtures)."""
import copy
import json
import os

import pytest

from conftest import ROOT, load_source, run_module

module = load_source("library/credinet_compose_stack.py")
FIXTURES = ROOT / "tests" / "unit" / "fixtures"
# Where the recorded stack was started from: the fixtures are rewritten to a folder in tmp_path.
RECORDED_DIR = "/home/jair/proyectos/credinet-v2"
LABEL = "com.docker.compose."
PGDATA = "/var/lib/postgresql/data"
TABLES = ["users", "loans", "payments"]
ENV_SECRET = "FAKE-env-secret-value"
CONTAINER_SECRET = "sandbox-fake-db-password"  # POSTGRES_PASSWORD in the recorded container's Env


def recorded(name, app_dir=RECORDED_DIR):
    text = (FIXTURES / name).read_text()
    return json.loads(text.replace(RECORDED_DIR, str(app_dir)))


def stack(app_dir=RECORDED_DIR):
    """The recorded containers of project credinet-v2: {service: inspect}."""
    return {c["Config"]["Labels"][LABEL + "service"]: c for c in recorded("docker-inspect-deployed-stack.json", app_dir)}


def copy_of(container, project=None, running=None, cid=None, volume=None, working_dir=None):
    """A synthetic container made from a recorded one (another project, a stopped copy...)."""
    c = copy.deepcopy(container)
    lab = c["Config"]["Labels"]
    if project is not None:
        lab[LABEL + "project"] = project
        c["Name"] = c["Name"].replace("credinet-v2", project)
    if working_dir is not None:
        lab[LABEL + "project.working_dir"] = working_dir
    if running is not None:
        c["State"].update({"Running": running, "Status": "running" if running else "exited"})
    if cid is not None:
        c["Id"] = cid
    if volume is not None:
        for mount in c["Mounts"]:
            if mount.get("Destination") == PGDATA:
                mount["Name"] = volume
                mount["Source"] = "/var/lib/docker/volumes/%s/_data" % volume
    return c


def volume_of(project, key="pgdata"):
    """`docker volume inspect` of a Compose volume, as Compose labels it."""
    name = "%s_%s" % (project, key)
    return {"CreatedAt": "2026-01-10T09:00:00-06:00", "Driver": "local",
            "Labels": {LABEL + "project": project, LABEL + "version": "2.26.1", LABEL + "volume": key},
            "Mountpoint": "/var/lib/docker/volumes/%s/_data" % name, "Name": name, "Options": None, "Scope": "local"}


# --- choose_project ------------------------------------------------------------------------------

def test_a_configured_project_wins_over_everything():
    containers = list(stack().values())
    assert module.choose_project("credinet", containers, RECORDED_DIR, "COMPOSE_PROJECT_NAME=other\n") == (
        "credinet", "configured")


def test_the_one_project_running_from_the_folder_wins_over_the_env_file():
    containers = list(stack().values())
    assert module.choose_project("", containers, RECORDED_DIR, "COMPOSE_PROJECT_NAME=credinet\n") == (
        "credinet-v2", "running")
    # The folder is compared as a path: a trailing slash is the same folder.
    assert module.choose_project("", containers, RECORDED_DIR + "/", "") == ("credinet-v2", "running")


def test_the_folder_is_compared_through_symlinks(tmp_path):
    real = tmp_path / "proyectos" / "credinet-v2"
    real.mkdir(parents=True)
    link = tmp_path / "app"
    link.symlink_to(real, target_is_directory=True)
    containers = list(stack(real).values())
    assert module.choose_project("", containers, str(link), "") == ("credinet-v2", "running")


def test_projects_started_from_other_folders_do_not_count():
    others = [copy_of(c, project="nextcloud", working_dir="/srv/nextcloud") for c in stack().values()]
    unlabelled = {"Id": "f" * 64, "Config": {"Labels": None}, "State": {"Running": True}}
    assert module.choose_project("", others + [unlabelled], RECORDED_DIR, "COMPOSE_PROJECT_NAME=credinet\n") == (
        "credinet", "env_file")


def test_compose_project_name_of_the_env_file_comes_before_the_folder_name():
    text = "# app\nPOSTGRES_PASSWORD=x\nexport COMPOSE_PROJECT_NAME='credinet'  # historical name\n"
    assert module.choose_project("", [], RECORDED_DIR, text) == ("credinet", "env_file")


@pytest.mark.parametrize("env_text", ["", "COMPOSE_PROJECT_NAME=\n", "#COMPOSE_PROJECT_NAME=credinet\n"])
def test_without_anything_else_the_project_is_the_folder_name(env_text):
    assert module.choose_project("", [], "/home/jair/proyectos/Credinet V2/", env_text) == ("credinetv2", "folder")


def test_several_running_projects_from_the_folder_are_refused_and_named():
    running = list(stack().values())
    other = copy_of(stack()["postgres"], project="credinet", running=True, cid="c" * 64)
    with pytest.raises(ValueError) as error:
        module.choose_project("", running + [other], RECORDED_DIR, "COMPOSE_PROJECT_NAME=credinet-v2\n")
    assert "several Compose projects" in str(error.value)
    assert "credinet, credinet-v2" in str(error.value) and RECORDED_DIR in str(error.value)
    # A configured name settles it.
    assert module.choose_project("credinet", running + [other], RECORDED_DIR, "") == ("credinet", "configured")


def test_the_running_project_wins_over_an_old_stopped_one_of_the_folder():
    running = list(stack().values())
    old = copy_of(stack()["postgres"], project="credinet", running=False, cid="c" * 64)
    assert module.choose_project("", running + [old], RECORDED_DIR, "") == ("credinet-v2", "running")


# --- project_services, data_volume ---------------------------------------------------------------

def test_project_services_of_the_recorded_stack():
    services = module.project_services(list(stack().values()), "credinet-v2")
    assert sorted(services) == ["backend", "frontend", "postgres"]
    assert services["postgres"] == {
        "id": "8962d33cb1dbecd11015b285ef29259bd7a9e26c4f3bb2a6aca55bf4874db0e9", "state": "running", "running": True,
        "health": "healthy", "image": "postgres:17", "image_id": "sha256:4087dc7077fd2fe223c650e6b29f9e00497eeb9384551a9633ec2363f51c83ab",
        "config_files": RECORDED_DIR + "/docker-compose.yml,/etc/credinet-compose/credinet.override.yml"}
    assert services["backend"]["image"] == "credinet-backend:f727416f156530c64341f1e817b6e18fa346d88e"
    assert services["frontend"]["health"] == "", "no healthcheck: no health status"
    assert module.project_services(list(stack().values()), "credinet") == {}


@pytest.mark.parametrize("stopped_first", [True, False])
def test_project_services_prefer_the_running_container(stopped_first):
    running = stack()["postgres"]
    stopped = copy_of(running, running=False, cid="d" * 64)
    containers = [stopped, running] if stopped_first else [running, stopped]
    assert module.project_services(containers, "credinet-v2")["postgres"]["id"] == running["Id"]


def test_project_services_of_a_stopped_stack_are_the_stopped_containers():
    stopped = copy_of(stack()["postgres"], running=False)
    assert module.project_services([stopped], "credinet-v2")["postgres"] == dict(
        module.project_services([stack()["postgres"]], "credinet-v2")["postgres"], state="exited", running=False)


def test_data_volume_is_the_named_volume_on_the_data_directory():
    containers = stack()
    assert module.data_volume(containers["postgres"], PGDATA) == ("credinet-v2_pgdata", "")
    assert module.data_volume(containers["backend"], PGDATA) == ("", "")
    assert module.data_volume(containers["postgres"], "/var/lib/postgresql/18/docker") == ("", "")
    assert module.data_volume({"Mounts": None}, PGDATA) == ("", "")


def test_a_bind_mounted_data_directory_is_not_a_volume():
    bound = copy.deepcopy(stack()["postgres"])
    for mount in bound["Mounts"]:
        if mount["Destination"] == PGDATA:
            mount.update({"Type": "bind", "Source": "/srv/pgdata"})
            del mount["Name"]
    assert module.data_volume(bound, PGDATA) == ("", "")


# --- refusal_text --------------------------------------------------------------------------------

def other(name, project, initialised=True, rows=None):
    return {"name": name, "project": project, "initialised": initialised, "rows": rows or {}}


def test_refusal_text_names_both_volumes_and_the_sorted_row_counts():
    text = module.refusal_text("credinet", "credinet_pgdata", [
        other("credinet-v2_pgdata", "credinet-v2", rows={"users": "4", "loans": "120", "payments": "987"})])
    assert text.startswith("Compose project 'credinet' would start PostgreSQL on volume 'credinet_pgdata', "
                           "which is empty, while ")
    assert "credinet-v2_pgdata (project credinet-v2, loans=120, payments=987, users=4) holds data." in text
    assert text.endswith("Nothing was changed.")


def test_refusal_text_of_a_volume_not_created_yet():
    text = module.refusal_text("credinet", "", [other("credinet-v2_pgdata", "credinet-v2")])
    assert "volume '(not created yet)', which is missing, while credinet-v2_pgdata (project credinet-v2) holds data" in text
    assert text.endswith("Nothing was changed.")


def test_refusal_text_names_every_volume_holding_data_and_only_those():
    text = module.refusal_text("credinet", "credinet_pgdata", [
        other("credinet-v2_pgdata", "credinet-v2", rows={"loans": "?"}),
        other("scratch_pgdata", "scratch", initialised=False),
        other("orphan_pgdata", "", rows={"loans": "1"})])
    assert "while credinet-v2_pgdata (project credinet-v2, loans=?); orphan_pgdata (project ?, loans=1) hold data" in text
    assert "scratch" not in text
    assert text.endswith("Nothing was changed.")


# --- the module against a fake docker ------------------------------------------------------------

class FakeDocker:
    """Answers `docker` as AnsibleModule.run_command would get it, from inspect data; records calls."""

    def __init__(self, containers, volumes, initialised=(), counts=None, config=None):
        self.containers = {c["Id"]: c for c in containers}
        self.volumes = {v["Name"]: v for v in volumes}
        self.initialised = set(initialised)
        self.counts = counts or {}
        # What `docker compose config --format json` says of the database service (None: it fails).
        self.config = config
        self.own_counts = None  # row counts of the chosen project's database (default: self.counts)
        self.vanished = []  # listed by ps, gone when inspected
        self.failing = {}  # verb -> (rc, stderr)
        self.probe_rc = None  # exit status of the volume probe (None: by self.initialised)
        self.images = None  # images the engine has (None: every image)
        self.calls = []

    def __call__(self, args, **kwargs):
        assert args[0] == "docker" and set(kwargs) <= {"cwd"}
        args = list(args[1:])
        # Compose runs in the app folder (relative COMPOSE_FILE entries resolve against the cwd).
        assert kwargs.get("cwd") == (args[2] if args[0] == "compose" else None), (args, kwargs)
        self.calls.append(args)
        if args[0] in self.failing:
            rc, err = self.failing[args[0]]
            return rc, "", err
        if args[:2] == ["ps", "-aq"]:
            assert "--no-trunc" in args and "label=%sproject" % LABEL in args
            return 0, "".join(i + "\n" for i in list(self.containers) + self.vanished), ""
        if args[1:2] == ["inspect"] and args[0] in ("container", "volume"):
            known = self.containers if args[0] == "container" else self.volumes
            found = [known[i] for i in args[2:] if i in known]
            missing = [i for i in args[2:] if i not in known]
            return (1 if missing else 0), json.dumps(found, indent=4) + "\n", "".join(
                "Error: No such %s: %s\n" % (args[0], i) for i in missing)
        if args[:3] == ["volume", "ls", "-q"]:
            assert args[3] == "--filter" and args[4].startswith("label=%svolume=" % LABEL)
            key = args[4].split("=", 2)[2]
            return 0, "".join(n + "\n" for n, v in self.volumes.items()
                              if (v.get("Labels") or {}).get(LABEL + "volume") == key), ""
        if args[0] == "run":
            # Read-only look at a volume with an image already there: never anything that could
            # change the volume, never a pull.
            assert args[:6] == ["run", "--rm", "--pull", "never", "--network", "none"] and args[6] == "-v"
            name, target, mode = args[7].split(":")
            assert target == PGDATA and mode == "ro" and args[-2:] == ["-f", PGDATA + "/PG_VERSION"]
            assert name in self.volumes, "docker run would create volume %s" % name
            if self.images is not None and args[-3] not in self.images:
                return 125, "", "Unable to find image '%s' locally\n" % args[-3]
            if self.probe_rc is not None:
                return self.probe_rc, "", ""
            return (0 if name in self.initialised else 1), "", ""
        if args[0] == "exec":
            assert args[1] in self.containers and self.containers[args[1]]["State"]["Running"]
            assert args[2:4] == ["psql", "-qAtX"] and args[-2] == "-c"
            table = args[-1].rsplit(" ", 1)[1]
            counts = self.counts
            if self.own_counts is not None and self.containers[args[1]]["Config"]["Labels"][LABEL + "project"] != "credinet-v2":
                counts = self.own_counts
            if table in counts:
                return 0, "%s\n" % counts[table], ""
            return 1, "", 'ERROR:  relation "%s" does not exist\n' % table
        if args[0] == "compose":
            assert args[1] == "--project-directory" and args[3] == "-p" and args[5:] == ["config", "--format", "json"]
            if self.config is None:
                return 1, "", "no configuration file provided: not found\n"
            return 0, json.dumps({"name": args[4], "services": {"postgres": self.config}}), ""
        raise AssertionError("unexpected docker call: %r" % args)

    def verbs(self):
        return [" ".join(a[:2]) if a[0] in ("container", "volume") else a[0] for a in self.calls]


# The database service of the fixture app as `docker compose config --format json` prints it.
DB_CONFIG = {"image": "postgres:17", "volumes": [{"type": "volume", "source": "pgdata", "target": PGDATA, "volume": {}}]}


@pytest.fixture
def app_dir(tmp_path):
    path = tmp_path / "proyectos" / "credinet-v2"
    path.mkdir(parents=True)
    (path / ".env").write_text(
        "# Credinet (hand-written)\n"
        "POSTGRES_PASSWORD='%s'\n"
        "SECRET_KEY=%s\n"
        "COMPOSE_FILE=docker-compose.yml:docker-compose.prod.yml  # prod\n"
        "export APP_VERSION=\"f727416f156530c64341f1e817b6e18fa346d88e\" # deployed\n" % (ENV_SECRET, ENV_SECRET))
    return path


@pytest.fixture
def docker(monkeypatch, app_dir):
    """Install a FakeDocker; default: the recorded stack, running from app_dir."""
    def install(containers=None, volumes=None, initialised=("credinet-v2_pgdata",),
                counts=(("users", "4"), ("loans", "120"), ("payments", "987")), config=DB_CONFIG):
        fake = FakeDocker(list(stack(app_dir).values()) if containers is None else containers,
                          recorded("docker-volume-inspect.json") if volumes is None else volumes,
                          initialised, dict(counts), config)
        monkeypatch.setattr(module.AnsibleModule, "run_command", lambda _module, args, **kwargs: fake(args, **kwargs))
        return fake
    return install


def discover(args, capsys):
    """run_module, and no secret of the stack in what it returns."""
    code, out = run_module(module, args, capsys)
    text = json.dumps(out)
    # Discovery reads three keys of the .env and no container environment: no secret leaves it.
    assert ENV_SECRET not in text and CONTAINER_SECRET not in text and "POSTGRES_PASSWORD" not in text
    return code, out


def test_the_running_stack_is_discovered(app_dir, docker, capsys):
    fake = docker()
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["changed"] is False
    assert out["project"] == "credinet-v2" and out["project_source"] == "running" and out["running"] is True
    assert sorted(out["services"]) == ["backend", "frontend", "postgres"]
    assert all(s["running"] for s in out["services"].values())
    assert out["db_container"] == "8962d33cb1dbecd11015b285ef29259bd7a9e26c4f3bb2a6aca55bf4874db0e9"
    assert out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True
    assert out["other_volumes"] == [] and out["refusal"] is None
    assert out["config_services"] == ["postgres"], "the services the Compose configuration declares"
    assert out["config_files"] == [str(app_dir / "docker-compose.yml"), "/etc/credinet-compose/credinet.override.yml"]
    assert out["env_values"] == {"COMPOSE_PROJECT_NAME": "", "COMPOSE_FILE": "docker-compose.yml:docker-compose.prod.yml",
                                 "APP_VERSION": "f727416f156530c64341f1e817b6e18fa346d88e", "POSTGRES_USER": "",
                                 "POSTGRES_DB": ""}
    # Read-only: containers and volumes are inspected, the volume looked at, nothing else.
    assert set(fake.verbs()) <= {"ps", "container inspect", "volume inspect", "volume ls", "run", "compose", "exec"}
    assert [a for a in fake.calls if a[0] == "compose"] == [
        ["compose", "--project-directory", str(app_dir), "-p", "credinet-v2", "config", "--format", "json"]]
    # The probe uses the exact image of the database container, by id.
    assert ["run", "--rm", "--pull", "never", "--network", "none", "-v", "credinet-v2_pgdata:%s:ro" % PGDATA,
            "--entrypoint", "test", stack(app_dir)["postgres"]["Image"], "-f", PGDATA + "/PG_VERSION"] in fake.calls


def test_an_uninitialised_volume_of_the_only_project_is_no_refusal(app_dir, docker, capsys):
    docker(initialised=())
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is False
    assert out["refusal"] is None  # a first start: no other volume holds data


def test_the_module_runs_the_same_in_check_mode(app_dir, docker, capsys):
    docker()
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES, "_ansible_check_mode": True}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["db_initialised"] is True and out["refusal"] is None


def test_a_configured_project_without_a_volume_is_refused_while_another_holds_data(app_dir, docker, capsys):
    fake = docker()
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0 and out["changed"] is False
    assert out["project"] == "credinet" and out["project_source"] == "configured"
    assert out["running"] is False and out["services"] == {} and out["db_container"] == ""
    assert out["db_volume"] == "" and out["db_initialised"] is False
    assert out["other_volumes"] == [{"name": "credinet-v2_pgdata", "project": "credinet-v2", "initialised": True,
                                     "rows": {"users": "4", "loans": "120", "payments": "987"}}]
    assert out["refusal"].startswith("Compose project 'credinet' would start PostgreSQL on volume '(not created yet)', "
                                     "which is missing, while ")
    assert "credinet-v2_pgdata (project credinet-v2, loans=120, payments=987, users=4) holds data" in out["refusal"]
    assert out["refusal"].endswith("Nothing was changed.")
    # The row counts come from the running database container of the other project, as its user.
    postgres = stack(app_dir)["postgres"]["Id"]
    assert ["exec", postgres, "psql", "-qAtX", "-U", "credinet", "-d", "credinet", "-c", "SELECT count(*) FROM loans"] \
        in fake.calls


def test_a_configured_project_with_an_empty_volume_is_refused_and_both_volumes_are_named(app_dir, docker, capsys):
    docker(volumes=recorded("docker-volume-inspect.json") + [volume_of("credinet")],
           counts=(("users", "4"), ("loans", "120")))  # payments does not exist
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0
    assert out["db_volume"] == "credinet_pgdata" and out["db_initialised"] is False
    assert [o["name"] for o in out["other_volumes"]] == ["credinet-v2_pgdata"]
    assert "on volume 'credinet_pgdata', which is empty, while credinet-v2_pgdata (project credinet-v2, loans=120, " \
           "payments=?, users=4) holds data" in out["refusal"]
    assert out["refusal"].endswith("Nothing was changed.")


def test_a_configured_project_whose_own_volume_holds_data_is_not_refused(app_dir, docker, capsys):
    docker(volumes=recorded("docker-volume-inspect.json") + [volume_of("credinet")],
           initialised=("credinet-v2_pgdata", "credinet_pgdata"))
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0 and out["refusal"] is None
    assert out["db_volume"] == "credinet_pgdata" and out["db_initialised"] is True
    assert out["other_volumes"] == [{"name": "credinet-v2_pgdata", "project": "credinet-v2", "initialised": True,
                                     "rows": {"users": "4", "loans": "120", "payments": "987"}}]


def test_an_old_volume_with_data_is_listed_but_the_running_project_is_not_refused(app_dir, docker, capsys):
    docker(volumes=[volume_of("credinet")] + recorded("docker-volume-inspect.json"),
           initialised=("credinet-v2_pgdata", "credinet_pgdata"))
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["refusal"] is None
    assert out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True
    # No container uses the old volume: no row counts (nothing is started to count them).
    assert out["other_volumes"] == [{"name": "credinet_pgdata", "project": "credinet", "initialised": True, "rows": {}}]


def test_the_env_file_names_the_project_when_nothing_runs(app_dir, docker, capsys):
    (app_dir / ".env").write_text("COMPOSE_PROJECT_NAME=credinet\nPOSTGRES_PASSWORD=%s\n" % ENV_SECRET)
    fake = docker(containers=[], volumes=[])
    code, out = discover({"app_dir": str(app_dir)}, capsys)
    assert code == 0 and out["project"] == "credinet" and out["project_source"] == "env_file"
    assert out["running"] is False and out["services"] == {} and out["config_files"] == []
    assert out["db_volume"] == "" and out["db_initialised"] is False and out["refusal"] is None
    assert out["env_values"]["COMPOSE_PROJECT_NAME"] == "credinet"
    assert fake.verbs() == ["ps", "compose", "volume ls"]


def test_without_env_file_nor_containers_the_project_is_the_folder_name(app_dir, docker, capsys):
    os.remove(app_dir / ".env")
    docker(containers=[], volumes=[])
    code, out = discover({"app_dir": str(app_dir) + "/"}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["project_source"] == "folder"
    assert out["env_values"] == {"COMPOSE_PROJECT_NAME": "", "COMPOSE_FILE": "", "APP_VERSION": "", "POSTGRES_USER": "",
                                 "POSTGRES_DB": ""}


def test_an_env_file_that_is_not_utf8_is_read(app_dir, docker, capsys):
    (app_dir / ".env").write_bytes(b"# contrase\xf1a de la base\nCOMPOSE_PROJECT_NAME=credinet\n")
    docker(containers=[], volumes=[])
    code, out = discover({"app_dir": str(app_dir)}, capsys)
    assert code == 0 and out["project"] == "credinet" and out["project_source"] == "env_file"


def test_a_stopped_stack_is_still_the_project_of_the_folder(app_dir, docker, capsys):
    stopped = [copy_of(c, running=False) for c in stack(app_dir).values()]
    docker(containers=stopped)
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["project_source"] == "stopped"
    assert out["running"] is False and out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True
    assert out["refusal"] is None


def test_several_projects_from_the_folder_fail_and_change_nothing(app_dir, docker, capsys):
    old = copy_of(stack(app_dir)["postgres"], project="credinet", running=True, cid="c" * 64, volume="credinet_pgdata")
    fake = docker(containers=list(stack(app_dir).values()) + [old])
    code, out = discover({"app_dir": str(app_dir)}, capsys)
    assert code == 1 and out["failed"] is True
    assert "credinet, credinet-v2" in out["msg"] and out["msg"].endswith("Nothing was changed.")
    assert set(fake.verbs()) == {"ps", "container inspect"}


def test_a_container_that_vanishes_between_ps_and_inspect_does_not_hide_the_others(app_dir, docker, capsys):
    # `docker inspect a b` of a removed b prints a's JSON and exits 1 (a one-off `compose run --rm`
    # container ending, a container being recreated).
    fake = docker()
    fake.vanished = ["0" * 64]
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0 and out["refusal"] is not None and "credinet-v2_pgdata" in out["refusal"]


def test_without_a_docker_binary_nothing_runs_and_the_folder_names_the_project(app_dir, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out = discover({"app_dir": str(app_dir)}, capsys)
    # A host without Docker yet (a fresh install): nothing to protect, the project Compose would use.
    assert code == 0 and out["running"] is False and out["refusal"] is None
    assert out["project"] == app_dir.name.lower() and out["project_source"] == "folder"


# --- review fixes: an unreadable engine, volumes without containers, an empty cluster of its own --

@pytest.mark.parametrize("verb", ["ps", "volume"])
def test_an_engine_that_does_not_answer_fails_instead_of_meaning_nothing_runs(app_dir, docker, capsys, verb):
    fake = docker()
    fake.failing[verb] = (1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n")
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 1 and out["failed"] is True
    assert "Cannot connect to the Docker daemon" in out["msg"] and out["msg"].endswith("Nothing was changed.")


def test_a_volume_that_cannot_be_looked_into_fails(app_dir, docker, capsys):
    fake = docker()
    fake.probe_rc = 125
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 1 and "cannot look into volume credinet-v2_pgdata" in out["msg"]
    assert out["msg"].endswith("Nothing was changed.")


def test_volumes_left_by_compose_down_are_found_through_the_app_configuration(app_dir, docker, capsys):
    # `docker compose down` removed every container; the data volume stays. Its key comes from the
    # app's own Compose configuration, and the probe uses the configured image.
    fake = docker(containers=[])
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["project_source"] == "folder"
    assert out["running"] is False and out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True
    assert out["refusal"] is None
    assert any(a[0] == "run" and a[-3] == "postgres:17" for a in fake.calls)


def test_after_compose_down_another_project_name_is_refused(app_dir, docker, capsys):
    (app_dir / ".env").write_text("COMPOSE_PROJECT_NAME=credinet\n")
    docker(containers=[])
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["project"] == "credinet" and out["project_source"] == "env_file"
    assert out["other_volumes"] == [{"name": "credinet-v2_pgdata", "project": "credinet-v2", "initialised": True,
                                     "rows": {}}]
    assert "volume '(not created yet)', which is missing, while credinet-v2_pgdata" in out["refusal"]


def test_a_volume_that_cannot_be_probed_for_lack_of_an_image_counts_as_holding_data(app_dir, docker, capsys):
    # No container and no configuration names an image: the volume is never taken for empty.
    (app_dir / ".env").write_text("COMPOSE_PROJECT_NAME=credinet\n")
    fake = docker(containers=[], config={"image": "", "volumes": DB_CONFIG["volumes"]})
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["other_volumes"][0]["initialised"] is True and out["refusal"] is not None
    assert "run" not in fake.verbs()


def test_the_env_file_wins_over_old_stopped_containers_of_another_project(app_dir, docker, capsys):
    (app_dir / ".env").write_text("COMPOSE_PROJECT_NAME=credinet-v2\n")
    old = copy_of(stack(app_dir)["postgres"], project="credinet", running=False, cid="c" * 64, volume="credinet_pgdata")
    docker(containers=[old], volumes=recorded("docker-volume-inspect.json") + [volume_of("credinet")],
           initialised=("credinet-v2_pgdata",))
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["project"] == "credinet-v2" and out["project_source"] == "env_file"
    assert out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True and out["refusal"] is None


@pytest.mark.parametrize("own", [{"users": "0", "loans": "0", "payments": "0"}, {}])
def test_a_running_database_without_the_app_rows_is_refused_while_another_holds_them(app_dir, docker, capsys, own):
    # The configured project runs a fresh cluster (tables empty, or not created yet) next to the
    # project whose volume holds the loans.
    fresh = copy_of(stack(app_dir)["postgres"], project="credinet", cid="c" * 64, volume="credinet_pgdata")
    fake = docker(containers=list(stack(app_dir).values()) + [fresh],
                  volumes=recorded("docker-volume-inspect.json") + [volume_of("credinet")],
                  initialised=("credinet-v2_pgdata", "credinet_pgdata"))
    fake.own_counts = own
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0 and out["db_volume"] == "credinet_pgdata" and out["db_initialised"] is True
    assert "on volume 'credinet_pgdata', which is a database without the app's rows, while credinet-v2_pgdata " \
           "(project credinet-v2, loans=120, payments=987, users=4) holds data" in out["refusal"]


def test_a_running_database_with_rows_of_its_own_is_not_refused(app_dir, docker, capsys):
    fresh = copy_of(stack(app_dir)["postgres"], project="credinet", cid="c" * 64, volume="credinet_pgdata")
    fake = docker(containers=list(stack(app_dir).values()) + [fresh],
                  volumes=recorded("docker-volume-inspect.json") + [volume_of("credinet")],
                  initialised=("credinet-v2_pgdata", "credinet_pgdata"))
    fake.own_counts = {"users": "1", "loans": "0", "payments": "0"}
    code, out = discover({"app_dir": str(app_dir), "project": "credinet", "critical_tables": TABLES}, capsys)
    assert code == 0 and out["refusal"] is None


def test_the_own_volume_that_cannot_be_probed_counts_as_holding_data(app_dir, docker, capsys):
    # No container, no image in the configuration: the volume is never taken for empty (that
    # would switch off the frozen database credentials and the never-backed-up refusal).
    fake = docker(containers=[], config={"image": "", "volumes": DB_CONFIG["volumes"]})
    code, out = discover({"app_dir": str(app_dir), "critical_tables": TABLES}, capsys)
    assert code == 0 and out["db_volume"] == "credinet-v2_pgdata" and out["db_initialised"] is True
    assert "run" not in fake.verbs()
