"""credinet_ops.fingerprint: what role runtime compares to copy the package only when it differs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from credinet_ops import fingerprint as fp

SOURCE = fp.__file__
DESIRED = (0o644, 0o755, 0, 0)


def tree(tmp_path, name, files):
    """A folder with files {relative path: bytes}; sub-folders made as needed."""
    directory = tmp_path / name
    directory.mkdir()
    for relative, data in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory


def described(directory, desired=DESIRED):
    return fp.describe(str(directory), desired)


SAME = [
    ({"a.py": b"x"}, {"a.py": b"x", "__pycache__/a.cpython-313.pyc": b"cache"}),  # Python's own cache
    ({"a.py": b"x", "b.py": b"y"}, {"b.py": b"y", "a.py": b"x"}),  # creation order
]
DIFFERENT = [
    ({"a.py": b"x"}, {"a.py": b"x "}),  # one byte
    ({"a.py": b"x"}, {"b.py": b"x"}),  # a renamed module
    ({"a.py": b"xb.py"}, {"a.py": b"x", "b.py": b""}),  # same concatenation, other tree
    ({"a.py": b"x"}, {"a.py": b"x", "c.py": b""}),  # an extra empty module
    ({"a.py": b"x"}, {"a.py": b"x", "notes.txt": b""}),  # any extra file
    ({"a.py": b"x"}, {"a.py": b"x", "job/__init__.py": b""}),  # a package shadowing job.py
    ({"a.py": b"x"}, {"a.py": b"x", "job.cpython-313-x86_64-linux-gnu.so": b""}),  # an extension module
]


@pytest.mark.parametrize("left, right", SAME)
def test_equal_trees_have_equal_fingerprints(tmp_path, left, right):
    assert described(tree(tmp_path, "l", left)) == described(tree(tmp_path, "r", right))


@pytest.mark.parametrize("left, right", DIFFERENT)
def test_any_difference_changes_the_fingerprint(tmp_path, left, right):
    assert described(tree(tmp_path, "l", left))["fingerprint"] != described(tree(tmp_path, "r", right))["fingerprint"]


def test_paths_name_every_entry_but_the_cache(tmp_path):
    directory = tree(tmp_path, "p", {"a.py": b"", "job/__init__.py": b"", "__pycache__/a.pyc": b""})
    assert described(directory)["paths"] == ["a.py", "job", "job/__init__.py"]


def test_modes_count_on_the_host_side_and_are_the_desired_ones_on_the_controllers(tmp_path):
    directory = tree(tmp_path, "m", {"a.py": b"x"})
    os.chmod(directory / "a.py", 0o644)
    before = fp.describe(str(directory))
    os.chmod(directory / "a.py", 0o666)
    assert fp.describe(str(directory)) != before, "a mode drift on the host is a difference"
    assert described(directory) == described(directory), "the controller states the modes the copy sets"
    os.chmod(directory / "a.py", 0o600)
    assert described(directory)["fingerprint"] == fp.describe(str(directory), DESIRED)["fingerprint"]


def test_a_link_is_not_followed(tmp_path):
    directory = tree(tmp_path, "s", {"a.py": b"x"})
    linked = tree(tmp_path, "t", {"a.py": b"x"})
    (linked / "a.py").unlink()
    (linked / "a.py").symlink_to(directory / "a.py")
    assert fp.entries(str(linked), DESIRED)[1][1] == "link"
    assert described(linked)["fingerprint"] != described(directory)["fingerprint"]


def test_a_missing_folder_has_no_entries(tmp_path):
    assert fp.entries(str(tmp_path / "missing")) == []
    assert described(tmp_path / "missing")["paths"] == []


def test_run_from_source_as_the_host_runs_it(tmp_path):
    """python3 -I -c <this file's source> <folder>: the last line is the JSON answer, and the
    installed package is found, not executed."""
    directory = tree(tmp_path, "credinet_ops", {"__init__.py": b"raise SystemExit('executed')\n"})
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)}
    # -I ignores PYTHONPATH: the probe runs as it does on a host without the .pth.
    source = Path(SOURCE).read_text()
    out = subprocess.run([sys.executable, "-I", "-c", source, str(directory)], env=env,
                         capture_output=True, text=True, check=True).stdout
    answer = json.loads(out.splitlines()[-1])
    assert answer["paths"] == ["__init__.py"]
    assert answer["fingerprint"] == fp.describe(str(directory))["fingerprint"]
    assert answer["origin"] is None or not answer["origin"].startswith(str(tmp_path))
    assert answer["expected_origin"] == str(directory / "__init__.py")


def test_the_expected_origin_ignores_how_the_folder_is_spelled(tmp_path, capsys):
    directory = tree(tmp_path, "credinet_ops", {"__init__.py": b""})
    fp.main(["probe", str(tmp_path) + "//credinet_ops/"])
    assert json.loads(capsys.readouterr().out)["expected_origin"] == str(directory / "__init__.py")


def test_import_origin_is_where_the_package_would_load_from():
    assert fp.import_origin("credinet_ops").endswith(os.path.join("credinet_ops", "__init__.py"))
    assert fp.import_origin("no_such_package_credinet") is None


def test_the_source_can_be_inlined_into_a_task_argument():
    """Role runtime passes this file's text as a command argument through a template: it must hold
    no template delimiters (they would be rendered or refused) and stay well under ARG_MAX."""
    source = Path(SOURCE).read_text()
    assert not any(mark in source for mark in ("{{", "{%", "{#"))
    assert len(source.encode()) < 64 * 1024


def test_a_linked_folder_lists_nothing_behind_the_link(tmp_path):
    """The role removes listed extras: through a link they would be files outside the package."""
    outside = tree(tmp_path, "outside", {"important": b"keep"})
    (tmp_path / "credinet_ops").symlink_to(outside)
    answer = fp.describe(str(tmp_path / "credinet_ops"))
    assert answer["paths"] == []
    assert fp.entries(str(tmp_path / "credinet_ops"))[0][:2] == (".", "link")
    assert answer["fingerprint"] != described(outside)["fingerprint"]
