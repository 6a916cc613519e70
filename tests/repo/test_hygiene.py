"""Repository rules that no single role test can see."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_HOSTS = re.compile(r"\b(10\.5\.26\.141|192\.168\.98\.98)\b")
# Where the real addresses may appear: inventories (data), docs and this test.
ALLOWED = ("inventories/prod/", "inventories/dev/", "docs/", "README.md", "tests/repo/", "tests/inventory/")
SECRET_SHAPES = re.compile(
    r"[0-9]{8,10}:AA[A-Za-z0-9_-]{30,}|discord(app)?\.com/api/webhooks/[0-9]{6,}/[A-Za-z0-9_-]{20,}|BEGIN [A-Z ]*PRIVATE KEY"
)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return [ROOT / f for f in out.split("\0") if f and (ROOT / f).is_file()]


def text_of(path):
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return ""


def test_real_host_addresses_only_in_inventories_and_docs():
    offenders = [
        str(p.relative_to(ROOT)) for p in tracked_files()
        if not str(p.relative_to(ROOT)).startswith(ALLOWED) and REAL_HOSTS.search(text_of(p))
    ]
    assert offenders == []


def test_no_real_looking_secrets_in_git():
    offenders = [str(p.relative_to(ROOT)) for p in tracked_files() if SECRET_SHAPES.search(text_of(p))]
    assert offenders == []


def test_committed_vault_files_are_fake_or_encrypted():
    for path in ROOT.glob("inventories/*/group_vars/all/vault.yml"):
        text = path.read_text()
        if path.parts[-4] == "sandbox":
            assert "FAKE" in text or "fake" in text
        else:
            values = [line for line in text.splitlines() if re.match(r"^vault_\w+:", line)]
            assert all("!vault" in line for line in values), path


# `-e key=value` gives strings: a boolean input used bare is "true"/"false" text (a
# non-empty string is truthy in Jinja, a str conditional is refused by ansible-core 2.19).
# The argument specs refuse what is no boolean; every use converts with `| bool`.
JINJA = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.S)
# Function parameters always passed as literals by the role itself.
BOOL_PASS_THROUGH = {"app_switch_fetch"}


def bool_inputs():
    import yaml
    names = set()
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            names |= {n for n, o in (entry.get("options") or {}).items() if o.get("type") == "bool"}
    return names - BOOL_PASS_THROUGH


def expressions(path):
    """(line number, expression) of every Jinja expression and `when:` condition of a file."""
    text = text_of(path)
    for match in JINJA.finditer(text):
        yield text.count("\n", 0, match.start()) + 1, match.group(1) or match.group(2)
    if path.suffix == ".yml":
        block = None
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if re.match(r"(- )?(when|failed_when|changed_when|until|that):", stripped):
                rest = stripped.split(":", 1)[1].strip()
                block = len(line) - len(line.lstrip()) if not rest or rest in (">-", "|", ">") else None
                if rest and block is None:
                    yield number, rest
            elif block is not None and stripped and len(line) - len(line.lstrip()) > block:
                yield number, stripped.lstrip("- ")
            elif stripped:
                block = None


def test_boolean_inputs_are_converted_wherever_they_are_used():
    names = bool_inputs()
    assert {"offsite_enabled", "security_ssh_allow_root_key", "app_force"} <= names
    bare = re.compile(r"(?<!['\"])\b(%s)\b(?!\s*\|\s*(bool|credinet_bool)\b)(?!\s*:)(?!\s*=[^=])" % "|".join(sorted(names)))
    offenders = []
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("roles/*/vars/*.yml")) + \
            sorted(ROOT.glob("roles/*/templates/**/*.j2")) + sorted(ROOT.glob("playbooks/*.yml")):
        for number, expression in expressions(path):
            for match in bare.finditer(expression):
                offenders.append("%s:%d %s" % (path.relative_to(ROOT), number, match.group(1)))
    assert not offenders, "boolean inputs used without | bool:\n" + "\n".join(offenders)


def test_every_role_entry_point_used_has_an_argument_spec():
    import yaml
    used = set()
    for path in list(ROOT.glob("playbooks/*.yml")) + list(ROOT.glob("roles/*/tasks/*.yml")):
        text = text_of(path)
        for match in re.finditer(r"name:\s*(\w+)\s*\n\s*tasks_from:\s*([\w.]+)", text):
            used.add((match.group(1), match.group(2).removesuffix(".yml")))
    assert ("app", "lock") in used and ("security", "preflight") in used
    missing = [(role, entry) for role, entry in sorted(used)
               if entry not in yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]]
    assert not missing, "entry points without an argument spec: %s" % missing


def test_shared_code_has_one_import_path():
    """credinet_ops is imported as a package (installed on hosts, ansible.module_utils in plugins):
    nobody edits sys.path to find it, and no second copy of a module exists."""
    python = [p for p in tracked_files() if p.suffix == ".py" or text_of(p).startswith("#!/usr/bin/env python3")]
    assert not [str(p.relative_to(ROOT)) for p in python if re.search(r"sys\.path\.(insert|append)|sys\.path\s*[+=]", text_of(p))]
    names = [p.name for p in ROOT.glob("module_utils/**/*.py") if p.name != "__init__.py"]
    assert len(names) == len(set(names)), "two modules of the same name"


def ignored(path):
    return subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT).returncode == 0


def test_a_database_dump_cannot_be_added_to_git():
    """The legacy MySQL dump (customer data) and any pg_dump or backup set are ignored wherever
    they are put; only the fixtures' own SQL files are tracked."""
    for path in ("credicuenta202512190600.sql", "docs/credicuenta202512190600.sql", "credicuenta.sql.gz",
                 "roles/backup/files/credinet_db_20261129T020000-0600.dump.zst", "legacy/x.dump", "old.mysql",
                 "harness/fixture-app/db/init/credicuenta.sql"):
        assert ignored(path), "%s could be committed" % path
    tracked_sql = [str(p.relative_to(ROOT)) for p in tracked_files() if re.search(r"\.(sql|dump|mysql)(\.|$)", p.name)]
    assert tracked_sql and not [p for p in tracked_sql if ignored(p)], tracked_sql
    assert sorted(tracked_sql) == ["harness/fixture-app/db/init/01-schema.sql", "molecule/dr/edge-cases.sql"]


ENTRY_HEADING = re.compile(r"^#+ Entry point `([a-z_]+)`", re.M)
ROLE_ENTRY = re.compile(r"role `?([a-z]+)`?(?:'s)?,? entry point `([a-z_]+)`", re.I)


def test_documented_entry_points_exist():
    """A role README's "Entry point `x`" heading, and "role r, entry point `x`" anywhere in the
    docs, name a tasks file that exists (an entry point that was removed must leave the docs)."""
    missing = []
    for readme in ROOT.glob("roles/*/README.md"):
        role = readme.parent.name
        missing += ["%s: %s" % (readme.relative_to(ROOT), e) for e in ENTRY_HEADING.findall(readme.read_text())
                    if not (readme.parent / "tasks" / (e + ".yml")).exists()]
    for doc in [*ROOT.glob("roles/*/README.md"), ROOT / "README.md", *ROOT.glob("docs/**/*.md")]:
        for role, entry in ROLE_ENTRY.findall(doc.read_text()):
            if not (ROOT / "roles" / role.lower() / "tasks" / (entry + ".yml")).exists():
                missing.append("%s: role %s, entry point %s" % (doc.relative_to(ROOT), role, entry))
    assert missing == []


def test_benchmark_figures_are_stated_once_in_benchmarks():
    """A sentence that points to docs/BENCHMARKS.md gives no figure of its own: they drift."""
    figure = re.compile(r"\b[0-9]+(?:\.[0-9]+)? ?(?:s|ms|min|seconds|minutes)\b")
    stale = [
        "%s:%d" % (doc.relative_to(ROOT), n) for doc in [ROOT / "README.md", *ROOT.glob("roles/*/README.md"),
                                                         *ROOT.glob("docs/es/*.md")]
        for n, line in enumerate(doc.read_text().splitlines(), 1) if "BENCHMARKS.md" in line and figure.search(line)
    ]
    assert stale == []


def test_the_takeover_page_says_what_replaces_each_old_command():
    """The operators' habits (the app repository's scripts and their flags) each have a row."""
    table = (ROOT / "docs/es/adopcion.md").read_text()
    for old in ("scripts/backup-db.sh", "scripts/deploy.sh`", "deploy.sh --backup", "deploy.sh --rollback",
                "deploy.sh --help", "scripts/test-notifications.sh", "safe-docker.sh"):
        assert "| `" + old.split("`")[0] in table or old in table, old


def test_a_spanish_page_gives_the_release_flow():
    page = (ROOT / "docs/es/flujo-de-versiones.md").read_text()
    for step in ("feature/", "develop", "git push origin main", "playbooks/deploy.yml", "--check", "rollback.yml"):
        assert step in page, step
    assert "docs/es/flujo-de-versiones.md" in (ROOT / "README.md").read_text()
