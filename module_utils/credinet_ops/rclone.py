"""rclone for the offsite copies: remote sections, config rendering that survives rclone's own
token refresh, secret fingerprints, exit codes.

What may be deleted offsite is decided by `retention` (the same rules as locally, with the
offsite policy); which remote files form a set, by `sets.from_listing`.
"""
import configparser
import datetime as dt
import hashlib
import hmac
import io
import json

# https://rclone.org/docs/#exit-code
RCLONE_EXIT = {
    0: "success",
    1: "usage or configuration error, or the remote could not be opened (unreachable, refused, host key)",
    2: "error not otherwise categorised (see the log)",
    3: "directory not found on the remote",
    4: "file not found on the remote",
    5: "temporary error (network, rate limit): the next run retries",
    6: "less serious error (some files skipped)",
    7: "fatal error (account, quota or daily upload limit reached): retrying will not help",
    8: "transfer limit (--max-transfer) reached",
    9: "nothing was transferred",
    10: "duration limit (--max-duration) reached",
}


def exit_message(code):
    return RCLONE_EXIT.get(code, "unknown rclone exit code %s" % code)


class OffsiteConfigError(ValueError):
    """A configuration that cannot work; the message names settings, never secret values."""


def drive_section(client_id="", client_secret="", token="", service_account_file="", team_drive="",
                  root_folder_id="", scope="drive"):
    """The [drive] remote. Service accounts have no storage quota in a personal My Drive:
    they need a Shared Drive (team_drive)."""
    if service_account_file:
        if not team_drive:
            raise OffsiteConfigError("a service account has no quota in a personal My Drive: set the Shared Drive id "
                                     "(team_drive) or use OAuth with your own client id")
        section = {"type": "drive", "scope": scope, "service_account_file": service_account_file,
                   "team_drive": team_drive}
    else:
        missing = [n for n, v in (("client_id", client_id), ("client_secret", client_secret), ("token", token)) if not v]
        if missing:
            raise OffsiteConfigError("OAuth Drive remote needs %s (or a service account on a Shared Drive)"
                                     % ", ".join(missing))
        try:
            json.loads(token)
        except ValueError:
            raise OffsiteConfigError("the Drive token must be rclone's JSON token")
        section = {"type": "drive", "scope": scope, "client_id": client_id, "client_secret": client_secret,
                   "token": token}
        if team_drive:
            section["team_drive"] = team_drive
    if root_folder_id:
        section["root_folder_id"] = root_folder_id
    return section


def sftp_section(host="", user="", key_file="", port=22, known_hosts_file=""):
    """An sftp remote (a site's own server; the tests' stand-in for Drive). md5sum/sha1sum
    over ssh give rclone the hashes that `cryptcheck` compares."""
    if not host or not user or not key_file:
        raise OffsiteConfigError("the sftp remote needs host, user and key_file")
    section = {"type": "sftp", "host": host, "user": user, "port": str(port), "key_file": key_file,
               "md5sum_command": "md5sum", "sha1sum_command": "sha1sum"}
    if known_hosts_file:
        section["known_hosts_file"] = known_hosts_file
    return section


def _token_expiry(token_text):
    try:
        expiry = json.loads(token_text).get("expiry", "")
        return dt.datetime.fromisoformat(expiry.replace("Z", "+00:00"))
    except (ValueError, AttributeError, TypeError):
        return None


def remote_errors(remote_type, drive=None, sftp=None):
    """Value-free errors of an offsite remote configuration ([] when it can work)."""
    try:
        if remote_type == "drive":
            drive_section(**(drive or {}))
        elif remote_type == "sftp":
            sftp_section(**(sftp or {}))
        else:
            return ["offsite remote type must be drive or sftp"]
    except (OffsiteConfigError, TypeError) as exc:
        return [str(exc)]
    return []


def render(sections, existing_text=""):
    """rclone.conf text for {name: {key: value}}.

    rclone rewrites refreshed OAuth tokens into its config. A token already in the file that
    expires later than the one given (from the vault) is kept, so re-running the role neither
    throws away a fresh token nor reports a change.
    """
    existing = configparser.ConfigParser(interpolation=None)
    if existing_text:
        existing.read_string(existing_text)
    out = configparser.ConfigParser(interpolation=None)
    for name, section in sections.items():
        section = dict(section)
        if "token" in section and existing.has_option(name, "token"):
            kept, given = existing.get(name, "token"), section["token"]
            kept_expiry, given_expiry = _token_expiry(kept), _token_expiry(given)
            if kept_expiry and (not given_expiry or kept_expiry > given_expiry):
                section["token"] = kept
        out[name] = section
    buffer = io.StringIO()
    out.write(buffer)
    return buffer.getvalue()


def fingerprint(secret, salt):
    """A salted HMAC of a secret: tells whether an obscured value still matches the vault
    without revealing it (`rclone reveal` would put the secret in the process list)."""
    return hmac.new(salt.encode(), str(secret).encode(), hashlib.sha256).hexdigest()
