"""filter_plugins/credinet_git.py: `git ls-remote` parsing and branch names for the app role's guard."""
import shutil
import subprocess

import pytest

from conftest import load_source

_git = load_source("filter_plugins/credinet_git.py")
FilterModule, ls_remote_sha, branch_name_valid, branch_of, ref_allowed = (
    _git.FilterModule, _git.ls_remote_sha, _git.branch_name_valid, _git.branch_of, _git.ref_allowed)

MAIN, HOSTILE, DEV, TAG = "a" * 40, "b" * 40, "c" * 40, "d" * 40
SHA256 = "0123456789abcdef" * 4


def listing(*lines, eol="\n"):
    return eol.join("%s\t%s" % line for line in lines) + eol


# --- ls_remote_sha -------------------------------------------------------------------------------

def test_the_hostile_branch_sorted_first_does_not_win():
    # `git ls-remote --heads URL refs/heads/main` matches ref name ENDINGS: a pushed branch
    # x/refs/heads/main is listed too, and sorts before refs/heads/main.
    output = listing((HOSTILE, "refs/heads/x/refs/heads/main"), (MAIN, "refs/heads/main"))
    assert ls_remote_sha(output, "main") == MAIN


@pytest.mark.parametrize("output", [
    listing((HOSTILE, "refs/heads/x/refs/heads/main")),
    listing((HOSTILE, "refs/heads/mainline"), (HOSTILE, "refs/heads/feature/main")),
    listing((HOSTILE, "refs/heads/Main")),
    listing((TAG, "refs/tags/main"), (TAG, "refs/tags/main^{}")),
    listing((HOSTILE, "refs/remotes/origin/main")),
    listing((HOSTILE, "refs/heads/main/x")),
    "",
    None,
])
def test_an_absent_branch_is_empty(output):
    assert ls_remote_sha(output, "main") == ""


def test_tag_lines_are_ignored():
    output = listing((TAG, "refs/tags/main"), (TAG, "refs/tags/main^{}"), (MAIN, "refs/heads/main"))
    assert ls_remote_sha(output, "main") == MAIN


def test_the_branch_with_slashes_is_found():
    output = listing((MAIN, "refs/heads/main"), (DEV, "refs/heads/release/2026.1"))
    assert ls_remote_sha(output, "release/2026.1") == DEV
    assert ls_remote_sha(output, "2026.1") == ""


@pytest.mark.parametrize("output", [
    listing((HOSTILE, "refs/heads/x/refs/heads/main"), (MAIN, "refs/heads/main"), eol="\r\n"),
    "  %s\trefs/heads/main  \n" % MAIN,
    "\n\n%s\trefs/heads/main\n\n" % MAIN,
    "%s\trefs/heads/main" % MAIN,  # no final newline
    "warning: redirecting to https://example.invalid/credinet.git/\n%s\trefs/heads/main\n" % MAIN,
])
def test_crlf_and_surrounding_whitespace_are_tolerated(output):
    assert ls_remote_sha(output, "main") == MAIN


@pytest.mark.parametrize("line", [
    "%s refs/heads/main" % MAIN,  # a space is not git's separator
    "%s\trefs/heads/main" % MAIN[:39],  # short
    "%s\trefs/heads/main" % ("a" * 41),
    "%s\trefs/heads/main" % ("a" * 63),
    "%s\trefs/heads/main" % MAIN.upper(),  # git prints lowercase
    "%s\trefs/heads/main" % ("g" * 40),
    "%s\trefs/heads/main extra" % MAIN,
    "%s\t\trefs/heads/main" % MAIN,
])
def test_malformed_lines_are_ignored(line):
    assert ls_remote_sha(line + "\n", "main") == ""


def test_sha256_repositories_are_accepted():
    output = listing(("e" * 64, "refs/heads/x/refs/heads/main"), (SHA256, "refs/heads/main"))
    assert ls_remote_sha(output, "main") == SHA256


def test_the_first_exact_line_wins():
    # git never lists a ref twice; if a broken server did, the answer stays deterministic.
    assert ls_remote_sha(listing((MAIN, "refs/heads/main"), (DEV, "refs/heads/main")), "main") == MAIN


# --- branch_name_valid ---------------------------------------------------------------------------

VALID = [
    "main", "develop", "feature/x", "release/2026.1", "hotfix/fix-login_2", "a/b/c", "x.lock.y", "a@b", "@", "a/HEAD",
    "1", "a" * 200,
    # Non-ASCII letters: git accepts them (only ASCII control characters, space and ~^:?*[\ are
    # refused) and the role passes the name as an argv element, never through a shell: accepted.
    "función", "ñ/ü", "despliegue-día",
]
INVALID = [
    "", "-x", "-", "a..b", "..", "a b", " main", "main ", "x.lock", "a/x.lock", "a.lock/b", "a/", "/a", "a//b", ".a", "a/.b",
    "a.", "HEAD", "a~1", "a^", "a:b", "a\\b", "a?b", "a*b", "a[b", "@{", "a@{1}", "main\n", "tab\there", "nul\0",
    "del\x7f", "a" * 201,
]


@pytest.mark.parametrize("name", VALID)
def test_valid_branch_names(name):
    assert branch_name_valid(name) is True


@pytest.mark.parametrize("name", INVALID)
def test_invalid_branch_names(name):
    assert branch_name_valid(name) is False


@pytest.mark.parametrize("value", [None, 42, ["main"], b"main"])
def test_non_strings_are_invalid(value):
    assert branch_name_valid(value) is False


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", [n for n in VALID + INVALID if "\0" not in n])
def test_every_accepted_name_is_accepted_by_git(name, tmp_path):
    # A subset of `git check-ref-format --branch`: nothing accepted here is refused by git.
    # Outside any repository (in one, --branch would expand @ and @{-1}).
    git_ok = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, cwd=tmp_path).returncode == 0
    if branch_name_valid(name):
        assert git_ok, "accepted here, refused by git"


# --- branch_of -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ref, branch", [
    ("refs/heads/main", "main"),
    ("refs/heads/feature/x", "feature/x"),
    ("refs/heads/x/refs/heads/main", "x/refs/heads/main"),
    ("  refs/heads/main\n", "main"),
    ("refs/heads/", ""),
    ("HEAD", ""),  # detached
    (MAIN, ""),
    ("refs/tags/v1.0", ""),
    ("refs/remotes/origin/main", ""),
    ("refs/remotes/origin/refs/heads/main", ""),
    ("refs/heads", ""),
    ("heads/main", ""),
    ("", ""),
    (None, ""),
])
def test_branch_of(ref, branch):
    assert branch_of(ref) == branch


def test_filters_are_registered():
    assert FilterModule().filters() == {
        "credinet_ls_remote_sha": ls_remote_sha,
        "credinet_branch_name_valid": branch_name_valid,
        "credinet_branch_of": branch_of,
        "credinet_ref_allowed": ref_allowed,
    }


@pytest.mark.parametrize("name, patterns, allowed", [
    ("main", ["main"], True),
    ("develop", ["main"], False),
    ("feature/reporte", ["develop", "feature/*"], True),
    ("feature/a/b", ["feature/*"], False),
    ("feature", ["feature/*"], False),
    ("x/refs/heads/main", ["main"], False),
    ("mainx", ["main"], False),
    ("fix/42", ["fix/[0-9]*"], True),
    ("feature/..", ["feature/*"], False),
    ("feature/a b", ["feature/*"], False),
    ("main", [], False),
    ("main", None, False),
    ("*", ["*"], False),
    ("m", "main", False),
    ("main", "main", True),
])
def test_ref_allowed(name, patterns, allowed):
    assert ref_allowed(name, patterns) is allowed
