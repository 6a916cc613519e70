"""library/credinet_monitoring_db.py: the pure parts (what to run for which role state)."""
import pytest

from conftest import load_source

mod = load_source("library/credinet_monitoring_db.py")
PASSWORD = "FAKE-monitor-password-'quoted"


def test_an_absent_role_is_created_least_privileged_with_its_password_hash():
    actions, sql = mod.plan("absent", "credinet_monitor", PASSWORD)
    assert actions == ["create role credinet_monitor"]
    assert sql[0].startswith('CREATE ROLE "credinet_monitor" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION')
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in sql[0]  # only the verifier reaches the server
    assert PASSWORD not in " ".join(sql) and PASSWORD.replace("'", "''") not in " ".join(sql)
    assert sql[1] == 'GRANT pg_monitor TO "credinet_monitor"'
    assert sql[2].startswith('COMMENT ON ROLE "credinet_monitor" IS \'credinet-ops monitoring login; password sha256:')
    assert PASSWORD not in sql[2]


@pytest.mark.parametrize(("member", "comment_ok", "actions"), [
    ("1", True, []),
    ("0", True, ["grant pg_monitor"]),
    ("1", False, ["set password"]),
    ("0", False, ["grant pg_monitor", "set password"]),
])
def test_an_existing_role_is_repaired_only_where_it_differs(member, comment_ok, actions):
    comment = mod.password_comment(PASSWORD) if comment_ok else "set by hand"
    got, sql = mod.plan("%s:%s" % (member, comment), "credinet_monitor", PASSWORD)
    assert got == actions
    assert bool(sql) == bool(actions)
    assert any("ALTER ROLE" in s for s in sql) == ("set password" in actions)


def test_a_comment_with_a_colon_is_read_whole():
    comment = mod.password_comment(PASSWORD)
    assert mod.plan("1:" + comment, "r", PASSWORD) == ([], [])


@pytest.mark.parametrize(("networks", "expected"), [
    (["credinet-v2_default", "other"], "credinet-v2_default"),
    (["zeta", "alpha"], "alpha"),
    ([], ""),
])
def test_the_projects_default_network_is_preferred(networks, expected):
    assert mod.choose_network(networks, "credinet-v2") == expected


def test_the_role_state_query_quotes_the_name():
    assert "rolname = 'o''brien'" in mod.role_state_sql("o'brien")


@pytest.mark.parametrize("name", ["credinet_monitor", "_m", "a" * 63])
def test_plain_role_names_pass(name):
    assert mod.ROLE_NAME.match(name)


@pytest.mark.parametrize("name", ["Monitor", "1abc", "a-b", 'x"; DROP', "a" * 64, ""])
def test_other_role_names_are_refused(name):
    assert not mod.ROLE_NAME.match(name)


def test_errors_never_carry_the_password():
    assert mod.hide("LINE 1: ALTER ROLE x PASSWORD '%s'" % PASSWORD, PASSWORD) == "LINE 1: ALTER ROLE x PASSWORD '********'"
    assert mod.hide("plain", None) == "plain"


def test_the_scram_verifier_is_postgresqls_format_and_checks_the_password():
    import base64
    import hashlib
    import hmac
    verifier = mod.scram_verifier("FAKE-pw", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    assert (method, iterations, base64.b64decode(salt)) == ("SCRAM-SHA-256", "4096", b"0123456789abcdef")
    # What the server does at login (RFC 5802): the client proof for this password matches StoredKey.
    salted = hashlib.pbkdf2_hmac("sha256", b"FAKE-pw", b"0123456789abcdef", 4096)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert hashlib.sha256(client_key).digest() == stored_key
    assert hmac.new(salted, b"Server Key", "sha256").digest() == server_key
    assert mod.scram_verifier("FAKE-pw") != mod.scram_verifier("FAKE-pw"), "a new salt each time"
