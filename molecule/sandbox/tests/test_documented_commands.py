"""The command lines of the documentation, run as typed against the sandbox (issue #17).

Each documented command runs with the sandbox inventory in place of the one it names, on the
sandbox host of that environment, without --vault-id (the sandbox vault is in clear) and with
the real host name of prod replaced by the sandbox's. Optional parts are included (the fullest
variant of each line runs; every variant is syntax-checked by tests/unit/scripts). A command
added to the documentation runs here automatically; the ones that cannot run here say where they
run instead (ELSEWHERE).

They run with Ansible's own strategy, as operators do (ansible.cfg), and so does site.yml's
--check --diff below: the one whole site.yml run with operators' strategy (the scenario's converge
and idempotence use Mitogen's, like every other scenario, for the suite's time).
"""
import importlib.util
import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("documented_commands", PROJECT / "scripts" / "documented-commands.py")
DOCS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(DOCS)

HOSTS = {"inventories/prod": "sandbox-prod", "inventories/dev": "sandbox-dev"}
# Documented commands that run somewhere else than here, and where.
ELSEWHERE = {
    # site.yml itself is this scenario's converge and idempotence steps, and its --check --diff below.
    "playbooks/site.yml": "converge/idempotence of this scenario, and its --check --diff below",
    # A rollback needs a previous release: the deploy scenario deploys one first.
    "playbooks/rollback.yml": "molecule/deploy test_manual_rollback_returns_to_the_previous_release",
    # A rebuild needs an empty host and an offsite remote: scenario dr destroys its prod host for it.
    "playbooks/dr-rebuild.yml": "molecule/dr converge, and test_a_second_rebuild_is_refused_and_changes_nothing",
}
# Documented variants that need what the sandbox hosts do not have, and where they run instead.
ELSEWHERE_VARIANTS = {
    # The sandbox inventory has no offsite remote; scenario offsite brings its own.
    "restore_from=offsite": "molecule/offsite test_disaster_recovery_restores_from_the_remote",
    # Point-in-time restores need role pitr (off in the sandbox inventory); scenario pitr runs them.
    "restore_target_time": "molecule/pitr test_restore_to_a_time_undoes_a_mistaken_delete and "
                           "test_a_crash_under_inserts_is_rebuilt_within_a_minute",
    # A developer's branch exists only in scenario adopt's copy of the app repository (it pushes one).
    "app_ref=feature/": "molecule/adopt test_dev_accepts_a_developers_branch_but_never_deploys_over_local_edits",
}
# The strategy ansible.cfg gives operators; Molecule's generated config says Mitogen's.
OPERATORS = {"ANSIBLE_STRATEGY": "linear"}
SECRETS = ("FAKE-sandbox-telegram-token", "FAKE-sandbox-discord-token", "sandbox-fake-smtp-password",
           "sandbox-fake-db-password", "sandbox-fake-crypt-password")


def fullest_per_line():
    """The longest variant of each (playbook, inventory, options) line: one run per documented path."""
    chosen = {}
    # Variants that run elsewhere are left out first: the next fullest variant of their line runs here.
    for command in (c for c in DOCS.extract() if not any(variant in c for variant in ELSEWHERE_VARIANTS)):
        playbook, inventory, extra, options = DOCS.parse(command)
        key = (playbook, inventory, tuple(o for o in options if o not in ("--vault-id",) and "@prompt" not in o))
        if key not in chosen or len(command) > len(chosen[key]):
            chosen[key] = command
    return sorted(chosen.values())


RUNNABLE = [c for c in fullest_per_line() if DOCS.parse(c)[0] not in ELSEWHERE]


def sandbox_args(command):
    """The documented command as it runs here: (hostname, extra arguments for run_playbook)."""
    playbook, inventory, extra, options = DOCS.parse(command)
    host = HOSTS[inventory]
    args = []
    skip = False
    for option in options:
        if skip:
            skip = False
            continue
        if option == "--vault-id":
            skip = True
            continue
        args.append(option)
    for key, value in extra.items():
        args += ["-e", "%s=%s" % (key, value.replace("credicuenta3", "sandbox-prod"))]
    return playbook, host, args


def test_every_documented_command_runs_here_or_says_where():
    covered = {DOCS.parse(c)[0] for c in RUNNABLE} | set(ELSEWHERE)
    documented = {DOCS.parse(c)[0] for c in DOCS.extract()}
    assert documented <= covered
    assert set(ELSEWHERE) <= documented, "a stale ELSEWHERE entry"
    assert all(any(v in c for c in DOCS.extract()) for v in ELSEWHERE_VARIANTS), "a stale ELSEWHERE_VARIANTS entry"


@pytest.mark.parametrize("command", RUNNABLE)
def test_documented_command_runs_in_the_sandbox(command, playbook):
    path, hostname, args = sandbox_args(command)
    result = playbook(PROJECT / path, hostname, *args, env=OPERATORS)
    assert result.rc == 0, "%s\n%s" % (command, result.output[-3000:])
    assert "Mitogen runs play" not in result.output, "not the operators' strategy"
    assert result.recap(hostname)["failed"] == 0
    leaked = [s for s in SECRETS if s in result.output]
    assert not leaked, "%s printed %s" % (command, leaked)


def test_the_check_diff_of_site_yml_shows_no_secret(playbook):
    """--check --diff is what operators run first: neither a diff nor verbose output may print a secret."""
    result = playbook(PROJECT / "playbooks/site.yml", "sandbox-prod", "--check", "--diff", "-vv",
                      env={"ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0", **OPERATORS})
    assert result.rc == 0, result.output[-3000:]
    assert "Mitogen runs play" not in result.output, "not the operators' strategy"
    assert not [s for s in SECRETS if s in result.output]
    assert os.environ.get("MOLECULE_SCENARIO_NAME") == "sandbox"
