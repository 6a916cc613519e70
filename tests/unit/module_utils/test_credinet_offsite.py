import configparser
import datetime as dt
import json

import pytest

import credinet_backup as cb
import credinet_offsite as co

MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime(2026, 11, 29, 3, 0, tzinfo=MX)
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


def test_remote_errors_are_value_free():
    assert co.remote_errors("sftp", sftp={"host": "h", "user": "u", "key_file": "k"}) == []
    errors = co.remote_errors("drive", drive={"client_id": "c", "client_secret": "FAKE-secret", "token": "FAKE-tok"})
    assert errors == ["the Drive token must be rclone's JSON token"]
    assert co.remote_errors("s3") == ["offsite remote type must be drive or sftp"]


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


@pytest.mark.parametrize(("code", "fragment"), [(0, "success"), (5, "temporary"), (7, "upload limit"), (42, "unknown")])
def test_exit_messages(code, fragment):
    assert fragment in co.exit_message(code)


def entry(name, size=10):
    return {"Path": name, "Name": name, "Size": size, "IsDir": False}


def listing(days, manifest=True):
    out = []
    for day in days:
        key = cb.set_key("credinet", NOW - dt.timedelta(days=day))
        out.append(entry(key + ".dump.zst", 100))
        out.append(entry(key + ".globals.sql.zst"))
        if manifest:
            out.append(entry(key + ".manifest.json"))
    return out


class TestRemoteRetention:
    def test_sets_from_a_listing(self):
        sets = co.remote_sets(listing([0, 1]) + listing([2], manifest=False) + [{"Path": "dir", "IsDir": True}])
        assert [s.status for s in sets] == ["incomplete", "good", "good"]
        assert all(len(s.files) in (2, 3) for s in sets)

    def test_longer_offsite_policy_and_newest_good_protected(self):
        sets = co.remote_sets(listing(range(0, 100)))
        doomed = co.guarded_deletions(sets, NOW, cb.Policy(keep_days=90, min_good=7), max_deletes=20)
        assert len(doomed) == 10 * 3

    def test_too_many_deletions_are_refused(self):
        sets = co.remote_sets(listing(range(0, 100)))
        with pytest.raises(co.OffsiteConfigError, match="would delete 70 sets"):
            co.guarded_deletions(sets, NOW, cb.Policy(keep_days=30, min_good=7), max_deletes=20)

    def test_a_wrong_clock_cannot_wipe_the_history(self):
        sets = co.remote_sets(listing(range(0, 10)))
        far_future = NOW + dt.timedelta(days=3650)
        doomed = co.guarded_deletions(sets, far_future, cb.Policy(keep_days=30, min_good=7), max_deletes=5)
        assert len(doomed) == 3 * 3  # the newest 7 good sets survive whatever the clock says


def test_sftp_section_brings_hash_commands():
    section = co.sftp_section("172.18.0.5", "rclone", "/root/.ssh/offsite", known_hosts_file="/etc/credinet/known")
    assert section["md5sum_command"] == "md5sum" and section["known_hosts_file"] == "/etc/credinet/known"
    with pytest.raises(co.OffsiteConfigError):
        co.sftp_section("", "u", "k")
