"""credinet_ops.rclone: remote sections, config rendering that keeps refreshed tokens, fingerprints."""
import configparser
import json

import pytest

from credinet_ops import rclone as co

OLD_TOKEN = json.dumps({"access_token": "FAKE-a", "token_type": "Bearer", "refresh_token": "FAKE-r",
                        "expiry": "2026-11-01T00:00:00Z"})
NEW_TOKEN = json.dumps({"access_token": "FAKE-b", "token_type": "Bearer", "refresh_token": "FAKE-r",
                        "expiry": "2026-11-29T10:00:00.123456-06:00"})


def parse(text):
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    return conf


class TestDrive:
    def test_service_account_needs_a_shared_drive(self):
        with pytest.raises(co.OffsiteConfigError, match="Shared Drive"):
            co.drive_section(service_account_file="/etc/credinet/sa.json")

    def test_service_account_on_a_shared_drive(self):
        section = co.drive_section(service_account_file="/etc/credinet/sa.json", team_drive="0AFAKE")
        assert section == {"type": "drive", "scope": "drive", "service_account_file": "/etc/credinet/sa.json",
                           "team_drive": "0AFAKE"}

    def test_oauth_needs_client_and_token_and_names_what_is_missing(self):
        with pytest.raises(co.OffsiteConfigError, match="client_secret, token"):
            co.drive_section(client_id="FAKE.apps.googleusercontent.com")

    def test_token_must_be_json_and_is_never_echoed(self):
        with pytest.raises(co.OffsiteConfigError) as err:
            co.drive_section(client_id="c", client_secret="s", token="FAKE-not-json")
        assert "FAKE-not-json" not in str(err.value)

    def test_oauth_on_a_shared_drive_with_a_root_folder(self):
        section = co.drive_section(client_id="c", client_secret="s", token=OLD_TOKEN, team_drive="0A", root_folder_id="1x")
        assert (section["team_drive"], section["root_folder_id"]) == ("0A", "1x")


def test_remote_errors_are_value_free():
    assert co.remote_errors("sftp", sftp={"host": "h", "user": "u", "key_file": "k"}) == []
    errors = co.remote_errors("drive", drive={"client_id": "c", "client_secret": "FAKE-secret", "token": "FAKE-tok"})
    assert errors == ["the Drive token must be rclone's JSON token"]
    assert co.remote_errors("s3") == ["offsite remote type must be drive or sftp"]


def test_unknown_remote_settings_are_errors_not_crashes():
    assert co.remote_errors("sftp", sftp={"host": "h", "user": "u", "key_file": "k", "passwd": "FAKE"}) != []


class TestRenderKeepsRefreshedTokens:
    def sections(self, token):
        return {"gdrive": co.drive_section(client_id="c", client_secret="s", token=token),
                "offsite": {"type": "crypt", "remote": "gdrive:credinet", "password": "p", "password2": "s"}}

    def test_fresh_render(self):
        conf = parse(co.render(self.sections(OLD_TOKEN)))
        assert conf["gdrive"]["token"] == OLD_TOKEN and conf["offsite"]["type"] == "crypt"

    def test_a_newer_token_written_by_rclone_is_kept_and_the_text_is_stable(self):
        on_disk = co.render(self.sections(NEW_TOKEN))
        again = co.render(self.sections(OLD_TOKEN), existing_text=on_disk)
        assert parse(again)["gdrive"]["token"] == NEW_TOKEN
        assert again == on_disk  # nothing to change: the role reports changed=0

    def test_a_newer_token_from_the_vault_replaces_an_older_one(self):
        on_disk = co.render(self.sections(OLD_TOKEN))
        assert parse(co.render(self.sections(NEW_TOKEN), existing_text=on_disk))["gdrive"]["token"] == NEW_TOKEN

    def test_unreadable_expiry_on_disk_yields_to_the_vault(self):
        on_disk = co.render(self.sections('{"access_token": "x"}'))
        assert parse(co.render(self.sections(OLD_TOKEN), existing_text=on_disk))["gdrive"]["token"] == OLD_TOKEN

    def test_percent_signs_survive(self):
        # configparser interpolation would read %(x)s; rclone values are literal.
        text = co.render({"offsite": {"type": "crypt", "remote": "gdrive:a%b", "password": "p%(x)s"}})
        assert parse(text)["offsite"]["password"] == "p%(x)s"


@pytest.mark.parametrize(("code", "fragment"), [(0, "success"), (5, "temporary"), (7, "upload limit"), (42, "unknown")])
def test_exit_messages(code, fragment):
    assert fragment in co.exit_message(code)


def test_sftp_section_brings_hash_commands():
    section = co.sftp_section("172.18.0.5", "rclone", "/root/.ssh/offsite", known_hosts_file="/etc/credinet/known")
    assert section["md5sum_command"] == "md5sum" and section["known_hosts_file"] == "/etc/credinet/known"
    with pytest.raises(co.OffsiteConfigError):
        co.sftp_section("", "u", "k")


class TestFingerprint:
    def test_stable_for_the_same_secret_and_salt(self):
        assert co.fingerprint("s3cret", "salt") == co.fingerprint("s3cret", "salt")

    @pytest.mark.parametrize(("secret", "salt"), [("s3cret", "other-salt"), ("s3cret!", "salt"), ("", "salt"),
                                                  ("S3CRET", "salt")])
    def test_differs_per_salt_and_secret(self, secret, salt):
        assert co.fingerprint(secret, salt) != co.fingerprint("s3cret", "salt")

    def test_is_a_sha256_hex_digest_that_does_not_contain_the_secret(self):
        mark = co.fingerprint("contraseña-secreta", "0f" * 16)
        assert len(mark) == 64 and int(mark, 16) >= 0
        assert "secreta" not in mark

    def test_non_string_secrets_are_fingerprinted_as_text(self):
        assert co.fingerprint(1234, "salt") == co.fingerprint("1234", "salt")
