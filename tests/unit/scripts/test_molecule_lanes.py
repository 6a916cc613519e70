import io
import os

import pytest
from conftest import fake_command

# A fake `molecule`: `test -s <scenario>` behaves as the scenario's name says.
#   slow-*  waits (up to LANES_TEST_WAIT s) until the scenario named after the dash has started: it only
#           passes when the two run side by side.
#   fail-*  prints a line and fails.
MOLECULE = """
import pathlib, time
verb, scenario = args[0], args[2]
marks = pathlib.Path(os.environ["LANES_TEST_DIR"])
if verb == "test":
    (marks / ("started-" + scenario)).touch()
    print("running", scenario)
    print("INFO     [%s > create] Executed: Successful" % scenario)
    if scenario.startswith("slow-"):
        other = marks / ("started-" + scenario.split("-", 1)[1])
        deadline = time.monotonic() + float(os.environ.get("LANES_TEST_WAIT", "20"))
        while not other.exists():
            if time.monotonic() > deadline:
                print("never saw", other.name)
                sys.exit(3)
            time.sleep(0.05)
    if scenario.startswith("fail-"):
        print("TASK [boom] fatal")
        sys.exit(2)
"""


@pytest.fixture
def mod(load_script):
    return load_script("molecule-lanes")


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    molecule = fake_command(bin_dir, "molecule", MOLECULE)
    docker = fake_command(bin_dir, "docker")
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    monkeypatch.setenv("LANES_TEST_DIR", str(tmp_path))
    return molecule, docker


def run(mod, tmp_path, scenarios, lanes):
    out = io.StringIO()
    runner = mod.Lanes(scenarios, lanes, tmp_path / "logs", mod.Printer(out))
    return runner.run(), runner, out.getvalue()


@pytest.mark.parametrize(("scenarios", "expected", "order"), [
    (["a", "b", "c"], {"a": 1, "b": 3, "c": 2}, ["b", "c", "a"]),
    (["known", "new"], {"known": 900}, ["new", "known"]),  # an unknown scenario starts first
    (["x", "y"], {"x": 5, "y": 5}, ["x", "y"]),             # ties keep the given order
    (["a", "a", "b"], {}, ["a", "b"]),                      # named twice, run once
    ([], {}, []),
])
def test_the_queue_is_longest_expected_first(mod, scenarios, expected, order):
    assert mod.queue_order(scenarios, expected) == order


def test_the_known_scenarios_have_an_expected_duration(mod):
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    scenarios = {p.parent.name for p in (root / "molecule").glob("*/molecule.yml")}
    assert scenarios <= set(mod.EXPECTED_SECONDS), "add the new scenario's measured time to EXPECTED_SECONDS"


def test_each_scenario_cleans_before_and_after_and_only_the_test_must_pass(mod):
    steps, remove = mod.scenario_commands("deploy")
    assert steps == [
        (["molecule", "destroy", "-s", "deploy"], False),
        (["docker", "volume", "rm", "-f", "credinet-molecule-deploy-prod-docker", "credinet-molecule-deploy-dev-docker"],
         False),
        (["molecule", "test", "-s", "deploy"], True),
    ]
    assert remove == steps[1][0]


def test_two_lanes_run_two_scenarios_side_by_side(mod, tmp_path, fake_tools):
    ok, runner, out = run(mod, tmp_path, ["slow-other", "other"], lanes=2)
    assert ok, out
    assert {o.scenario for o in runner.outcomes} == {"slow-other", "other"}
    assert {o.lane for o in runner.outcomes} == {1, 2}
    assert "[slow-other] running slow-other" in out
    assert "==> scenario other passed in" in out


def test_one_lane_runs_them_one_after_the_other(mod, tmp_path, fake_tools, monkeypatch):
    monkeypatch.setenv("LANES_TEST_WAIT", "1")
    # slow-other waits for `other`, which a single lane only starts after it: the wait fails.
    ok, runner, out = run(mod, tmp_path, ["slow-other", "other"], lanes=1)
    assert not ok
    assert [o.scenario for o in runner.outcomes] == ["slow-other"]  # nothing starts after a failure
    assert "never saw started-other" in out


def test_a_failure_starts_nothing_more_and_volumes_are_still_removed(mod, tmp_path, fake_tools):
    molecule, docker = fake_tools
    ok, runner, out = run(mod, tmp_path, ["fail-one", "two"], lanes=1)
    assert not ok
    assert [(o.scenario, o.passed) for o in runner.outcomes] == [("fail-one", False)]
    assert ["test", "-s", "two"] not in molecule.calls()
    removals = [c for c in docker.calls() if c[:2] == ["volume", "rm"]]
    assert len(removals) == 2, "before and after the failed scenario"
    log = (tmp_path / "logs" / "fail-one.log").read_text()
    assert "TASK [boom] fatal" in log and "$ molecule test -s fail-one" in log
    assert runner.outcomes[0].tail[-1] == "TASK [boom] fatal\n"


def test_cleanup_output_goes_to_the_log_only(mod, tmp_path, fake_tools):
    ok, _, out = run(mod, tmp_path, ["quiet"], lanes=3)
    assert ok
    assert "$ molecule destroy" not in out
    assert "$ molecule destroy -s quiet" in (tmp_path / "logs" / "quiet.log").read_text()


def test_main_prints_the_failed_tail_the_table_and_what_did_not_run(mod, tmp_path, fake_tools, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = mod.main(["--lanes", "1", "fail-x", "y"])
    out = capsys.readouterr().out
    assert code == 1
    assert "==> last lines of scenario fail-x" in out
    assert out.count("TASK [boom] fatal") == 2  # streamed, then repeated in the tail
    assert "fail-x        1" in out and "FAILED" in out
    assert "==> not run after the failure: y" in out


def test_lanes_below_one_are_refused(mod):
    with pytest.raises(SystemExit):
        mod.main(["--lanes", "0", "a"])


def test_the_makefile_runs_the_scenarios_through_the_lanes():
    from pathlib import Path
    makefile = (Path(__file__).resolve().parents[3] / "Makefile").read_text()
    assert "scripts/molecule-lanes.py --lanes $(MOLECULE_LANES) $(SCENARIOS)" in makefile


def test_a_lane_that_cannot_start_a_command_reports_the_scenario_failed(mod, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    monkeypatch.chdir(tmp_path)
    assert mod.main(["--lanes", "2", "alpha", "beta"]) == 1
    out = capsys.readouterr().out
    assert "==> scenario" in out and "FAILED" in out and "FileNotFoundError" in out


def test_terminate_ends_the_running_step_and_starts_no_other(mod, tmp_path, fake_tools, monkeypatch):
    import threading
    import time
    monkeypatch.setenv("LANES_TEST_WAIT", "30")
    molecule, _ = fake_tools
    runner = mod.Lanes(["slow-never", "after"], 1, tmp_path / "logs", mod.Printer(io.StringIO()))
    thread = threading.Thread(target=runner.run)
    start = time.monotonic()
    thread.start()
    while not (tmp_path / "started-slow-never").exists() and time.monotonic() - start < 20:
        time.sleep(0.05)
    runner.terminate()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - start < 20, "the waiting scenario was killed, not waited for"
    assert [(o.scenario, o.passed) for o in runner.outcomes] == [("slow-never", False)]
    assert ["test", "-s", "after"] not in molecule.calls()
    # Its hosts do not outlive the run: destroyed after the kill, engine volumes removed.
    calls = molecule.calls()
    assert calls.index(["destroy", "-s", "slow-never"], calls.index(["test", "-s", "slow-never"])) > 0


class FakeClock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_each_action_is_timed_from_the_previous_one(mod):
    phases = []
    clock = mod.PhaseClock(phases, clock=FakeClock(100.0, 112.4, 112.4, 300.6))
    clock.line("INFO     [deploy > create] Executed: Successful\n")
    clock.line("TASK [Gathering Facts] *****\n")  # no clock read for other lines
    clock.line("WARNING  [deploy > prepare] Executed: Missing playbook (Remove from test_sequence to suppress)\n")
    # As Molecule prints a failure, colours off or not.
    clock.line("ERROR    [deploy > converge] \x1b[31mExecuted: Failed\x1b[0m\n")
    assert phases == [("create", 12), ("prepare", 0), ("converge", 188)]


@pytest.mark.parametrize("text", [
    "deploy > verify: Executed: Successful\n",  # the recap at the end, not an action ending
    "[deploy] INFO     [deploy > verify] Executed: Successful\n",  # a line quoted inside other output
    "INFO     [deploy > verify] Executing\n",
    "",
])
def test_other_lines_are_not_an_action_ending(mod, text):
    phases = []
    clock = mod.PhaseClock(phases, clock=FakeClock(0.0))
    clock.line(text)
    assert phases == []


@pytest.mark.parametrize(("phases", "text"), [
    ([], ""),
    ([("destroy", 5), ("syntax", 2), ("create", 40), ("converge", 200), ("verify", 300), ("destroy", 9)],
     "destroy 14 create 40 converge 200 verify 300"),
    ([("dependency", 1), ("cleanup", 0), ("idempotence", 55)], "idempotence 55"),
])
def test_phase_text_sums_each_action_and_leaves_out_the_bookkeeping(mod, phases, text):
    assert mod.phase_text(phases) == text


def test_the_summary_says_where_each_scenarios_time_went(mod, tmp_path, fake_tools):
    ok, runner, out = run(mod, tmp_path, ["alpha"], lanes=1)
    assert ok, out
    assert [action for action, _ in runner.outcomes[0].phases] == ["create"], "cleanup steps are not timed"
    table = mod.summary(runner.outcomes)
    assert "seconds per action" in table.splitlines()[0]
    assert table.splitlines()[1].split()[:4] == ["alpha", "1", str(runner.outcomes[0].seconds), "passed"]
    assert table.splitlines()[1].endswith("create 0")
