"""credinet_ops.manifest: one writer, one strict reader."""
import json
import os

import pytest

from conftest import sample_manifest
from credinet_ops import manifest as mf
from credinet_ops.manifest import FileEntry, Manifest, ManifestError

KEY = "credinet_credinet_20261129T020000-0600"


def stored(tmp_path, data):
    path = tmp_path / mf.file_name(KEY)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def without(data, *path):
    """A copy of `data` with the key at `path` (nested keys) removed."""
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


class TestRoundTrip:
    def test_write_then_read_gives_the_same_manifest(self, tmp_path):
        original = sample_manifest(KEY, tables={"public.loans": {"rows": 3, "checksum": "-12"},
                                                'audit."Eventos ñ"': {"rows": 0, "checksum": "0"}})
        path = str(tmp_path / mf.file_name(KEY))
        original.write(path)
        assert Manifest.read(path) == original
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert os.listdir(tmp_path) == [mf.file_name(KEY)]

    @pytest.mark.parametrize("status", ["good", "failed"])
    def test_dict_round_trip(self, status):
        original = sample_manifest(KEY, status)
        assert Manifest.from_dict(original.to_dict()) == original
        assert original.good is (status == "good")

    def test_json_keeps_unicode_readable(self):
        text = sample_manifest(KEY, tables={"public.préstamos": {"rows": 1, "checksum": "1"}}).to_json()
        assert "préstamos" in text and json.loads(text)["format"] == mf.FORMAT

    def test_row_counts(self):
        manifest = sample_manifest(KEY, tables={"public.a": {"rows": 3, "checksum": "1"}, "public.b": {"rows": 0}})
        assert manifest.row_counts() == {"public.a": 3, "public.b": 0}

    def test_optional_fields_default(self):
        data = without(without(sample_manifest(KEY).to_dict(), "verify"), "app_dir")
        manifest = Manifest.from_dict(data)
        assert (manifest.verify_errors, manifest.verify_method, manifest.app_dir) == ([], "", "")

    def test_a_manifest_without_the_rebuild_facts_still_reads(self):
        """Sets taken before the release record was copied into manifests stay restorable."""
        manifest = Manifest.from_dict(without(without(sample_manifest(KEY).to_dict(), "release"), "db_user"))
        assert (manifest.release, manifest.db_user) == (None, "")

    def test_the_release_record_round_trips(self):
        manifest = Manifest.from_dict(json.loads(sample_manifest(KEY).to_json()))
        assert manifest.release["sha"] == "0123456789abcdef0123456789abcdef01234567"
        assert manifest.db_user == "credinet"

    def test_file_entries_are_typed(self):
        manifest = Manifest.from_dict(sample_manifest(KEY).to_dict())
        assert manifest.dump == FileEntry(KEY + ".dump.zst", 100, "a" * 64)


class TestMalformed:
    @pytest.mark.parametrize("text", ["[]", '"good"', "null", "42"])
    def test_not_an_object(self, tmp_path, text):
        with pytest.raises(ManifestError, match="a manifest is a JSON object"):
            Manifest.read(stored(tmp_path, text))

    def test_only_a_status_is_not_a_manifest(self, tmp_path):
        with pytest.raises(ManifestError, match="malformed manifest"):
            Manifest.read(stored(tmp_path, {"status": "good"}))

    @pytest.mark.parametrize("path", [("status",), ("key",), ("db",), ("server_image",), ("tables",), ("files",),
                                      ("files", "dump"), ("files", "globals"), ("files", "dump", "sha256")])
    def test_missing_keys(self, tmp_path, path):
        with pytest.raises(ManifestError, match="malformed manifest"):
            Manifest.read(stored(tmp_path, without(sample_manifest(KEY).to_dict(), *path)))

    @pytest.mark.parametrize("stats", [{"rows": "3"}, {"rows": 1.5}, {"rows": None}, {"checksum": "1"}, 3, "rows"])
    def test_tables_need_integer_row_counts(self, tmp_path, stats):
        data = sample_manifest(KEY).to_dict()
        data["tables"] = {"public.loans": stats}
        with pytest.raises(ManifestError, match="public.loans has no row count"):
            Manifest.read(stored(tmp_path, data))

    @pytest.mark.parametrize(("field", "value"), [("files", []), ("files", {"dump": [], "globals": {}}),
                                                  ("verify", ["x"]), ("duration_seconds", "slow"), ("tables", "x"),
                                                  ("format", "one")])
    def test_wrong_shapes(self, tmp_path, field, value):
        data = sample_manifest(KEY).to_dict()
        data[field] = value
        with pytest.raises(ManifestError):
            Manifest.read(stored(tmp_path, data))

    @pytest.mark.parametrize("release", [[], "main", 3, {"sha": "abc"}, {"sha": "0123456789ABCDEF0123456789ABCDEF01234567"},
                                         {"sha": "g" * 40}, {"sha": 12}, {"sha": "0" * 39 + "\n"}, {"ref": "x" * 257},
                                         {"ref": "\ud800"}, {"by": ["a"]}, {"images": ["a"]}, {"images": {"s": 1}},
                                         {"images": {str(i): "x" for i in range(65)}}, {"previous": "main"}])
    def test_a_malformed_release_record_is_refused_and_reads_as_none(self, tmp_path, release):
        with pytest.raises(ManifestError, match="release record"):
            mf.release_record(release)
        data = sample_manifest(KEY).to_dict()
        data["release"] = release
        # Only informative: the set stays readable, hence restorable.
        manifest = Manifest.read(stored(tmp_path, data))
        assert manifest.release is None and manifest.status == "good"

    def test_a_sha256_repository_commit_is_a_commit(self):
        sha = "ab" * 32
        assert mf.release_record({"sha": sha, "previous": sha})["sha"] == sha

    def test_a_release_record_keeps_only_what_role_app_writes(self):
        sha = "0123456789abcdef0123456789abcdef01234567"
        record = {"sha": sha, "previous": None, "ref": "main", "adopted": True, "images": {"backend": "sha256:ab"},
                  "injected": {"deep": [1, 2]}, "by": "jair@laptop"}
        assert mf.release_record(record) == {"sha": sha, "previous": None, "ref": "main", "adopted": True,
                                             "images": {"backend": "sha256:ab"}, "by": "jair@laptop"}

    def test_extra_file_entry_fields_are_refused(self, tmp_path):
        data = sample_manifest(KEY).to_dict()
        data["files"]["dump"]["mtime"] = 1
        with pytest.raises(ManifestError):
            Manifest.read(stored(tmp_path, data))

    @pytest.mark.parametrize("text", ["", "{not json", '{"status": "good"', "\udcff".encode("utf-8", "surrogateescape")])
    def test_not_json(self, tmp_path, text):
        path = tmp_path / mf.file_name(KEY)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        with pytest.raises(ManifestError, match="is not JSON"):
            Manifest.read(str(path))

    def test_missing_file(self, tmp_path):
        with pytest.raises(ManifestError, match="cannot read manifest"):
            Manifest.read(str(tmp_path / "nope.manifest.json"))

    def test_errors_are_value_errors(self):
        # Callers that catch ValueError (the commands' error paths) keep working.
        assert issubclass(ManifestError, ValueError)


class TestStatusOf:
    @pytest.mark.parametrize("status", ["good", "failed"])
    def test_recorded_status(self, tmp_path, status):
        path = str(tmp_path / mf.file_name(KEY))
        sample_manifest(KEY, status).write(path)
        assert mf.status_of(path, "incomplete") == status

    @pytest.mark.parametrize("text", [None, "[]", '{"status": "good"}', "{"])
    def test_missing_or_unreadable_is_the_fallback(self, tmp_path, text):
        path = tmp_path / mf.file_name(KEY)
        if text is not None:
            path.write_text(text)
        assert mf.status_of(str(path), "incomplete") == "incomplete"
