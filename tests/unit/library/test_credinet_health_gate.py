"""The credinet_health_gate module: `gate` with a scripted probe and a fake clock, and the module
in-process against a real HTTP server on the loopback."""
import http.server
import itertools
import socket
import threading

import pytest

from conftest import load_source, run_module

module = load_source("library/credinet_health_gate.py")
gate = module.gate
URL, OTHER = "http://127.0.0.1:8000/health", "http://127.0.0.1:8001/health"


class FakeTime:
    """A monotonic clock that only moves when the gate sleeps (or a probe takes time)."""

    def __init__(self, probe_cost=0.0):
        self.now, self.sleeps, self.probe_cost = 100.0, [], probe_cost

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append((self.now, seconds))
        self.now += seconds


def scripted(fake, answers):
    """A probe answering each URL's statuses in order (its last answer repeats); records the calls."""
    queues = {url: iter(itertools.chain(seq, itertools.repeat(seq[-1]))) for url, seq in answers.items()}
    calls = []

    def probe(url, request_timeout):
        calls.append((url, fake.now, request_timeout))
        fake.now += fake.probe_cost
        status = next(queues[url])
        return status, "HTTP %d" % status if status else "URLError: refused"

    return probe, calls


def run_gate(answers, successes=3, interval=2.0, timeout=60, probe_cost=0.0):
    fake = FakeTime(probe_cost)
    probe, calls = scripted(fake, answers)
    result = gate(list(answers), successes, interval, timeout, 5.0, probe=probe, clock=fake.clock, sleep=fake.sleep)
    return result, calls, fake


@pytest.mark.parametrize("successes", [1, 2, 3, 5])
def test_passes_after_n_consecutive_200s(successes):
    result, calls, fake = run_gate({URL: [200]}, successes=successes)
    assert result[URL] == {"passed": True, "streak": successes, "last": "HTTP 200"}
    assert len(calls) == successes
    assert [s for _, s in fake.sleeps] == [2.0] * (successes - 1)  # no sleep after the last probe


@pytest.mark.parametrize("answers, probes", [
    ([200, 503, 200, 200, 200], 5),
    ([200, 200, 503, 200, 200, 200], 6),
    ([0, 0, 200, 200, 200], 5),
    ([200, 200, 302, 200, 200, 200], 6),  # anything but 200 resets the count
    ([503, 200, 500, 200, 404, 200, 200, 200], 8),
])
def test_any_other_answer_restarts_the_streak(answers, probes):
    result, calls, _ = run_gate({URL: answers}, successes=3)
    assert result[URL]["passed"] is True and result[URL]["streak"] == 3
    assert len(calls) == probes


def test_a_crash_looping_backend_never_passes():
    result, calls, fake = run_gate({URL: [200, 0] * 100}, successes=3, interval=2.0, timeout=30)
    assert result[URL]["passed"] is False
    assert result[URL]["streak"] in (0, 1)
    assert result[URL]["last"] in ("HTTP 200", "URLError: refused")
    assert len(calls) == 16  # t = 0, 2, ..., 30
    assert fake.now - 100.0 == 30.0


def test_the_result_reports_the_streak_and_last_answer_of_a_failing_url():
    result, _, _ = run_gate({URL: [503, 503, 200, 200]}, successes=3, interval=1.0, timeout=3)
    assert result[URL] == {"passed": False, "streak": 2, "last": "HTTP 200"}


@pytest.mark.parametrize("interval, timeout, probe_cost", [(2.0, 60, 0.0), (2.0, 7, 0.0), (3.0, 10, 0.5), (5.0, 4, 0.0),
                                                            (0.5, 3, 0.2), (2.0, 0, 0.0)])
def test_never_sleeps_past_the_deadline(interval, timeout, probe_cost):
    result, calls, fake = run_gate({URL: [503]}, interval=interval, timeout=timeout, probe_cost=probe_cost)
    deadline = 100.0 + timeout
    assert result[URL]["passed"] is False
    assert calls, "probed at least once"
    assert all(start + seconds <= deadline for start, seconds in fake.sleeps)
    # It gives up only when one more interval would cross the deadline.
    assert fake.now + interval > deadline
    assert fake.now <= deadline + probe_cost * 2


def test_a_zero_timeout_probes_once():
    result, calls, fake = run_gate({URL: [200]}, successes=3, timeout=0)
    assert len(calls) == 1 and fake.sleeps == [] and result[URL]["streak"] == 1


def test_passes_as_soon_as_the_streak_is_reached_even_near_the_deadline():
    result, calls, _ = run_gate({URL: [503, 200, 200, 200]}, successes=3, interval=2.0, timeout=6)
    assert result[URL]["passed"] is True and len(calls) == 4


def test_the_request_timeout_reaches_the_probe():
    _, calls, _ = run_gate({URL: [200]}, successes=1)
    assert calls[0][2] == 5.0


def test_each_url_needs_its_own_streak():
    result, calls, _ = run_gate({URL: [200], OTHER: [503, 503, 200, 200, 200]}, successes=3)
    assert result[URL]["passed"] and result[OTHER]["passed"]
    assert result[URL]["streak"] == 3 and result[OTHER]["streak"] == 3
    # A passed URL is not probed again while the other one catches up.
    assert [u for u, _, _ in calls].count(URL) == 3
    assert [u for u, _, _ in calls].count(OTHER) == 5


def test_one_good_url_does_not_carry_a_failing_one():
    result, _, _ = run_gate({URL: [200], OTHER: [200, 503]}, successes=3, timeout=20)
    assert result[URL]["passed"] is True
    assert result[OTHER] == {"passed": False, "streak": 0, "last": "HTTP 503"}


def test_urls_are_probed_in_the_same_round():
    _, calls, _ = run_gate({URL: [200], OTHER: [200]}, successes=2)
    assert [(u, t) for u, t, _ in calls] == [(URL, 100.0), (OTHER, 100.0), (URL, 102.0), (OTHER, 102.0)]


# --- the module against a real server ------------------------------------------------------------

def serve(statuses):
    """An HTTP server on 127.0.0.1 (random port) answering the statuses in turn, round and round."""
    cycle = itertools.cycle(statuses)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            status = next(cycle)
            body = b"ok" if status == 200 else b"down"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, "http://127.0.0.1:%d/health" % server.server_address[1]


@pytest.fixture
def server():
    running = []

    def start(statuses):
        srv, url = serve(statuses)
        running.append(srv)
        return url

    yield start
    for srv in running:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_module_passes_a_healthy_url(server, capsys):
    url = server([200])
    code, out = run_module(module, {"urls": [url], "successes": 3, "interval": 0.01, "timeout": 5}, capsys)
    assert code == 0 and out["changed"] is False
    assert out["results"][url] == {"passed": True, "streak": 3, "last": "HTTP 200"}


def test_module_fails_a_flapping_url_and_names_it(server, capsys):
    good, flapping = server([200]), server([200, 503])
    code, out = run_module(module, {"urls": [good, flapping], "successes": 3, "interval": 0.01, "timeout": 1}, capsys)
    assert code == 1
    assert out["msg"].startswith("health gate failed: ")
    assert flapping in out["msg"] and "of 3 needed" in out["msg"]
    assert good not in out["msg"]
    assert out["results"][flapping]["passed"] is False and out["results"][flapping]["streak"] <= 1
    assert out["results"][good]["passed"] is True


def test_module_fails_an_unreachable_url(server, capsys):
    url = server([200])
    # A port nobody listens on: bound, then closed.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d/health" % sock.getsockname()[1]
    code, out = run_module(module, {"urls": [url, dead], "successes": 1, "interval": 0.01, "timeout": 0}, capsys)
    assert code == 1 and dead in out["msg"] and "URLError" in out["msg"]
    assert out["results"][url]["passed"] is True


def test_module_check_mode_probes_nothing(capsys, monkeypatch):
    monkeypatch.setattr(module, "gate", lambda *a, **k: pytest.fail("probed in check mode"))
    code, out = run_module(module, {"urls": [URL], "_ansible_check_mode": True}, capsys)
    assert code == 0 and out == {"changed": False, "results": {}, "invocation": out["invocation"]}
