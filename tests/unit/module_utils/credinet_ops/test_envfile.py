"""credinet_ops.envfile: .env values as Docker Compose reads them, and merging into a hand-written file."""
import pytest

from credinet_ops import envfile

# Values an operator or a vault can hold; each must read back exactly as written.
ROUND_TRIP = [
    "plain",
    "",
    "p@$$w0rd",
    "$HOME",
    "${POSTGRES_PASSWORD}",
    "a #b",
    "a # comment",
    "#starts-with-hash",
    "it's",
    "''",
    '"double"',
    "mixed 'single' and \"double\"",
    "back\\slash",
    "C:\\path\\to\\file.txt",
    "\\n is not a newline",
    "contraseña ñandú €",
    "💸 emoji",
    "  leading and trailing spaces  ",
    "tab\tinside",
    "key=value=more",
    "`backticks` and $(command)",
]


@pytest.mark.parametrize("value", ROUND_TRIP)
def test_quote_and_parse_round_trip(value):
    assert envfile.check_value("KEY", value) == []
    assert envfile.parse(envfile.line("KEY", value) + "\n") == {"KEY": value}


@pytest.mark.parametrize("value", ROUND_TRIP)
def test_values_are_always_single_quoted(value):
    quoted = envfile.quote(value)
    assert quoted.startswith("'") and quoted.endswith("'")


# How Docker Compose (compose-go's dotenv parser) reads these lines.
COMPOSE_READS = [
    ("A=plain", "plain"),
    ("A=value # comment", "value"),
    ("A=val#ue", "val#ue"),
    ("A='a # b'", "a # b"),
    ("A='$X'", "$X"),
    ("A='Let\\'s go!'", "Let's go!"),
    # Single quotes are literal: a backslash stays unless it escapes the quote.
    ("A='a\\b'", "a\\b"),
    ("A='a\\\\b'", "a\\\\b"),
    ("A='\\n'", "\\n"),
    ('A="a\\\\b"', "a\\b"),
    ('A="say \\"hi\\""', 'say "hi"'),
    ('A="line\\nbreak"', "line\nbreak"),
    ('A="\\$X"', "$X"),
    ("export A=1", "1"),
    ("A=", ""),
    # The YAML-like form compose-go's dotenv reads too.
    ("A: yaml-like", "yaml-like"),
    ("A:'x # y'", "x # y"),
    ("A=http://host:80/", "http://host:80/"),
]


@pytest.mark.parametrize(("line", "value"), COMPOSE_READS)
def test_parse_follows_compose(line, value):
    assert envfile.parse(line + "\n") == {"A": value}


@pytest.mark.parametrize(("value", "written"), [("it's", "'it\\'s'"), ("a\\b", "'a\\b'"), ("$X", "'$X'"), ("", "''")])
def test_quote_writes_what_compose_reads_back(value, written):
    assert envfile.quote(value) == written


class TestCheckValue:
    @pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn", "nul\0byte", "trailing newline\n"])
    def test_line_breaks_and_nul_are_refused(self, value):
        (error,) = envfile.check_value("DB_PASSWORD", value)
        assert "DB_PASSWORD" in error and "line break" in error
        assert value not in error

    @pytest.mark.parametrize("value", ["ends with a backslash\\", "backslash\\'quote"])
    def test_values_single_quotes_cannot_hold_are_refused(self, value):
        # Compose reads \' as a quote: a backslash before a quote or at the end cannot be written.
        (error,) = envfile.check_value("DB_PASSWORD", value)
        assert "DB_PASSWORD" in error and "backslash" in error
        assert value not in error

    @pytest.mark.parametrize("key", ["1ABC", "A-B", "A B", "", "A.B", "Ñ"])
    def test_invalid_names(self, key):
        assert envfile.check_value(key, "x") == ["%s is not a valid variable name" % key]

    @pytest.mark.parametrize("key", ["A", "_PRIVATE", "DB_PASSWORD2", "lower_case"])
    def test_valid_names(self, key):
        assert envfile.check_value(key, "x") == []

    def test_non_string_values_are_checked_as_text(self):
        assert envfile.check_value("PORT", 5432) == []


HAND_WRITTEN = """# Credinet .env, written by hand
APP_NAME=credinet
export DB_USER=credinet   # the app user

# tokens
TELEGRAM_BOT_TOKEN='123:working-token'
DB_PASSWORD="s3cret"
APP_NAME=duplicate
"""


class TestMerge:
    def test_unmanaged_keys_comments_and_order_are_kept(self):
        text, changed, kept = envfile.merge(HAND_WRITTEN, {"DB_PASSWORD": "n3w", "TZ": "America/Mexico_City"})
        lines = text.splitlines()
        assert lines[:5] == HAND_WRITTEN.splitlines()[:5]
        assert "DB_PASSWORD='n3w'" in lines and lines[-1] == "TZ='America/Mexico_City'"
        assert "APP_NAME=duplicate" in lines  # unmanaged: not ours to deduplicate
        assert (changed, kept) == (["DB_PASSWORD", "TZ"], [])
        assert envfile.parse(text)["DB_PASSWORD"] == "n3w"

    def test_changed_names_only_never_values(self):
        _, changed, _ = envfile.merge(HAND_WRITTEN, {"DB_PASSWORD": "n3w-secret"})
        assert changed == ["DB_PASSWORD"]

    def test_an_empty_value_keeps_a_working_token_when_asked(self):
        text, changed, kept = envfile.merge(HAND_WRITTEN, {"TELEGRAM_BOT_TOKEN": ""}, keep_when_empty=["TELEGRAM_BOT_TOKEN"])
        assert text == HAND_WRITTEN
        assert (changed, kept) == ([], ["TELEGRAM_BOT_TOKEN"])

    def test_an_empty_value_blanks_a_key_not_listed(self):
        text, changed, kept = envfile.merge(HAND_WRITTEN, {"TELEGRAM_BOT_TOKEN": ""})
        assert envfile.parse(text)["TELEGRAM_BOT_TOKEN"] == ""
        assert (changed, kept) == (["TELEGRAM_BOT_TOKEN"], [])

    def test_a_non_empty_value_replaces_even_a_kept_key(self):
        text, changed, kept = envfile.merge(HAND_WRITTEN, {"TELEGRAM_BOT_TOKEN": "123:new"}, ["TELEGRAM_BOT_TOKEN"])
        assert envfile.parse(text)["TELEGRAM_BOT_TOKEN"] == "123:new" and changed == ["TELEGRAM_BOT_TOKEN"]

    def test_a_line_already_holding_the_value_stays_as_written(self):
        text, changed, _ = envfile.merge(HAND_WRITTEN, {"DB_USER": "credinet", "DB_PASSWORD": "s3cret"})
        assert text == HAND_WRITTEN and changed == []

    def test_duplicates_of_a_managed_key_are_removed(self):
        text, changed, _ = envfile.merge("A=1\nB=2\nA=3\n", {"A": "4"})
        assert text == "A='4'\nB=2\n" and changed == ["A"]

    def test_a_kept_key_keeps_its_effective_value_the_last_assignment(self):
        # Compose reads the last TOKEN: that one is kept (on the first line), the stale one goes.
        text, changed, kept = envfile.merge("TOKEN=stale\nB=2\nTOKEN=working\n", {"TOKEN": ""}, keep_when_empty=["TOKEN"])
        assert envfile.parse(text) == {"TOKEN": "working", "B": "2"}
        assert text == "TOKEN='working'\nB=2\n" and (changed, kept) == ([], ["TOKEN"])

    def test_a_yaml_like_line_is_a_managed_line(self):
        text, changed, _ = envfile.merge("TZ: UTC\n", {"TZ": "America/Mexico_City"})
        assert text == "TZ='America/Mexico_City'\n" and changed == ["TZ"]

    def test_the_effective_value_decides_what_changed(self):
        # Compose reads the last A (3); setting 3 changes no value even though the text is tidied.
        text, changed, _ = envfile.merge("A=1\nA=3\n", {"A": "3"})
        assert envfile.parse(text) == {"A": "3"} and changed == []

    def test_commented_out_keys_are_not_managed_lines(self):
        text, changed, _ = envfile.merge("# A=old\n", {"A": "new"})
        assert text == "# A=old\nA='new'\n" and changed == ["A"]

    def test_empty_file(self):
        assert envfile.merge("", {"A": "x y"}) == ("A='x y'\n", ["A"], [])
        assert envfile.merge("", {}) == ("", [], [])

    def test_merge_is_idempotent(self):
        managed = {"DB_PASSWORD": "p@$$ 'w' #0", "TZ": "America/Mexico_City", "TELEGRAM_BOT_TOKEN": ""}
        once, _, _ = envfile.merge(HAND_WRITTEN, managed, ["TELEGRAM_BOT_TOKEN"])
        twice, changed, kept = envfile.merge(once, managed, ["TELEGRAM_BOT_TOKEN"])
        assert twice == once and changed == [] and kept == ["TELEGRAM_BOT_TOKEN"]

    def test_a_file_without_final_newline(self):
        text, _, _ = envfile.merge("A=1", {"B": "2"})
        assert text == "A=1\nB='2'\n"
