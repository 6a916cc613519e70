"""site.yml's host layer and the security scenario's converge (which repeats it): role security
renders with any strategy and leaves confirm-or-revert to the very next play, which is the only
one forced onto Ansible's linear strategy (a really new login), and runs nothing when nothing is
pending."""
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = [ROOT / "playbooks/site.yml", ROOT / "molecule/security/converge.yml"]


def role_names(play):
    return [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]


def security_plays(plays):
    """(index of the play running role security, that play, the next play)."""
    index = next(i for i, p in enumerate(plays) if "security" in role_names(p))
    return index, plays[index], plays[index + 1]


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.name)
def test_security_renders_with_any_strategy_and_the_next_play_confirms_linearly(path):
    plays = yaml.safe_load(path.read_text())
    index, render, confirm = security_plays(plays)
    role = next(r for r in render["roles"] if isinstance(r, dict) and r["role"] == "security")
    assert role.get("security_confirm_deferred") is True
    assert "strategy" not in render, "the rendering runs with the configured strategy"
    assert confirm.get("strategy") == "ansible.builtin.linear"
    (task,) = confirm["tasks"]
    assert task["ansible.builtin.import_role"] == {"name": "security", "tasks_from": "confirm_pending"}
    assert "_security_ssh_pending" in task["when"] and "_security_firewall_pending" in task["when"]
    assert "docker" in role_names(plays[index + 2]), "docker comes after the confirm, as before"
    assert [p for p in plays if p.get("strategy")] == [confirm], "the only play forced onto linear"


def all_tasks(tasks):
    """Every task, blocks' own tasks included (block, rescue, always)."""
    for task in tasks or []:
        yield task
        for part in ("block", "rescue", "always"):
            yield from all_tasks(task.get(part))


def imports_confirm(task):
    for key in ("import_tasks", "ansible.builtin.import_tasks", "ansible.legacy.import_tasks"):
        value = task.get(key)
        if value == "confirm.yml" or (isinstance(value, dict) and value.get("file") == "confirm.yml"):
            return True
    return False


def test_confirm_yml_is_included_so_that_nothing_pending_runs_no_reset():
    # `meta: reset_connection` ignores `when`: an imported confirm.yml would reset every run.
    tasks_dir = ROOT / "roles/security/tasks"
    for path in tasks_dir.glob("*.yml"):
        assert not [t for t in all_tasks(yaml.safe_load(path.read_text())) if imports_confirm(t)], path.name
    includes = [(path.name, t) for path in sorted(tasks_dir.glob("*.yml"))
                for t in all_tasks(yaml.safe_load(path.read_text())) if "ansible.builtin.include_tasks" in t]
    assert {name for name, _ in includes} == {"confirm_pending.yml", "firewall.yml", "ssh.yml"}
    for name, task in includes:
        kind = task["vars"]["_security_confirm_kind"]
        assert task["ansible.builtin.include_tasks"] == {"file": "confirm.yml",
                                                         "apply": {"tags": ["security", "security_" + kind]}}, name
        assert task["vars"]["_security_confirm_rendered"], "the tool refuses a candidate this run did not render"
    pending = yaml.safe_load((tasks_dir / "confirm_pending.yml").read_text())
    assert [t["vars"]["_security_confirm_kind"] for t in pending] == ["ssh", "firewall"], "SSH first"
