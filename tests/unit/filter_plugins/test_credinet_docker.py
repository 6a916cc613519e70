"""filter_plugins/credinet_docker.py: daemon.json registry settings, compose versions."""
import pytest
from ansible.errors import AnsibleFilterError

from conftest import load_source

_docker = load_source("filter_plugins/credinet_docker.py")
FilterModule, compose_version, insecure_registries = _docker.FilterModule, _docker.compose_version, _docker.insecure_registries


class TestInsecureRegistries:
    def test_http_mirror_is_listed_with_its_port(self):
        assert insecure_registries(["http://172.17.0.1:5000"]) == ["172.17.0.1:5000"]

    def test_https_mirror_needs_no_entry(self):
        assert insecure_registries(["https://mirror.example.test"]) == []

    def test_trailing_slash_and_whitespace_are_tolerated(self):
        assert insecure_registries([" http://mirror.example.test:5000/ "]) == ["mirror.example.test:5000"]

    def test_duplicates_are_listed_once_in_order(self):
        mirrors = ["http://b.test:5000", "http://a.test", "http://b.test:5000"]
        assert insecure_registries(mirrors) == ["b.test:5000", "a.test"]

    def test_empty_list(self):
        assert insecure_registries([]) == []

    @pytest.mark.parametrize("url", ["172.17.0.1:5000", "ftp://mirror.test", "http://", "", "http://mirror.test/v2"])
    def test_malformed_urls_are_errors(self, url):
        with pytest.raises(AnsibleFilterError):
            insecure_registries([url])

    def test_a_string_instead_of_a_list_is_an_error(self):
        with pytest.raises(AnsibleFilterError, match="must be a list"):
            insecure_registries("http://mirror.test")


class TestComposeVersion:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2.26.1+ds1-0+deb13u1", "2.26.1"),
            ("2.26.1-4\n", "2.26.1"),
            ("v2.29.7", "2.29.7"),
            ("Docker Compose version v2.20.2", "2.20.2"),
            ("2.18", "2.18.0"),
            ("02.018.01", "2.18.1"),
        ],
    )
    def test_distribution_spellings(self, text, expected):
        assert compose_version(text) == expected

    @pytest.mark.parametrize("text", ["", None, "docker-compose version", "v2"])
    def test_unreadable_output_is_an_error(self, text):
        with pytest.raises(AnsibleFilterError, match="cannot read"):
            compose_version(text)


def test_filters_are_registered():
    filters = FilterModule().filters()
    assert filters["credinet_insecure_registries"] is insecure_registries
    assert filters["credinet_compose_version"] is compose_version


class TestPitrBaseImage:
    """Role pitr's archiving image is built FROM the app's declared postgres image."""
    pitr_base = staticmethod(_docker.pitr_base_image)
    CONFIG = '{"services": {"postgres": {"image": "postgres:17.2"}, "backend": {"image": "credinet-backend:abc"}}}'

    def test_a_new_tag_in_the_app_compose_file_reaches_the_archiving_image(self):
        # Running the archiving image built from postgres:17.1; the app now declares 17.2.
        assert self.pitr_base(self.CONFIG, "postgres", "credinet-postgres-pitr:1a2b", "postgres:17.1",
                              "credinet-postgres-pitr") == "postgres:17.2"

    def test_without_a_readable_declaration_the_running_base_or_image(self):
        for config in ("", "not json", '{"services": {}}', '[1]'):
            assert self.pitr_base(config, "postgres", "credinet-postgres-pitr:1a2b", "postgres:17.1",
                                  "credinet-postgres-pitr") == "postgres:17.1"
            assert self.pitr_base(config, "postgres", "postgres:17", "", "credinet-postgres-pitr") == "postgres:17"
        assert self.pitr_base("", "postgres", "", "", "credinet-postgres-pitr") == ""

    def test_a_declaration_of_the_archiving_image_itself_is_not_a_base(self):
        config = '{"services": {"postgres": {"image": "credinet-postgres-pitr:1a2b"}}}'
        assert self.pitr_base(config, "postgres", "credinet-postgres-pitr:1a2b", "postgres:17.1",
                              "credinet-postgres-pitr") == "postgres:17.1"
