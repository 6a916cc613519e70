"""Git output parsing for the app role's branch guard.

`git ls-remote --heads URL refs/heads/main` matches the pattern against the END of ref names:
a pushed branch `x/refs/heads/main` is listed too, and sorted first. Only the line whose ref is
exactly refs/heads/<branch> may decide what production deploys.
"""
import fnmatch
import re

from ansible.module_utils.credinet_ops.gitref import COMMIT_PATTERN

_LINE = re.compile(r"^(%s)\t(\S+)$" % COMMIT_PATTERN)
# git check-ref-format rules that matter for a branch name typed with -e app_ref=...
_BAD_REF = re.compile(r"(^[-/.])|(\.\.)|(@\{)|([\x00-\x20\x7f~^:?*\[\\])|(/\.)|(\.lock(/|$))|(/$)|(\.$)|(//)")


def ls_remote_sha(output, branch):
    """The commit of refs/heads/<branch> in `git ls-remote` output, '' when absent."""
    wanted = "refs/heads/%s" % branch
    for line in str(output or "").splitlines():
        match = _LINE.match(line.strip())
        if match and match.group(2) == wanted:
            return match.group(1)
    return ""


def branch_name_valid(name):
    """True for a name git accepts as a branch (a subset of check-ref-format, no shell surprises)."""
    return isinstance(name, str) and 0 < len(name) <= 200 and not _BAD_REF.search(name) and name != "HEAD"


def ref_allowed(name, patterns):
    """True when branch `name` matches one of `patterns`: exact names, or shell globs where `*`
    stays within one path segment (dev's `feature/*` allows feature/x, not feature/x/y)."""
    if not branch_name_valid(name):
        return False
    if isinstance(patterns, str):  # one pattern given as a string, not its characters
        patterns = [patterns]
    for pattern in patterns or []:
        pattern = str(pattern)
        if pattern == name:
            return True
        if any(c in pattern for c in "*?[") and len(pattern.split("/")) == len(name.split("/")) and all(
                fnmatch.fnmatchcase(part, glob) for part, glob in zip(name.split("/"), pattern.split("/"))):
            return True
    return False


def branch_of(full_ref):
    """'main' from 'refs/heads/main'; '' for a detached HEAD or anything else."""
    text = str(full_ref or "").strip()
    if not text.startswith("refs/heads/"):
        return ""
    return text[len("refs/heads/"):]


class FilterModule:
    def filters(self):
        return {
            "credinet_ls_remote_sha": ls_remote_sha,
            "credinet_branch_name_valid": branch_name_valid,
            "credinet_branch_of": branch_of,
            "credinet_ref_allowed": ref_allowed,
        }
