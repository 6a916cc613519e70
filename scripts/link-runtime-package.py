#!/usr/bin/env python3
"""Make the project's runtime package importable by the venv's Python, under its two names.

  credinet_ops                      as the host commands (and the unit tests) import it
  ansible.module_utils.credinet_ops as Ansible plugins import it (AnsiballZ ships it with a module;
                                    controller-side filter and callback plugins need it installed)

Both are symlinks to module_utils/credinet_ops, so the venv always runs the checkout's code.
Run by `make venv`; idempotent; prints what it linked.
"""
import os
import site
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "module_utils" / "credinet_ops"


def link(directory, package=PACKAGE):
    """Point directory/credinet_ops at the package; returns the link path."""
    target = Path(directory) / package.name
    if target.is_symlink() and Path(os.readlink(target)) == package:
        return target
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        raise SystemExit("%s exists and is not a link: remove it first" % target)
    target.symlink_to(package, target_is_directory=True)
    return target


def main():
    import ansible.module_utils

    for directory in (site.getsitepackages()[0], os.path.dirname(ansible.module_utils.__file__)):
        print("linked %s -> %s" % (link(directory), PACKAGE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
