import pytest

REQUIRED = [{"name": "community.docker", "version": "4.8.5"}, {"name": "ansible.posix", "version": "2.1.0"}]


@pytest.fixture
def mod(load_script):
    return load_script("ensure-collections")


def test_nothing_missing_when_bundle_satisfies(mod):
    assert mod.missing(REQUIRED, {"community.docker": "4.8.5", "ansible.posix": "2.2.0"}) == []


def test_absent_collection_is_reported(mod):
    assert mod.missing(REQUIRED, {"community.docker": "4.8.5"}) == ["ansible.posix 2.1.0 (have none)"]


def test_older_collection_is_reported(mod):
    assert mod.missing(REQUIRED, {"community.docker": "4.8.4", "ansible.posix": "2.1.0"}) == [
        "community.docker 4.8.5 (have 4.8.4)"
    ]


def test_versions_compare_numerically_not_as_text(mod):
    assert mod.missing([{"name": "a.b", "version": "4.10.0"}], {"a.b": "4.9.9"}) == ["a.b 4.10.0 (have 4.9.9)"]


def test_requirements_pin_what_the_ansible_package_bundles(mod):
    # The real check: the pinned ansible package satisfies requirements.yml, so CI is offline-safe.
    import yaml
    required = yaml.safe_load((mod.ROOT / "requirements.yml").read_text())["collections"]
    assert mod.missing(required, mod.installed_collections()) == []
