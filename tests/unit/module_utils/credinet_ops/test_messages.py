"""credinet_ops.messages: the operators' texts in Spanish and English."""
import string

import pytest

from credinet_ops import messages

NAMES = sorted(messages.CATALOG[messages.DEFAULT_LANGUAGE])


def fields(template):
    """The placeholder names of a str.format template."""
    return sorted({name for _, name, _, _ in string.Formatter().parse(template) if name})


def sample_values(template):
    return dict.fromkeys(fields(template), 1)  # numbers satisfy {mb:.1f} and plain {host} alike


def test_both_languages_have_the_same_messages():
    assert set(messages.CATALOG) == {"es", "en"} == set(messages.LANGUAGES)
    assert set(messages.CATALOG["en"]) == set(messages.CATALOG["es"])


@pytest.mark.parametrize("name", NAMES)
def test_every_message_has_the_same_placeholders_in_both_languages(name):
    assert fields(messages.CATALOG["en"][name]) == fields(messages.CATALOG["es"][name])


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("name", NAMES)
def test_every_message_renders(lang, name):
    text = messages.render(lang, name, **sample_values(messages.CATALOG[lang][name]))
    assert text and "{" not in text


@pytest.mark.parametrize("name", [n for n in NAMES if "{error}" in messages.CATALOG["es"][n]])
def test_failure_messages_carry_host_env_and_error(name):
    template = messages.CATALOG["es"][name]
    values = dict(sample_values(template), host="credicuenta3", env="prod", error="disco lleno")
    text = messages.render("es", name, **values)
    assert "prod" in text and "disco lleno" in text


@pytest.mark.parametrize("lang", ["es", "en"])
def test_backup_failed_in_both_languages(lang):
    text = messages.render(lang, "backup_failed", host="h", env="prod", error="disco lleno")
    assert "prod" in text and "disco lleno" in text


@pytest.mark.parametrize("lang", ["fr", "", None])
def test_unknown_language_falls_back_to_spanish(lang):
    assert messages.render(lang, "backup_failed", host="h", env="dev", error="x").startswith("FALLÓ")


def test_unknown_message_is_named():
    with pytest.raises(KeyError, match="no message 'nope' in the en catalog"):
        messages.render("en", "nope")


def test_a_missing_value_is_a_key_error():
    with pytest.raises(KeyError):
        messages.render("es", "backup_failed", host="h", env="prod")
