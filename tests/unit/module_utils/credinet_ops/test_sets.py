"""credinet_ops.sets: set names, database name encoding, grouping files into sets, finding one."""
import datetime as dt
import os
import re

import pytest

from conftest import make_set
from credinet_ops import sets

MX = dt.timezone(dt.timedelta(hours=-6))
NOW = dt.datetime(2026, 11, 29, 2, 0, tzinfo=MX)


class TestDatabaseNameEncoding:
    @pytest.mark.parametrize(("name", "encoded"), [
        ("credinet", "credinet"),
        ("credinet_v2-prod", "credinet_v2-prod"),
        ("credinet.v2", "credinet%2Ev2"),
        ("a/b", "a%2Fb"),
        ("mi base", "mi%20base"),
        ("préstamos", "pr%C3%A9stamos"),
        ("50%", "50%25"),
        ("..", "%2E%2E"),
        ("../../etc", "%2E%2E%2F%2E%2E%2Fetc"),
        ("💸", "%F0%9F%92%B8"),
    ])
    def test_encoding_table(self, name, encoded):
        assert sets.encode_db(name) == encoded

    @pytest.mark.parametrize("name", ["credinet", "credinet.v2", "a/b", "mi base", "préstamos", "50%", "..",
                                      "../../etc", "💸", "%2E", "x_20261129T020000-0600", "tab\there", "Ünïcode/ñ"])
    def test_round_trip_and_file_name_safety(self, name):
        encoded = sets.encode_db(name)
        assert sets.decode_db(encoded) == name
        assert re.fullmatch(r"[A-Za-z0-9_%-]+", encoded)  # no '/', '.', space: never outside the folder

    def test_empty_name_is_an_error(self):
        with pytest.raises(ValueError, match="empty"):
            sets.encode_db("")

    @pytest.mark.parametrize(("db", "seq"), [("credinet", 0), ("credinet.v2", 0), ("a/b c", 3), ("db_1", 0),
                                             ("x_20261129T020000-0600", 1), ("préstamos", 12)])
    def test_set_key_parses_back(self, db, seq):
        key = sets.set_key(db, NOW, seq)
        assert sets.parse_key(key) == (db, NOW)
        assert key.endswith("_%d" % seq) == bool(seq)

    @pytest.mark.parametrize("key", ["nonsense", "credinet_", "credinet_db_2026-11-29", "credinet_a.b_20261129T020000-0600"])
    def test_parse_key_refuses_what_is_not_a_key(self, key):
        assert sets.parse_key(key) is None


class TestScan:
    def test_sets_group_their_files_and_read_status(self, tmp_path):
        good = make_set(tmp_path, NOW)
        failed = make_set(tmp_path, NOW - dt.timedelta(days=1), "failed")
        found = {s.key: s for s in sets.scan(str(tmp_path))}
        assert found[good].status == "good"
        assert sorted(os.path.basename(f) for f in found[good].files) == sorted(
            [good + ".dump.zst", good + ".globals.sql.zst", good + ".manifest.json"])
        assert found[failed].status == "failed"
        assert not found[failed].restorable

    def test_dump_without_manifest_is_incomplete_not_good(self, tmp_path):
        key = make_set(tmp_path, NOW, "incomplete")
        (backup,) = sets.scan(str(tmp_path))
        assert (backup.key, backup.status, backup.restorable) == (key, "incomplete", False)

    @pytest.mark.parametrize("text", ["{not json", '{"status": "good"}', "[]", "", '{"status": "good", "files": []}'])
    def test_corrupt_or_partial_manifest_is_incomplete(self, tmp_path, text):
        # A manifest that only says "good" proves nothing: the strict reader refuses it.
        key = make_set(tmp_path, NOW)
        (tmp_path / (key + ".manifest.json")).write_text(text)
        assert sets.scan(str(tmp_path))[0].status == "incomplete"

    def test_sorted_oldest_first_and_offset_respected(self, tmp_path):
        make_set(tmp_path, NOW)
        make_set(tmp_path, NOW - dt.timedelta(hours=1))
        found = sets.scan(str(tmp_path))
        assert found[0].taken_at < found[1].taken_at
        assert found[1].taken_at == NOW

    def test_unrelated_files_are_ignored(self, tmp_path):
        (tmp_path / "notes.txt").write_text("x")
        (tmp_path / ".credinet_x.tmp.1").write_text("x")
        (tmp_path / ".credinet_db_20261129T020000-0600.dump.zst.partial").write_text("x")
        assert sets.scan(str(tmp_path)) == []

    def test_missing_directory_is_empty(self, tmp_path):
        assert sets.scan(str(tmp_path / "nope")) == []

    def test_legacy_sql_gz_recognised_with_name_time(self, tmp_path):
        legacy = tmp_path / "legacy"
        legacy.mkdir()
        (legacy / "credinet_backup_20260115_020000.sql.gz").write_bytes(b"gz")
        (legacy / "random.sql.gz").write_bytes(b"gz")
        os.utime(legacy / "random.sql.gz", (1_700_000_000, 1_700_000_000))
        (legacy / "readme.txt").write_text("x")
        found = sets.scan(str(tmp_path / "none"), [str(legacy)], tz=MX)
        assert [s.status for s in found] == ["legacy", "legacy"]
        assert found[0].taken_at == dt.datetime.fromtimestamp(1_700_000_000, MX)
        assert found[1].taken_at == dt.datetime(2026, 1, 15, 2, 0, tzinfo=MX)
        assert all(s.restorable for s in found)

    def test_same_second_runs_are_separate_sets(self, tmp_path):
        first = make_set(tmp_path, NOW)
        second = make_set(tmp_path, NOW, seq=1)
        found = sets.scan(str(tmp_path))
        assert [s.key for s in found] == [first, second]
        assert all(len(s.files) == 3 for s in found)
        assert not set(found[0].files) & set(found[1].files)

    def test_encoded_names_group_per_database(self, tmp_path):
        dotted = make_set(tmp_path, NOW, db="credinet.v2")
        plain = make_set(tmp_path, NOW, db="credinet")
        spaced = make_set(tmp_path, NOW, db="mi base/ñ")
        found = {s.key: s for s in sets.scan(str(tmp_path))}
        assert set(found) == {dotted, plain, spaced}
        assert all(len(s.files) == 3 and s.status == "good" for s in found.values())
        assert all(os.path.dirname(f) == str(tmp_path) for s in found.values() for f in s.files)

    def test_gzip_dump_is_the_dump_not_the_globals(self, tmp_path):
        make_set(tmp_path, NOW, compression="gzip")
        (backup,) = sets.scan(str(tmp_path))
        assert backup.dump.endswith(".dump.gz")
        assert backup.status == "good"


def listing_of(directory):
    """What `rclone lsjson -R --files-only` lists for a copy of `directory`."""
    return [{"Path": n, "Name": n, "Size": os.path.getsize(os.path.join(directory, n)), "IsDir": False}
            for n in sorted(os.listdir(directory))]


def grouping(found):
    return [(s.key, s.status, s.taken_at, s.size, sorted(os.path.basename(f) for f in s.files)) for s in found]


class TestFromListing:
    def test_same_grouping_as_the_local_scan(self, tmp_path):
        for day in range(3):
            make_set(tmp_path, NOW - dt.timedelta(days=day))
        make_set(tmp_path, NOW, seq=1)
        make_set(tmp_path, NOW, db="credinet.v2", size=7)
        make_set(tmp_path, NOW - dt.timedelta(days=5), "incomplete")
        remote = sets.from_listing(listing_of(tmp_path), MX)
        assert grouping(remote) == grouping(sets.scan(str(tmp_path)))
        assert len(remote) == 6

    def test_failed_dumps_are_never_offsite_sets(self, tmp_path):
        make_set(tmp_path, NOW, "failed")
        good = make_set(tmp_path, NOW - dt.timedelta(days=1))
        assert [s.key for s in sets.from_listing(listing_of(tmp_path))] == [good]

    def test_manifest_presence_decides_and_directories_are_skipped(self):
        key = sets.set_key("credinet", NOW)
        entries = [{"Path": key + ".dump.zst", "Size": 100}, {"Path": key + ".globals.sql.zst", "Size": 1},
                   {"Path": "sub", "IsDir": True}, {"Path": "sub/" + key + ".dump.zst", "Size": 5}]
        (backup,) = sets.from_listing(entries)
        assert (backup.status, backup.size, backup.files) == ("incomplete", 100, (key + ".dump.zst", key + ".globals.sql.zst"))
        (backup,) = sets.from_listing(entries + [{"Path": key + ".manifest.json", "Size": 2}])
        assert backup.status == "good" and len(backup.files) == 3

    def test_taken_at_in_the_given_zone(self):
        key = sets.set_key("credinet", NOW)
        (backup,) = sets.from_listing([{"Path": key + ".dump.zst", "Size": 1}], dt.timezone.utc)
        assert backup.taken_at == NOW and backup.taken_at.utcoffset() == dt.timedelta(0)


class TestFind:
    @pytest.fixture
    def found(self, tmp_path):
        legacy = tmp_path / "legacy"
        legacy.mkdir()
        (legacy / "credinet_20250101_020000.sql.gz").write_bytes(b"gz")
        self.old = make_set(tmp_path, NOW - dt.timedelta(days=2))
        self.newest_good = make_set(tmp_path, NOW - dt.timedelta(days=1))
        make_set(tmp_path, NOW, "failed")
        make_set(tmp_path, NOW + dt.timedelta(minutes=1), "incomplete")
        return sets.scan(str(tmp_path), [str(legacy)], MX)

    @pytest.mark.parametrize("wanted", [None, "", "latest"])
    def test_latest_is_the_newest_good_never_a_newer_failed_or_incomplete(self, found, wanted):
        assert sets.find(found, wanted).key == self.newest_good

    def test_by_key_by_file_name_and_by_path(self, found, tmp_path):
        assert sets.find(found, self.old).key == self.old
        assert sets.find(found, self.old + ".dump.zst").key == self.old
        assert sets.find(found, str(tmp_path / (self.old + ".manifest.json"))).key == self.old
        assert sets.find(found, "credinet_20250101_020000.sql.gz").status == "legacy"

    def test_unknown_is_none(self, found):
        assert sets.find(found, "credinet_nope") is None
        assert sets.find([], "latest") is None

    def test_latest_falls_back_to_legacy_when_nothing_is_verified(self, found):
        only_legacy = [s for s in found if s.status != "good"]
        assert sets.find(only_legacy, "latest").status == "legacy"
        assert sets.find([s for s in only_legacy if s.status != "legacy"], "latest") is None
