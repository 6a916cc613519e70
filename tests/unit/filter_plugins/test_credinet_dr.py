import pytest
from ansible.errors import AnsibleFilterError

from conftest import load_source

f = load_source("filter_plugins/credinet_dr.py")


def test_each_phase_lasts_until_the_next_one_the_last_until_the_end():
    marks = [["preflight", 100.0], ["host", 103.5], ["restore", 163.5]]
    lines = f.phase_table(marks, 223.5)
    assert lines[0].split() == ["phase", "seconds", "share"]
    assert [line.split()[:2] for line in lines[1:4]] == [["preflight", "3.5"], ["host", "60.0"], ["restore", "60.0"]]
    assert lines[-1].split() == ["total", "123.5"]
    assert f.phase_total(marks, 223.5) == 123.5


def test_shares_add_up_and_names_are_aligned():
    lines = f.phase_table([["a", 0], ["a much longer phase name", 25]], 100)
    assert [line.split()[-1] for line in lines[1:3]] == ["25%", "75%"]
    assert len({line.index("%") for line in lines[1:3]}) == 1


def test_a_clock_stepped_back_counts_as_zero_not_negative():
    lines = f.phase_table([["a", 100], ["b", 90]], 95)
    assert lines[1].split()[1] == "0.0"
    assert f.phase_total([["a", 100], ["b", 90]], 95) == 5.0


def test_no_time_at_all():
    assert f.phase_table([["a", 5]], 5)[1].split() == ["a", "0.0", "0%"]


@pytest.mark.parametrize("marks, end", [([], 1), (None, 1), ([["a"]], 1), ([["a", "soon"]], 1), ([["a", 1]], "x")])
def test_malformed_marks_are_refused(marks, end):
    with pytest.raises(AnsibleFilterError):
        f.phase_table(marks, end)


def test_registered():
    assert set(f.FilterModule().filters()) == {"credinet_phase_table", "credinet_phase_total"}
