"""credinet_ops.gitref: what counts as a full commit id."""
import pytest

from credinet_ops.gitref import is_commit_id


@pytest.mark.parametrize(("value", "expected"), [
    ("0123456789abcdef0123456789abcdef01234567", True),                                   # SHA-1
    ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", True),           # SHA-256
    ("0123456789abcdef0123456789abcdef0123456", False),                                   # 39: abbreviated
    ("0123456789abcdef0123456789abcdef012345678", False),                                 # 41
    ("0123456789ABCDEF0123456789ABCDEF01234567", False),                                  # git prints lowercase
    ("0123456789abcdef0123456789abcdef01234567\n", False),                                # nothing after it
    (" 0123456789abcdef0123456789abcdef01234567", False),
    ("g" * 40, False),
    ("main", False),
    ("", False),
    (None, False),
    (12, False),
])
def test_full_commit_ids_only(value, expected):
    assert is_commit_id(value) is expected
