"""Mitogen's linear strategy, from the pinned `mitogen` package (requirements.txt).

Why: each task over the sandbox's `docker exec` (or SSH) otherwise starts a new Python on the
host that unpacks the module (AnsiballZ): about 0.3 s a task. Mitogen keeps one interpreter per
host and sends modules to it: the same modules, 3 to 4 times faster (README "The test harness").
Linear semantics are unchanged. The Molecule scenarios use it; operators opt in with
ANSIBLE_STRATEGY=mitogen_linear (ansible.cfg keeps Ansible's own linear strategy).

This file gives Ansible's plugin loader a stable path to the installed package (the package's
own plugin folder sits under a Python-version-specific site-packages path), ships the modules a
module_utils package imports relatively (Mitogen's own scan follows absolute imports only), and runs plays on
the controller itself (`connection: local`) with Ansible's own linear strategy: Molecule's
create and destroy playbooks start `async` jobs there and poll them with async_status, which
under Mitogen never see them finish.
"""
import importlib.machinery
import os

from ansible.utils.display import Display

import ansible_mitogen.loaders
import ansible_mitogen.module_finder
import ansible_mitogen.strategy
import mitogen.imports

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


LOCAL = ("local", "ansible.builtin.local")
# Printed for every play Mitogen runs (one line): tests tell which strategy ran a playbook by it.
ANNOUNCE = "Mitogen runs play: %s"
display = Display()


def relative_imports(name, path, is_pkg):
    """Absolute names of the modules `path` (module `name`) imports relatively: `from . import x`,
    `from .x import y` (x, and x.y in case y is a module), `from ..x import y`."""
    with open(path, "rb") as fh:
        code = compile(fh.read(), path, "exec")
    package = name if is_pkg else name.rpartition(".")[0]
    for level, modname, fromlist in mitogen.imports.codeobj_imports(code):
        if level <= 0:
            continue
        base = package.rsplit(".", level - 1)[0] if level > 1 else package
        target = "%s.%s" % (base, modname) if modname else base
        yield target
        for leaf in fromlist:
            yield "%s.%s" % (target, leaf)


def with_relative_imports(found):
    """Mitogen ships a module the module_utils its source imports by absolute name only; those
    imported relatively (credinet_ops imports its own modules so, under both of its names) would
    be missing on the host. Adds them, and what they import, to `found` [(name, path, is_pkg)]."""
    entries = {entry[0]: entry for entry in found}
    queue = list(found)
    while queue:
        name, path, is_pkg = queue.pop()
        if not path or not path.endswith(".py"):
            continue
        for candidate in relative_imports(name, path, is_pkg):
            parent = entries.get(candidate.rpartition(".")[0])
            if candidate in entries or not parent or not parent[2]:
                continue
            spec = importlib.machinery.PathFinder.find_spec(candidate.rpartition(".")[2], [os.path.dirname(parent[1])])
            if spec is None or not spec.origin:
                continue
            entries[candidate] = (candidate, spec.origin, spec.submodule_search_locations is not None)
            queue.append(entries[candidate])
    return sorted(entries.values())


def _scan_with_relative_imports(module_name, module_path, search_path, _scan=ansible_mitogen.module_finder._scan_importlib_find_spec):
    return with_relative_imports(_scan(module_name, module_path, search_path))


ansible_mitogen.module_finder._scan_importlib_find_spec = _scan_with_relative_imports


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    def run(self, iterator, play_context, *args, **kwargs):
        # The play's own `connection:` keyword (play_context still holds the configured default).
        if getattr(iterator._play, "connection", None) in LOCAL:
            return Base.run(self, iterator, play_context)
        display.display(ANNOUNCE % iterator._play.get_name())
        return super().run(iterator, play_context, *args, **kwargs)
