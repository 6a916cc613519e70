"""strategy_plugins/mitogen_linear.py: relative imports of module_utils are shipped, controller plays
run with Ansible's own strategy."""
import pytest

from conftest import ROOT, load_source

shim = load_source("strategy_plugins/mitogen_linear.py")
SEARCH = [str(ROOT / "module_utils")]


def shipped(library_module):
    from ansible_mitogen import module_finder
    return {name for name, _, _ in module_finder.scan("ansible_module_x", str(ROOT / library_module), SEARCH)}


@pytest.mark.parametrize(("module", "needed"), [
    # compose imports envfile relatively; without it the module fails on the host.
    ("library/credinet_compose_stack.py", {"ansible.module_utils.credinet_ops.compose", "ansible.module_utils.credinet_ops.envfile"}),
    # postgres -> job -> messages ...: the whole chain.
    ("library/credinet_monitoring_db.py", {"ansible.module_utils.credinet_ops.postgres", "ansible.module_utils.credinet_ops.job",
                                            "ansible.module_utils.credinet_ops.secretfile"}),
])
def test_modules_get_what_their_module_utils_import_relatively(module, needed):
    assert needed <= shipped(module)


def test_every_library_module_ships_every_credinet_ops_module_it_reaches():
    """Whatever a shipped credinet_ops module imports relatively is shipped too."""
    for path in sorted((ROOT / "library").glob("*.py")):
        names = shipped("library/" + path.name)
        for name in [n for n in names if n.startswith("ansible.module_utils.credinet_ops.")]:
            source = ROOT / "module_utils" / "credinet_ops" / (name.rpartition(".")[2] + ".py")
            for imported in shim.relative_imports(name, str(source), False):
                module_file = ROOT / "module_utils" / "credinet_ops" / (imported.rpartition(".")[2] + ".py")
                if module_file.exists():
                    assert imported in names, (path.name, name, imported)


@pytest.mark.parametrize(("source", "name", "is_pkg", "expected"), [
    ("from . import a, b\n", "pkg.mod", False, ["pkg", "pkg.a", "pkg.b"]),
    ("from .a import x\n", "pkg.mod", False, ["pkg.a", "pkg.a.x"]),
    ("from .a import x\n", "pkg", True, ["pkg.a", "pkg.a.x"]),
    ("from ..up import y\n", "top.pkg.mod", False, ["top.up", "top.up.y"]),
    ("import os\nfrom os import path\n", "pkg.mod", False, []),
])
def test_relative_imports(tmp_path, source, name, is_pkg, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert list(shim.relative_imports(name, str(path), is_pkg)) == expected


class Play:
    def __init__(self, connection):
        self.connection = connection

    def get_name(self):
        return "a play"


class Iterator:
    def __init__(self, connection):
        self._play = Play(connection)


@pytest.mark.parametrize(("connection", "plain"), [("local", True), ("ansible.builtin.local", True), ("docker", False),
                                                   (None, False)])
def test_controller_plays_run_with_ansibles_own_linear_strategy(monkeypatch, connection, plain):
    calls = []
    monkeypatch.setattr(shim.Base, "run", lambda self, iterator, play_context: calls.append("plain") or 0)
    monkeypatch.setattr(shim.ansible_mitogen.strategy.StrategyMixin, "run",
                        lambda self, iterator, play_context, *a, **k: calls.append("mitogen") or 0)
    announced = []
    monkeypatch.setattr(shim.display, "display", announced.append)
    strategy = shim.StrategyModule.__new__(shim.StrategyModule)
    assert strategy.run(Iterator(connection), object()) == 0
    assert calls == (["plain"] if plain else ["mitogen"])
    assert announced == ([] if plain else ["Mitogen runs play: a play"])


def test_the_scan_is_patched_once_and_in_place():
    from ansible_mitogen import module_finder
    assert module_finder._scan_importlib_find_spec is shim._scan_with_relative_imports
