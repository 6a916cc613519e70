"""Files with secrets written by the project's Ansible modules (the app .env, rclone.conf and its
fingerprints): never partial, never readable by others, not even for a moment.
"""
import os
import tempfile


def replace(module, path, text, mode=0o600):
    """`text` into `path` through AnsibleModule.atomic_move: a temp file in the same directory
    (mode 0600, fsynced) renamed over it. atomic_move gives a file it creates 0666 & ~umask until
    the caller sets the mode (and leaves it so if setting the owner fails): the umask is 077
    meanwhile, so a secrets file is never world-readable."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        # surrogateescape: bytes that are not UTF-8 (a Latin-1 comment) go back out as they came in.
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        umask = os.umask(0o077)
        try:
            module.atomic_move(tmp, path)
        finally:
            os.umask(umask)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
