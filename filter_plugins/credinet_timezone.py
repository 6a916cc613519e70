"""Timezone validation used by role preflights (before any change reaches a host)."""
import re
import zoneinfo

# Zone keys are relative paths of letters, digits and _+-; this refuses "..", absolute
# paths and whitespace before zoneinfo ever touches the file system.
_ZONE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
# Present in some tz databases but never a sensible host zone.
_REJECTED = frozenset({"Factory", "localtime", "posixrules"})


def timezone_valid(name):
    """True when `name` is an IANA zone key that the tz database knows."""
    if not isinstance(name, str) or not _ZONE_KEY.match(name) or name in _REJECTED:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError, UnicodeDecodeError):
        return False
    return True


class FilterModule:
    def filters(self):
        return {"credinet_timezone_valid": timezone_valid}
