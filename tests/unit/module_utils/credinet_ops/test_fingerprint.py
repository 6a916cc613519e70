"""credinet_ops.fingerprint: what role runtime compares to skip copying an unchanged package."""
import pytest

import credinet_ops


def tree(tmp_path, name, files):
    directory = tmp_path / name
    directory.mkdir()
    for filename, data in files.items():
        (directory / filename).write_bytes(data)
    return directory


SAME = [
    ({"a.py": b"x"}, {"a.py": b"x", "notes.txt": b"ignored"}),  # only modules count
    ({"a.py": b"x", "b.py": b"y"}, {"b.py": b"y", "a.py": b"x"}),  # creation order does not matter
]
DIFFERENT = [
    ({"a.py": b"x"}, {"a.py": b"x "}),  # one byte
    ({"a.py": b"x"}, {"b.py": b"x"}),  # a renamed module
    ({"a.py": b"xb.py"}, {"a.py": b"x", "b.py": b""}),  # same concatenation, different trees
    ({"a.py": b"x"}, {"a.py": b"x", "c.py": b""}),  # an extra (empty) module
]


@pytest.mark.parametrize("left, right", SAME)
def test_equal_trees_have_equal_fingerprints(tmp_path, left, right):
    assert credinet_ops.fingerprint(str(tree(tmp_path, "l", left))) == credinet_ops.fingerprint(str(tree(tmp_path, "r", right)))


@pytest.mark.parametrize("left, right", DIFFERENT)
def test_any_difference_changes_the_fingerprint(tmp_path, left, right):
    assert credinet_ops.fingerprint(str(tree(tmp_path, "l", left))) != credinet_ops.fingerprint(str(tree(tmp_path, "r", right)))


def test_default_is_the_package_itself():
    directory = credinet_ops.__file__.rsplit("/", 1)[0]
    assert credinet_ops.fingerprint() == credinet_ops.fingerprint(directory)
    assert len(credinet_ops.fingerprint()) == 64
