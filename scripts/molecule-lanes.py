#!/usr/bin/env python3
"""Run Molecule scenarios in parallel lanes: `make molecule` (MOLECULE_LANES=2 by default).

Why lanes: a scenario spends most of its time waiting (a module call is mostly the host's Python
starting; deploy tests wait on health gates and rollbacks), so on a 2-core machine two scenarios
side by side take far less than the two one after the other. Scenarios are isolated from each
other: their own hosts, Docker engines (volumes), fixture repositories and fakes.

Each lane takes the next scenario from one queue, longest expected first (a lane that ends with a
short scenario finishes close to the others). Output lines are prefixed with the scenario's name
and also kept whole in LOG_DIR/<scenario>.log. A failure starts no further scenario; the
scenarios already running finish, and the failed one's log tail is printed again at the end.
"""
import argparse
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# Seconds each scenario took in two lanes on a 2-core machine (clean-clone run of 2026-12-03,
# make test 2179 s). Used only to order the queue; a scenario missing here is assumed long, so
# that it starts early.
EXPECTED_SECONDS = {
    "sandbox": 995,
    "deploy": 975,
    "adopt": 535,
    "monitoring": 480,
    "security": 380,
    "backup": 265,
    "offsite": 230,
    "dr": 360,
    "pitr": 520,
}
UNKNOWN_SECONDS = 10_000
TAIL_LINES = 120
# Molecule's line at the end of each action ("INFO     [deploy > converge] Executed: Successful");
# a failed one is "ERROR    [deploy > converge] Executed: Failed" with colour codes even when colours
# are off.
ACTION_DONE = re.compile(r"^(?:INFO|WARNING|ERROR)\s+\[[\w.-]+ > (?P<action>[\w-]+)\]\s+Executed:")
COLOUR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Outcome:
    scenario: str
    lane: int
    seconds: int = 0
    passed: bool = False
    log: Path = None
    tail: list = field(default_factory=list)
    # (action, seconds) in the order Molecule ran them: where a scenario's time goes.
    phases: list = field(default_factory=list)


class PhaseClock:
    """Seconds between Molecule's "Executed" lines: each action's duration (the first one
    counts from the clock's start)."""

    def __init__(self, phases, clock=time.monotonic):
        self._phases = phases
        self._clock = clock
        self._mark = clock()

    def line(self, text):
        match = ACTION_DONE.search(COLOUR.sub("", text))
        if match:
            now = self._clock()
            self._phases.append((match.group("action"), round(now - self._mark)))
            self._mark = now


def queue_order(scenarios, expected=None):
    """The scenarios, longest expected first (unknown ones first of all); ties keep their order."""
    expected = EXPECTED_SECONDS if expected is None else expected
    unique = list(dict.fromkeys(scenarios))
    return sorted(unique, key=lambda s: -expected.get(s, UNKNOWN_SECONDS))


def engine_volumes(scenario):
    """The Docker volumes holding the scenario hosts' engines (.config/molecule/config.yml)."""
    return ["credinet-molecule-%s-%s-docker" % (scenario, host) for host in ("prod", "dev")]


def scenario_commands(scenario):
    """(argv, must_succeed) steps of one scenario, as `make molecule` always ran them: leftovers
    of an interrupted run are removed first, engine volumes both before and after."""
    remove_volumes = ["docker", "volume", "rm", "-f", *engine_volumes(scenario)]
    return [
        (["molecule", "destroy", "-s", scenario], False),
        (remove_volumes, False),
        (["molecule", "test", "-s", scenario], True),
    ], remove_volumes


class Printer:
    """Whole lines from several lanes to one stdout, each prefixed with its scenario."""

    def __init__(self, stream=None):
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def line(self, text):
        with self._lock:
            self._stream.write(text if text.endswith("\n") else text + "\n")
            self._stream.flush()


class Lanes:
    def __init__(self, scenarios, lanes, log_dir, printer):
        self._queue = queue.Queue()
        for scenario in queue_order(scenarios):
            self._queue.put(scenario)
        self.count = max(1, min(lanes, len(self._queue.queue)))
        self._log_dir = Path(log_dir)
        self._printer = printer
        self.expected = self._queue.qsize()
        self._stop = threading.Event()  # a failure: no further scenario
        self._terminated = threading.Event()  # SIGTERM/Ctrl-C: no further step either
        self._threads = []
        self._children = set()
        self._children_lock = threading.Lock()
        self.outcomes = []

    def run(self):
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._threads = [threading.Thread(target=self._lane, args=(n + 1,), daemon=True) for n in range(self.count)]
        for thread in self._threads:
            thread.start()
        self.wait()
        return bool(self.outcomes) and all(o.passed for o in self.outcomes) and len(self.outcomes) == self.expected

    def wait(self):
        for thread in self._threads:
            while thread.is_alive():
                thread.join(0.5)

    def terminate(self):
        """Stop scheduling and end every running command's process group (SIGKILL after 10 s)."""
        self._stop.set()
        self._terminated.set()
        with self._children_lock:
            children = list(self._children)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)

    def _lane(self, number):
        while not self._stop.is_set():
            try:
                scenario = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = self._scenario(scenario, number)
            except Exception as exc:  # noqa: BLE001 - a lane that dies must still report its scenario failed
                outcome = Outcome(scenario, number, log=self._log_dir / ("%s.log" % scenario),
                                  tail=["lanes: %s: %s\n" % (type(exc).__name__, exc)])
                self._printer.line("==> scenario %s FAILED: %s: %s" % (scenario, type(exc).__name__, exc))
            self.outcomes.append(outcome)
            if not outcome.passed:
                self._stop.set()

    def _scenario(self, scenario, lane):
        outcome = Outcome(scenario, lane, log=self._log_dir / ("%s.log" % scenario))
        self._printer.line("==> molecule test -s %s (lane %d)" % (scenario, lane))
        start = time.monotonic()
        steps, remove_volumes = scenario_commands(scenario)
        with outcome.log.open("w") as log:
            passed = True
            for argv, must_succeed in steps:
                if self._terminated.is_set():  # a failure elsewhere lets this scenario finish; a SIGTERM not
                    passed = False
                    break
                # The cleanup steps' output only goes to the log.
                # Timed from the start of `molecule test` (not of the cleanup before it).
                code = self._command(argv, scenario, log, outcome.tail, shown=must_succeed,
                                     on_line=PhaseClock(outcome.phases).line if must_succeed else None)
                if must_succeed and code != 0:
                    passed = False
                    break
            if self._terminated.is_set():
                # Stopped from outside (SIGTERM, Ctrl-C): the scenario's hosts must not
                # outlive the run. Cleanup is never killed by terminate().
                self._command(["molecule", "destroy", "-s", scenario], scenario, log, outcome.tail, False, cleanup=True)
            self._command(remove_volumes, scenario, log, outcome.tail, False, cleanup=True)
        outcome.seconds = round(time.monotonic() - start)
        outcome.passed = passed
        verdict = "passed" if outcome.passed else "FAILED"
        self._printer.line("==> scenario %s %s in %ds" % (scenario, verdict, outcome.seconds))
        return outcome

    def _command(self, argv, scenario, log, tail, shown, cleanup=False, on_line=None):
        log.write("$ %s\n" % " ".join(argv))
        log.flush()
        with self._children_lock:
            child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace", start_new_session=True)
            if not cleanup:
                self._children.add(child)
        if self._terminated.is_set() and not cleanup:  # terminate() ran while this child was starting
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        try:
            for line in child.stdout:
                log.write(line)
                tail.append(line)
                del tail[:-TAIL_LINES]
                if on_line:
                    on_line(line)
                if shown:
                    self._printer.line("[%s] %s" % (scenario, line.rstrip("\n")))
            return child.wait()
        finally:
            with self._children_lock:
                self._children.discard(child)


def phase_text(phases):
    """"create 41 converge 180 ...": each Molecule action once, its seconds summed (destroy runs
    twice), the repeated syntax/dependency bookkeeping left out."""
    totals = {}
    for action, seconds in phases:
        if action not in ("dependency", "cleanup", "syntax"):
            totals[action] = totals.get(action, 0) + seconds
    return " ".join("%s %d" % item for item in totals.items())


def summary(outcomes):
    """The end-of-run table: one row per scenario, in the order they finished, with where its
    time went (Molecule's actions)."""
    rows = ["%-10s %4s %7s  %-6s  %s" % ("scenario", "lane", "seconds", "result", "seconds per action")]
    for o in outcomes:
        rows.append("%-10s %4d %7d  %-6s  %s" % (o.scenario, o.lane, o.seconds, "passed" if o.passed else "FAILED",
                                                 phase_text(o.phases)))
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="+")
    parser.add_argument("--lanes", type=int, default=int(os.environ.get("MOLECULE_LANES", "2")))
    parser.add_argument("--log-dir", default=".cache/molecule-logs")
    args = parser.parse_args(argv)
    if args.lanes < 1:
        parser.error("--lanes must be at least 1")

    printer = Printer()
    lanes = Lanes(args.scenarios, args.lanes, args.log_dir, printer)
    signal.signal(signal.SIGTERM, lambda *_: lanes.terminate())
    # Started in the background by a non-interactive shell, SIGINT arrives ignored: Ctrl-C must
    # still stop the lanes (and destroy the running scenarios' hosts).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.monotonic()
    try:
        ok = lanes.run()
    except KeyboardInterrupt:
        lanes.terminate()
        lanes.wait()
        ok = False
    for failed in (o for o in lanes.outcomes if not o.passed):
        printer.line("==> last lines of scenario %s (whole log: %s)" % (failed.scenario, failed.log))
        printer.line("".join(failed.tail).rstrip("\n"))
    printer.line(summary(lanes.outcomes))
    not_run = [s for s in queue_order(args.scenarios) if s not in {o.scenario for o in lanes.outcomes}]
    if not_run:
        printer.line("==> not run after the failure: %s" % ", ".join(not_run))
    printer.line("==> molecule: %d scenario(s) in %d lane(s), %ds" % (
        len(lanes.outcomes), lanes.count, round(time.monotonic() - start)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
