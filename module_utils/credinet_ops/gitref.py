"""Git object names as the project accepts them: one definition for the branch guard's
ls-remote parsing (filter credinet_git) and the release records backups carry (manifest).

SHA-1 repositories name commits with 40 lowercase hex digits, SHA-256 ones with 64.
"""
import re

COMMIT_PATTERN = r"[0-9a-f]{40}|[0-9a-f]{64}"
_COMMIT = re.compile(r"(?:%s)\Z" % COMMIT_PATTERN)


def is_commit_id(value):
    """True for a full commit id (not an abbreviation, not uppercase, nothing around it)."""
    return isinstance(value, str) and _COMMIT.match(value) is not None
