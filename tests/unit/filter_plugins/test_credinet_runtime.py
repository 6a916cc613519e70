"""filter_plugins/credinet_runtime.py: OnCalendar= from cron fields, messages, strict booleans, .env lines."""
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from conftest import load_source

runtime = load_source("filter_plugins/credinet_runtime.py")
F = runtime.FilterModule().filters()
TZ = "America/Mexico_City"

ONCALENDAR = [
    ({"hour": "2", "minute": "0"}, "*-*-* 02:00:00 America/Mexico_City"),
    ({"hour": 2}, "*-*-* 02:00:00 America/Mexico_City"),  # minute defaults to 0, ints are fine
    ({"hour": "3", "weekday": "0"}, "Sun *-*-* 03:00:00 America/Mexico_City"),
    ({"hour": "3", "weekday": "7"}, "Sun *-*-* 03:00:00 America/Mexico_City"),
    ({"hour": "2", "minute": "30", "weekday": "1-5"}, "Mon..Fri *-*-* 02:30:00 America/Mexico_City"),
    ({"hour": "2", "weekday": "1,3"}, "Mon,Wed *-*-* 02:00:00 America/Mexico_City"),
    ({"hour": "2", "weekday": "6-7"}, "Sat..Sun *-*-* 02:00:00 America/Mexico_City"),
    # systemd's week starts on Monday: a cron range from Sunday is split.
    ({"hour": "2", "weekday": "0-3"}, "Sun,Mon..Wed *-*-* 02:00:00 America/Mexico_City"),
    ({"hour": "2", "weekday": "0-1"}, "Sun,Mon *-*-* 02:00:00 America/Mexico_City"),
    ({"hour": "2", "weekday": "0,6"}, "Sun,Sat *-*-* 02:00:00 America/Mexico_City"),
    ({"minute": "*/15"}, "*-*-* *:0/15:00 America/Mexico_City"),
    ({"minute": "5/15", "hour": "*"}, "*-*-* *:05/15:00 America/Mexico_City"),
    ({"hour": "*/6"}, "*-*-* 0/6:00:00 America/Mexico_City"),
    ({"hour": "1,3", "minute": "0,30"}, "*-*-* 01,03:00,30:00 America/Mexico_City"),
    ({"hour": "8-18"}, "*-*-* 08..18:00:00 America/Mexico_City"),
    ({"hour": "4", "day": "1"}, "*-*-1 04:00:00 America/Mexico_City"),
    ({"hour": "4", "day": "*/2"}, "*-*-1/2 04:00:00 America/Mexico_City"),
    ({"hour": "4", "day": "1", "month": "1,7"}, "*-1,7-1 04:00:00 America/Mexico_City"),
    ({"hour": "4", "month": "*/3", "day": "15"}, "*-1/3-15 04:00:00 America/Mexico_City"),
    ({"hour": " 2 ", "minute": "0 , 30"}, "*-*-* 02:00,30:00 America/Mexico_City"),
    ({"minute": "59", "hour": "23", "day": "31", "month": "12"}, "*-12-31 23:59:00 America/Mexico_City"),
]


@pytest.mark.parametrize(("schedule", "expected"), ONCALENDAR)
def test_oncalendar_table(schedule, expected):
    assert F["credinet_oncalendar"](schedule, TZ) == expected
    assert F["credinet_schedule_errors"](schedule) == []


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize(("schedule", "expected"), ONCALENDAR)
def test_systemd_accepts_every_value(schedule, expected):
    proc = subprocess.run(["systemd-analyze", "calendar", expected], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("schedule", "fragment"), [
    ({"hour": "2", "minutes": "0"}, "unknown schedule field(s) minutes"),
    ({"hour": "2", "day": "1", "weekday": "1"}, "cannot restrict both day and weekday"),
    ({"minute": "60"}, "minute value 60 is outside 0-59"),
    ({"hour": "24"}, "hour value 24 is outside 0-23"),
    ({"day": "0"}, "day value 0 is outside 1-31"),
    ({"day": "32"}, "day value 32 is outside 1-31"),
    ({"month": "13"}, "month value 13 is outside 1-12"),
    ({"weekday": "8"}, "weekday value 8 is outside 0-7"),
    ({"hour": "1-5/2"}, "ranges with a step are not supported"),
    ({"weekday": "*/2"}, "steps are not supported for weekdays"),
    ({"hour": "5-2"}, "hour range 5-2 goes backwards"),
    ({"weekday": "5-1"}, "weekday range 5-1 goes backwards"),
    ({"minute": "*/0"}, "minute step /0"),
    ({"minute": "*/60"}, "minute step /60 from 0 does not repeat within 0-59"),
    ({"hour": "12/12"}, "hour step /12 from 12 does not repeat"),
    ({"day": "*/31"}, "day step /31 from 1 does not repeat"),
    ({"month": "*/12"}, "month step /12 from 1 does not repeat"),
    ({"hour": "two"}, "is not cron syntax"),
    ({"hour": ""}, "is not cron syntax"),
    ({"hour": "1-"}, "is not cron syntax"),
    ({"hour": "-1"}, "is not cron syntax"),
    ({"hour": "1,,2"}, "is not cron syntax"),
    ({"hour": None}, "is not cron syntax"),
    ({}, "a schedule is a mapping"),
    ("0 2 * * *", "a schedule is a mapping"),
    (None, "a schedule is a mapping"),
])
def test_schedule_errors(schedule, fragment):
    with pytest.raises(AnsibleFilterError) as err:
        F["credinet_oncalendar"](schedule, TZ)
    assert fragment in str(err.value)
    assert [fragment in e for e in F["credinet_schedule_errors"](schedule)] == [True]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
@pytest.mark.parametrize("value", ["*-*-* *:0/60:00", "*-*-* 12/12:00:00", "Sun..Wed *-*-* 02:00:00", "*-*-* 05..02:00:00"])
def test_what_the_filter_refuses_systemd_refuses_too(value):
    assert subprocess.run(["systemd-analyze", "calendar", value], capture_output=True).returncode != 0


class TestStrictBool:
    @pytest.mark.parametrize(("value", "expected"), [
        (True, True), (False, False), (1, True), (0, False),
        ("true", True), ("True", True), ("TRUE", True), ("yes", True), ("on", True), ("1", True), (" yes ", True),
        ("false", False), ("False", False), ("no", False), ("off", False), ("0", False), ("NO", False),
    ])
    def test_accepted_words(self, value, expected):
        assert F["credinet_bool"](value) is expected
        assert F["credinet_is_bool"](value) is True

    @pytest.mark.parametrize("value", ["maybe", "", "y", "n", "2", "truee", "none", None, 2, -1, 1.0, [], {}])
    def test_anything_else_is_refused_naming_the_variable(self, value):
        with pytest.raises(AnsibleFilterError) as err:
            F["credinet_bool"](value, "deploy_force")
        assert str(err.value).startswith("deploy_force must be true or false")
        assert F["credinet_is_bool"](value) is False

    def test_maybe(self):
        with pytest.raises(AnsibleFilterError, match="app_rollback must be true or false .*got 'maybe'"):
            F["credinet_bool"]("maybe", "app_rollback")


class TestMessage:
    def test_renders_from_the_runtime_catalog(self):
        text = F["credinet_message"]("deploy_succeeded", "en", host="h", env="prod", target="abc123")
        assert text == "Deploy OK on h (prod): abc123"
        assert F["credinet_message"]("deploy_succeeded", host="h", env="prod", target="abc").startswith("Despliegue")

    def test_unknown_message_and_missing_values_are_filter_errors(self):
        with pytest.raises(AnsibleFilterError, match="nope"):
            F["credinet_message"]("nope")
        with pytest.raises(AnsibleFilterError, match="deploy_succeeded"):
            F["credinet_message"]("deploy_succeeded", host="h", env="prod")


class TestEnvLines:
    def test_values_are_single_quoted_in_order(self):
        text = F["credinet_env_lines"]({"TZ": "America/Mexico_City", "DB_PASSWORD": "p@$$ 'w' #0", "EMPTY": ""})
        assert text == "TZ='America/Mexico_City'\nDB_PASSWORD='p@$$ \\'w\\' #0'\nEMPTY=''\n"

    def test_empty_mapping(self):
        assert F["credinet_env_lines"]({}) == ""

    @pytest.mark.parametrize(("values", "fragment"), [({"A": "x\ny"}, "line break"), ({"1A": "x"}, "not a valid"),
                                                      ({"A": "ends\\"}, "backslash")])
    def test_unwritable_values_are_refused_without_the_value(self, values, fragment):
        with pytest.raises(AnsibleFilterError, match=fragment) as err:
            F["credinet_env_lines"](values)
        assert all(v not in str(err.value) for v in values.values())

    def test_env_errors(self):
        assert F["credinet_env_errors"]({"A": "ok", "B": None, "C": 5}) == []
        assert F["credinet_env_errors"](None) == []
        (error,) = F["credinet_env_errors"]({"SMTP_PASSWORD": "two\nlines"})
        assert "SMTP_PASSWORD" in error and "two" not in error


def test_filters_are_registered():
    assert set(F) == {"credinet_oncalendar", "credinet_schedule_errors", "credinet_message", "credinet_bool",
                      "credinet_is_bool", "credinet_env_lines", "credinet_env_errors",
                      "credinet_package_fingerprint"}


def test_package_fingerprint_states_the_modes_and_owner_the_copy_sets(tmp_path):
    from credinet_ops import fingerprint
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "a.py").chmod(0o600)
    assert F["credinet_package_fingerprint"](tmp_path) == fingerprint.describe(str(tmp_path), (0o644, 0o755, 0, 0))
    assert F["credinet_package_fingerprint"](tmp_path, "0640", "0750") == \
        fingerprint.describe(str(tmp_path), (0o640, 0o750, 0, 0))


@pytest.mark.parametrize("modes, fragment", [
    (("0644", "0755"), "not a folder"),
    (("rw-r--r--", "0755"), "octal strings"),
])
def test_package_fingerprint_errors_are_clear(tmp_path, modes, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        F["credinet_package_fingerprint"](tmp_path / "missing" if fragment == "not a folder" else tmp_path, *modes)
