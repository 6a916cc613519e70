"""Offsite (rclone) filters: remote sections and value-free configuration errors.

Thin wrappers over the runtime package (credinet_ops.rclone), the code the hosts run too.
"""
from ansible.errors import AnsibleFilterError
from ansible.module_utils.credinet_ops import rclone as co


def _section(builder, settings):
    try:
        return builder(**{k: v for k, v in settings.items() if v not in (None, "")})
    except (co.OffsiteConfigError, TypeError) as exc:
        raise AnsibleFilterError(str(exc))


def drive_remote(settings):
    return _section(co.drive_section, settings)


def sftp_remote(settings):
    return _section(co.sftp_section, settings)


def offsite_errors(settings):
    """settings = {type, drive: {...}, sftp: {...}} -> value-free error list."""
    clean = {k: {n: v for n, v in (settings.get(k) or {}).items() if v not in (None, "")} for k in ("drive", "sftp")}
    return co.remote_errors(settings.get("type"), clean["drive"], clean["sftp"])


class FilterModule:
    def filters(self):
        return {"credinet_drive_remote": drive_remote, "credinet_sftp_remote": sftp_remote,
                "credinet_offsite_errors": offsite_errors}
