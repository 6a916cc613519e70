"""filter_plugins/credinet_timezone.py: IANA zone validation for preflights."""
import pytest

from conftest import load_source

_timezone = load_source("filter_plugins/credinet_timezone.py")
FilterModule, timezone_valid = _timezone.FilterModule, _timezone.timezone_valid


@pytest.mark.parametrize("name", ["America/Mexico_City", "UTC", "Etc/GMT+6", "America/Argentina/Buenos_Aires"])
def test_real_zones_are_valid(name):
    assert timezone_valid(name) is True


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",  # well-formed, unknown
        "America/Mexico City",  # space
        "America/Mexico_City\n",
        " America/Mexico_City",
        "",
        "/usr/share/zoneinfo/UTC",  # absolute path
        "../../etc/passwd",
        "America/../UTC",
        "America",  # a directory in the tz database, not a zone
        "Factory",
        "localtime",
        "posixrules",
        None,
        42,
        ["UTC"],
    ],
)
def test_bogus_zones_are_rejected(name):
    assert timezone_valid(name) is False


def test_filter_is_registered():
    assert FilterModule().filters()["credinet_timezone_valid"] is timezone_valid
