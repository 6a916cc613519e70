"""Every command line the documentation gives parses, and its -e values are what the roles accept.

The commands that can run in the sandbox also run there, as typed (molecule/sandbox/tests/
test_documented_commands.py); this test checks all of them without a host: `--syntax-check`
against the inventory they name, with their -e values, and each -e value against the role
argument specs and the playbooks' own inputs (a documented `-e app_force=true` that a role would
refuse, or an override no role declares, fails here).
"""
import argparse
import functools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import load_source

ROOT = Path(__file__).resolve().parents[3]
DOCS = load_source("scripts/documented-commands.py")
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
COMMANDS = DOCS.extract()
# Inputs of playbooks that are not role variables (plays' own vars), with their types.
PLAYBOOK_INPUTS = {"restore_confirm": "str", "restore_backup": "str", "restore_from": "str", "restore_target_time": "str",
                   "restore_allow_other_env": "bool", "restore_discard_unarchived": "bool", "restore_target_timeline": "int",
                   "dr_confirm": "str",
                   "dr_backup": "str", "dr_force": "bool",
                   "dr_max_set_age_hours": "int"}
STRICT_BOOLS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


@functools.cache
def declared_inputs():
    """{variable: type} of every option of every role entry point, plus the playbooks' own inputs."""
    declared = dict(PLAYBOOK_INPUTS)
    for spec in ROOT.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            for name, option in (entry.get("options") or {}).items():
                declared[name] = option.get("type", "str")
    return declared


def test_the_documentation_gives_commands():
    assert len(COMMANDS) >= 10
    assert any("deploy.yml" in c for c in COMMANDS) and any("restore.yml" in c for c in COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_documented_command_parses_with_its_values(command):
    playbook, inventory, extra, options = DOCS.parse(command)
    assert playbook and (ROOT / playbook).exists(), "%s names no existing playbook" % command
    assert inventory and (ROOT / inventory).is_dir(), "%s names no existing inventory" % command
    for key, value in extra.items():
        kind = declared_inputs().get(key)
        assert kind, "-e %s (documented in %s) is no declared input" % (key, COMMANDS[command])
        if kind == "bool":
            assert value.lower() in STRICT_BOOLS, "-e %s=%s is not a boolean" % (key, value)
        if kind == "int":
            assert value.lstrip("-").isdigit(), "-e %s=%s is not a number" % (key, value)
    args = [ANSIBLE_PLAYBOOK, "-i", inventory, "--syntax-check", playbook]
    for key, value in extra.items():
        args += ["-e", "%s=%s" % (key, value)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_placeholders_and_optional_parts():
    assert DOCS.variants("ansible-playbook -i x p.yml [-e a=1] [--check]") == [
        "ansible-playbook -i x p.yml", "ansible-playbook -i x p.yml -e a=1 --check"]
    assert DOCS.fill("-e app_rollback_to=<commit>") == "-e app_rollback_to=" + DOCS.SAMPLES["<commit>"]
    with pytest.raises(ValueError, match="unknown placeholder"):
        DOCS.fill("-e x=<nope>")
    assert DOCS.commands_in_markdown("run `ansible-playbook -i a b.yml` then `x`") == ["ansible-playbook -i a b.yml"]
    assert DOCS.commands_in_playbook("---\n# Do it\n#   ansible-playbook -i a b.yml  # comment\n- name: x\n#   ansible-playbook c") \
        == ["ansible-playbook -i a b.yml"]
    assert DOCS.parse("ansible-playbook -i inventories/prod playbooks/d.yml --vault-id prod@prompt -e a=b=c --check") == (
        "playbooks/d.yml", "inventories/prod", {"a": "b=c"}, ["--vault-id", "prod@prompt", "--check"])


def test_every_documented_override_is_a_declared_input_with_a_valid_value():
    """`-e key=value` written in prose too (not only in full command lines): an operator types it."""
    found = DOCS.overrides()
    assert ("app_force", "true") in found, "the forced redeploy is documented"
    for (key, value), where in sorted(found.items()):
        kind = declared_inputs().get(key)
        assert kind, "-e %s (documented in %s) is no declared input" % (key, where)
        if kind == "bool":
            assert value.lower() in STRICT_BOOLS, "-e %s=%s (%s) is not a boolean" % (key, value, where)
        if kind == "int":
            assert value.lstrip("-").isdigit(), "-e %s=%s (%s) is not a number" % (key, value, where)


# --- host commands (`sudo credinet-backup list`) ----------------------------------------------------

HOST_TOOLS = {"credinet-backup": "roles/backup/files/credinet-backup",
              "credinet-offsite": "roles/offsite/files/credinet-offsite",
              "credinet-notify": "roles/notify/files/credinet-notify"}
HOST_COMMANDS = DOCS.host_commands()


def subcommands(parser):
    """{name: subparser} of a command's parser ({} for a command without subcommands)."""
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return found[0].choices if found else {}


def option_strings(parser):
    return {o for a in parser._actions for o in a.option_strings}


def host_command_errors(tool, words):
    """What no longer exists of a documented host command ([] when it all does)."""
    parser = load_source(HOST_TOOLS[tool]).parser()
    first, options = DOCS.synopsis(words)
    subs = subcommands(parser)
    errors = []
    if subs and first is not None and first not in subs:
        errors.append("%s has no subcommand %r" % (tool, first))
    known = option_strings(subs[first]) if first in subs else option_strings(parser)
    errors += ["%s %s has no option %s" % (tool, first or "", o) for o in options if o not in known]
    # A full invocation parses as typed; a bare subcommand is a name in prose (`check-config`).
    concrete = len(words) > 1 and not any(c in " ".join(words) for c in "[]|<") and not any(w.isupper() for w in words)
    if concrete and not errors:
        try:
            parser.parse_args(list(words))
        except SystemExit:
            errors.append("%s %s does not parse" % (tool, " ".join(words)))
    return errors


def test_the_documentation_gives_host_commands():
    assert {tool for tool, _ in HOST_COMMANDS} == set(HOST_TOOLS)
    assert len(HOST_COMMANDS) >= 15


@pytest.mark.parametrize(("tool", "words"), sorted(HOST_COMMANDS), ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_documented_host_command_still_exists(tool, words):
    errors = host_command_errors(tool, words)
    assert not errors, "%s (documented in %s)" % (errors, ", ".join(HOST_COMMANDS[(tool, words)]))


@pytest.mark.parametrize(("tool", "words", "error"), [
    ("credinet-backup", ("backup",), "no subcommand 'backup'"),
    ("credinet-backup", ("list", "--all"), "no option --all"),
    ("credinet-backup", ("restore", "[--force]"), "no option --force"),
    ("credinet-offsite", ("fetch", "--set", "latest"), "no option --set"),
    ("credinet-backup", ("verify", "a", "b"), "does not parse"),
    ("credinet-notify", ("--unit", "x"), "no option --unit"),
])
def test_a_command_that_no_longer_exists_is_named(tool, words, error):
    assert any(error in e for e in host_command_errors(tool, words))


def test_host_commands_are_found_in_code_spans_only(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/x.md").write_text("Corre `sudo credinet-backup list --json` y `credinet-offsite run`;\n"
                                        "`credinet-backup.timer` y credinet-backup run sin comillas no cuentan.\n")
    assert DOCS.host_commands(tmp_path) == {("credinet-backup", ("list", "--json")): ["docs/x.md"],
                                            ("credinet-offsite", ("run",)): ["docs/x.md"]}


# --- --tags values (a mistyped tag runs nothing, silently) -----------------------------------------

@functools.cache
def playbook_tags(playbook, inventory):
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(ROOT / inventory), "--list-tags", str(ROOT / playbook)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, check=True)
    return {t.strip() for line in proc.stdout.splitlines() if "TAGS: [" in line
            for t in line.split("TAGS: [", 1)[1].rstrip("]").split(",") if t.strip()}


TAGGED = sorted(c for c in COMMANDS if "--tags" in DOCS.parse(c)[3] or "-t" in DOCS.parse(c)[3])


def documented_tags(command):
    options = DOCS.parse(command)[3]
    flag = "--tags" if "--tags" in options else "-t"
    return set(options[options.index(flag) + 1].split(","))


def test_the_documentation_gives_tagged_commands():
    assert TAGGED, "the runbooks name --tags runs (acceso-y-firewall, rotar-secretos)"


@pytest.mark.parametrize("command", TAGGED)
def test_documented_tags_exist_in_the_playbook(command):
    playbook, inventory, _, _ = DOCS.parse(command)
    unknown = documented_tags(command) - playbook_tags(playbook, "inventories/sandbox")
    assert not unknown, "%s: no task has tag(s) %s" % (command, sorted(unknown))


def test_a_mistyped_tag_is_caught():
    assert "notfy" not in playbook_tags("playbooks/site.yml", "inventories/sandbox")
    assert {"security", "notify", "app", "monitoring", "offsite", "backup"} <= playbook_tags("playbooks/site.yml",
                                                                                              "inventories/sandbox")


def test_the_sandbox_exceptions_still_name_documented_commands():
    """Scenario sandbox runs every documented command but those it lists as run elsewhere: a stale
    entry fails there after minutes of Molecule, here at once."""
    sandbox = load_source("molecule/sandbox/tests/test_documented_commands.py")
    documented = DOCS.extract()
    assert set(sandbox.ELSEWHERE) <= {DOCS.parse(c)[0] for c in documented}
    for variant in sandbox.ELSEWHERE_VARIANTS:
        assert any(variant in c for c in documented), "no documented command has %s any more" % variant
