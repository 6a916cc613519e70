"""filter_plugins/credinet_offsite.py: rclone remote sections and value-free errors."""
import pytest
from ansible.errors import AnsibleFilterError

from conftest import load_source

mod = load_source("filter_plugins/credinet_offsite.py")
F = mod.FilterModule().filters()
TOKEN = '{"access_token": "FAKE", "expiry": "2026-01-01T00:00:00Z"}'


def test_drive_remote_drops_empty_settings():
    section = F["credinet_drive_remote"]({"client_id": "c", "client_secret": "s", "token": TOKEN, "team_drive": "",
                                          "service_account_file": ""})
    assert section == {"type": "drive", "scope": "drive", "client_id": "c", "client_secret": "s", "token": TOKEN}


def test_service_account_without_shared_drive_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="Shared Drive"):
        F["credinet_drive_remote"]({"service_account_file": "/etc/credinet/sa.json"})


def test_sftp_remote_and_errors():
    assert F["credinet_sftp_remote"]({"host": "h", "user": "u", "key_file": "k", "port": 2222})["port"] == "2222"
    assert F["credinet_offsite_errors"]({"type": "sftp", "sftp": {"host": "h", "user": "", "key_file": "k"}}) == \
        ["the sftp remote needs host, user and key_file"]
    assert F["credinet_offsite_errors"]({"type": "drive", "drive": {"service_account_file": "/x"}})[0].startswith(
        "a service account has no quota")
