import pytest

LOG = """
PLAY RECAP *********************************************************************
sandbox-dev                : ok=35   changed=0    unreachable=0    failed=0    skipped=6    rescued=0    ignored=0
sandbox-prod               : ok=35   changed=2    unreachable=0    failed=1    skipped=6    rescued=0    ignored=0
"""


@pytest.fixture
def mod(load_script):
    return load_script("sandbox-summary")


def test_recap_lines_are_parsed_per_host(mod):
    recap = mod.parse_recap(LOG)
    assert recap["sandbox-dev"]["changed"] == 0
    assert recap["sandbox-prod"] == {
        "ok": 35, "changed": 2, "unreachable": 0, "failed": 1, "skipped": 6, "rescued": 0, "ignored": 0,
    }


def test_task_lines_are_not_taken_for_recap(mod):
    assert mod.parse_recap("changed: [sandbox-prod] => (item=x)\nok: [sandbox-dev]\n") == {}
