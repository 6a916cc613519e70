"""What role runtime compares to copy the package only when the host's copy differs.

A directory copy costs a remote call per file even when nothing differs, so the role asks the
host for the fingerprint of its installed tree and copies only on a difference. Both sides use
this file: the controller imports it (filter credinet_package_fingerprint) and computes the tree
it is about to install, with the modes and owner the copy sets; the host runs its *source* with
``python3 -I -c`` against the installed folder. The installed package is never imported to judge
itself: an edited module cannot vouch for its own contents.

Every entry counts - contents, kind (file, folder, link), mode, owner, group - except Python's own
``__pycache__``. The host's answer also names every entry (extra ones are removed) and where
``import credinet_ops`` would load the package from (a copy earlier on sys.path would shadow it).

Standard library only; no imports from the package (it runs on its own on the host).
"""
import hashlib
import importlib.util
import json
import os
import stat
import sys

SKIPPED = "__pycache__"


def _kind(mode):
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _content_digest(path, kind):
    if kind == "file":
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        return digest.hexdigest()
    if kind == "link":
        return hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
    return ""


def entries(directory, desired=None):
    """(relative path, kind, mode, uid, gid, sha256) of the folder and everything under it, in
    path order, links not followed. ``desired`` = (file mode, folder mode, uid, gid) replaces what
    the disk says with what the copy will set (the controller's side). A missing folder has none."""
    if not os.path.lexists(directory):
        return []
    if os.path.islink(directory):
        # A link in place of the folder: its one row differs from the controller's folder, and
        # nothing behind it is listed (the role would remove listed extras through the link).
        return [_row(directory, ".", desired)]
    rows = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != SKIPPED)
        names = ["."] if root == directory else []
        for name in names + dirs + sorted(files):
            path = os.path.normpath(os.path.join(root, name))
            rows.append(_row(path, os.path.relpath(path, directory), desired))
    return sorted(rows)


def _row(path, relative, desired):
    info = os.lstat(path)
    kind = _kind(info.st_mode)
    mode, uid, gid = stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid
    if desired is not None:
        mode = desired[1] if kind == "dir" else desired[0]
        uid, gid = desired[2], desired[3]
    return (relative, kind, mode, uid, gid, _content_digest(path, kind))


def fingerprint(rows):
    """One sha256 over the rows (each a JSON line: no two different trees share the text)."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(list(row)).encode() + b"\n")
    return digest.hexdigest()


def describe(directory, desired=None):
    """{"fingerprint", "paths"}: what the two sides compare, and what the host has."""
    rows = entries(directory, desired)
    return {"fingerprint": fingerprint(rows), "paths": [row[0] for row in rows if row[0] != "."]}


def import_origin(package="credinet_ops"):
    """The file ``import <package>`` would load (found, not executed), normalised, or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    return os.path.normpath(spec.origin) if spec is not None and spec.origin else None


def main(argv):
    answer = describe(argv[1])
    answer["origin"] = import_origin()
    # Where the package must load from, spelled as the origin is (a trailing or doubled slash in
    # the configured folder is not a different place).
    answer["expected_origin"] = os.path.normpath(os.path.join(argv[1], "__init__.py"))
    # One JSON line, last: whatever else startup prints (a .pth, sitecustomize) comes before it.
    print(json.dumps(answer, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
