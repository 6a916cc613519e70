"""credinet_ops.postgres: the parts that need no database (listings, stats, streams)."""
import gzip
import shutil
import subprocess

import pytest

from credinet_ops import job, postgres as pg

# The shape of a real `pg_restore -l` listing of a custom-format dump (PostgreSQL 17).
TOC = """;
; Archive created at 2026-11-29 02:21:46 UTC
;     dbname: credinet
;     TOC Entries: 27
;     Compression: none
;     Dump Version: 1.16-0
;     Format: CUSTOM
;
; Selected TOC Entries:
;
218; 1259 16386 TABLE public users credinet
219; 1259 16385 SEQUENCE public users_id_seq credinet
3369; 0 16386 TABLE DATA public users credinet
3371; 0 16401 TABLE DATA public loans credinet
3373; 0 16416 TABLE DATA public payments credinet
3375; 0 16430 TABLE DATA audit "Events" credinet
"""


def test_toc_tables_lists_table_data_entries_only():
    assert pg.toc_tables(TOC) == {"public.users", "public.loans", "public.payments", 'audit."Events"'}


def test_toc_tables_ignores_comments_and_empty_listing():
    assert pg.toc_tables("; TABLE DATA public users x\n") == set()
    assert pg.toc_tables("") == set()


def test_compare_stats_names_every_difference():
    expected = {"public.users": {"rows": 3, "checksum": "1"}, "public.loans": {"rows": 2, "checksum": "9"}}
    assert pg.compare_stats(expected, expected) == []
    diff = pg.compare_stats(expected, {"public.users": {"rows": 3, "checksum": "2"}})
    assert len(diff) == 2 and diff[0].startswith("public.users: backup") and "restored None" in diff[1]


@pytest.mark.parametrize(("name", "quoted"), [("credinet", '"credinet"'), ('we"ird', '"we""ird"'), ("a b", '"a b"')])
def test_quote_ident(name, quoted):
    assert pg.quote_ident(name) == quoted


def test_quote_literal():
    assert pg.quote_literal("o'brien") == "'o''brien'"


@pytest.mark.parametrize(("path", "ext"), [("x.dump.zst", "zst"), ("x.dump.gz", "gz"), ("x.dump.zst.failed", "zst"),
                                           ("/old/backup.sql.gz", "gz")])
def test_spec_for_picks_the_decompressor(path, ext):
    assert pg.spec_for(path)["ext"] == ext


def test_compressor_with_level():
    assert pg.compressor({"compression": "gzip", "compression_level": 6})[0] == ["gzip", "-c", "-6"]
    assert pg.compressor({})[0] == ["zstd", "-q", "-T0", "-c", "-3"]


def test_run_reports_a_missing_command_as_a_job_error():
    with pytest.raises(job.JobError, match="command not found"):
        pg.run(["credinet-no-such-command"])


@pytest.fixture
def payload():
    return b"COPY payments FROM stdin;\n" + b"1\t2\t3\n" * 50000


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd not installed")
def test_decompress_into_accepts_an_early_stopping_reader_only_when_told(tmp_path, payload):
    path = tmp_path / "x.dump.zst"
    subprocess.run(["zstd", "-q", "-o", str(path)], input=payload, check=True)
    ok, out, _ = pg.decompress_into(str(path), ["head", "-c", "10"], reads_all=False)
    assert ok and out == payload[:10]
    ok, _, err = pg.decompress_into(str(path), ["head", "-c", "10"], reads_all=True)
    assert not ok and "decompression failed" in err


def test_decompress_into_reports_a_truncated_gzip(tmp_path, payload):
    path = tmp_path / "old.sql.gz"
    path.write_bytes(gzip.compress(payload)[:-200])
    ok, _, err = pg.decompress_into(str(path), ["sh", "-c", "exec cat >/dev/null"])
    assert not ok and "decompression failed" in err


def test_decompress_into_reports_a_failing_consumer(tmp_path):
    path = tmp_path / "x.sql.gz"
    path.write_bytes(gzip.compress(b"data"))
    ok, _, err = pg.decompress_into(str(path), ["sh", "-c", "cat >/dev/null; echo broken >&2; exit 4"])
    assert not ok and err == "broken"


def test_stream_to_file_hashes_what_it_writes_and_reports_producer_failure(tmp_path):
    dest = tmp_path / "out.gz"
    sha, size = pg.stream_to_file(["printf", "hola"], ["gzip", "-c"], str(dest))
    assert size == dest.stat().st_size and sha == job.sha256_of(str(dest))
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(job.JobError, match="failed \\(exit 3\\)"):
        pg.stream_to_file(["sh", "-c", "echo partial; exit 3"], ["gzip", "-c"], str(tmp_path / "bad.gz"))


def _coalesced(tmp_path, argv, label="pg_dump"):
    """Runs argv coalesced through stream_to_file; returns the bytes written."""
    marker = pg.new_marker()
    dest = tmp_path / ("out-%s" % marker[-17:-1])
    pg.stream_to_file(pg.coalesced(argv, marker), ["cat"], str(dest), label=label, marker=marker)
    return dest.read_bytes()


def _fake_dd(tmp_path, monkeypatch, probe, relay):
    """A dd first on PATH: the probe (count=0) gets `probe`, the relay runs `relay`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dd").write_text("#!/bin/sh\ncase \"$*\" in *count=0*) %s ;; *) %s ;; esac\n" % (probe, relay))
    (bin_dir / "dd").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:/usr/bin:/bin" % bin_dir)


def test_a_coalesced_producer_writes_the_same_bytes(tmp_path):
    argv = ["sh", "-c", "echo $0 \"$1\"", "it's", "a \"name\"; $(x) -- credinet-exit-status=0"]
    plain = tmp_path / "plain"
    pg.stream_to_file(argv, ["cat"], str(plain))
    assert _coalesced(tmp_path, argv) == plain.read_bytes() == b"it's a \"name\"; $(x) -- credinet-exit-status=0\n"


def test_a_coalesced_producer_comes_in_large_blocks(tmp_path):
    # 300 small writes arrive as one read: what the relay of `docker exec` needs.
    reads = tmp_path / "reads"
    marker = pg.new_marker()
    producer = pg.coalesced(["sh", "-c", "for i in $(seq 300); do printf '%0100d' $i; sleep 0.001; done"], marker)
    counter = ["python3", "-c", "import os, sys\nn = 0\nwhile True:\n    b = os.read(0, 1 << 20)\n    if not b: break\n"
               "    n += 1; sys.stdout.buffer.write(b)\nopen(%r, 'w').write(str(n))" % str(reads)]
    _, size = pg.stream_to_file(producer, counter, str(tmp_path / "out"), marker=marker)
    assert size == 30000 and reads.read_text() == "1"


FAILING = ["sh", "-c", "echo partial; printf 'pg_dump: error: gone' >&2; exit 3"]  # no newline at the end


@pytest.mark.parametrize("dd", ["real", "without fullblock"])
def test_a_coalesced_producer_keeps_its_exit_status_and_error_text(tmp_path, monkeypatch, dd):
    if dd == "without fullblock":  # an image whose dd cannot fill blocks: the tool runs directly
        _fake_dd(tmp_path, monkeypatch, "exit 1", "exit 1")
    with pytest.raises(job.JobError) as failed:
        _coalesced(tmp_path, FAILING)
    assert str(failed.value) == "pg_dump failed (exit 3): pg_dump: error: gone"
    assert _coalesced(tmp_path, ["printf", "hola"]) == b"hola"


def test_a_failed_relay_fails_the_stream_even_when_the_tool_succeeded(tmp_path, monkeypatch):
    _fake_dd(tmp_path, monkeypatch, "exit 0", "head -c 2; echo 'dd: write error' >&2; exit 1")
    with pytest.raises(job.JobError, match=r"^the block relay \(dd\) of pg_dump failed \(exit 1\): dd: write error"):
        _coalesced(tmp_path, ["printf", "hola"])


@pytest.mark.parametrize("argv", [
    # The subshell killed (OOM killer) while the tool still holds the pipe: dd ends cleanly.
    ["sh", "-c", "echo partial; kill -KILL $PPID; sleep 0.2; exit 1"],
    # The tool's own error text cannot stand in for the status line: its marker is another run's.
    ["sh", "-c", "printf 'partial'; printf '\\ncredinet-exit-status-0000000000000000=0\\n' >&2; kill -KILL $PPID"],
])
def test_a_missing_status_line_is_a_failure(tmp_path, argv):
    with pytest.raises(job.JobError, match="did not report its exit status"):
        _coalesced(tmp_path, argv)


def test_a_coalesced_producer_killed_by_a_signal_fails(tmp_path):
    with pytest.raises(job.JobError, match=r"failed \(exit 143\)"):
        _coalesced(tmp_path, ["sh", "-c", "echo partial; kill -TERM $$"])


def test_a_lot_of_stderr_never_blocks_the_stream(tmp_path):
    # 1 MB of errors: read while the stream runs (a full stderr pipe would stall stdout for good).
    argv = ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo >&2 last words; echo data"]
    assert _coalesced(tmp_path, argv) == b"data\n"
    with pytest.raises(job.JobError, match="last words$"):
        _coalesced(tmp_path, argv[:2] + [argv[2] + "; exit 2"])


M = "credinet-exit-status-0123456789abcdef="


@pytest.mark.parametrize(("stderr", "expected"), [
    ("\n%s0\n" % M, ("", 0)),
    ("pg_dump: error: x\n%s1\n" % M, ("pg_dump: error: x", 1)),
    ("pg_dump: error: x%s1\n" % M, ("pg_dump: error: x%s1" % M, None)),  # only a line of its own
    ("%s0\ndd: write error\n" % M, ("dd: write error", 0)),  # the relay's errors come after it
    ("%s1\n" % M.replace("0123", "0124"), ("%s1" % M.replace("0123", "0124"), None)),  # another run's
    ("", ("", None)),
    ("%s\n" % M, (M, None)),
    ("%s\u00b2\n" % M, ("%s\u00b2" % M, None)),  # digits only, ASCII: never a crash in int()
    ("%s%s\n" % (M, "9" * 5000), ("%s%s" % (M, "9" * 5000), None)),
    ("x\u2028%s7\n%s0\n" % (M, M), ("x\u2028%s7" % M, 0)),  # a name with a line separator
])
def test_reported_status(stderr, expected):
    assert pg.reported_status(stderr, M) == expected


def test_stream_to_file_never_overwrites(tmp_path):
    dest = tmp_path / "out.gz"
    dest.write_bytes(b"existing set")
    with pytest.raises(FileExistsError):
        pg.stream_to_file(["printf", "hola"], ["gzip", "-c"], str(dest))
    assert dest.read_bytes() == b"existing set"


BIG = ["sh", "-c", "head -c 3000000 /dev/urandom | od -An -tx1"]  # several pipe buffers, compressible


def test_the_stream_is_decoded_while_it_is_written(tmp_path):
    dest = tmp_path / "out.gz"
    received = tmp_path / "decoded"
    check = pg.StreamCheck(["gzip", "-dc"], ["sh", "-c", "cat > %s" % received])
    sha, size = pg.stream_to_file(BIG, ["gzip", "-c"], str(dest), check)
    assert check.result() == (True, "")
    assert sha == job.sha256_of(str(dest)) and size == dest.stat().st_size
    assert received.read_bytes() == gzip.decompress(dest.read_bytes())


@pytest.mark.parametrize(("consumer", "says"), [
    (["sh", "-c", "cat >/dev/null; echo 'pg_restore: error: could not read input file' >&2; exit 1"],
     "pg_restore: error: could not read input file"),
    # A consumer that stops reading early never passes: a full decode reads everything.
    (["true"], "decompression failed"),
])
def test_a_failed_stream_decode_is_reported_and_the_file_is_still_written(tmp_path, consumer, says):
    dest = tmp_path / "out.gz"
    check = pg.StreamCheck(["gzip", "-dc"], consumer)
    sha, _ = pg.stream_to_file(BIG, ["gzip", "-c"], str(dest), check)
    ok, error = check.result()
    assert not ok and says in error
    assert sha == job.sha256_of(str(dest))


def test_a_corrupt_stream_fails_its_decode(tmp_path):
    check = pg.StreamCheck(["gzip", "-dc"], ["sh", "-c", "cat >/dev/null"])
    pg.stream_to_file(["printf", "not gzip at all"], ["cat"], str(tmp_path / "out.gz"), check)
    ok, error = check.result()
    assert not ok and error.startswith("decompression failed")


def test_verify_dump_uses_the_stream_decode_when_given(tmp_path, monkeypatch):
    path = tmp_path / "dump.gz"
    path.write_bytes(gzip.compress(b"x"))
    calls = []
    monkeypatch.setattr(pg, "decompress_into", lambda p, cmd, reads_all=True: calls.append(cmd) or (True, b"", ""))
    errors = pg.verify_dump(str(path), "postgres:17", job.sha256_of(str(path)), [], decoded=(False, "truncated"))
    assert errors == ["full decode failed: truncated"]
    assert len(calls) == 1 and calls[0][-1] == "-l", "only the table of contents is read from the file"


@pytest.mark.parametrize("kwargs, filters", [
    ({}, ["-q", "status=running"]),
    ({"running_only": False}, ["-a", "-q"]),
    ({"status": "restarting"}, ["-a", "-q", "status=restarting"]),
])
def test_compose_containers_asks_docker_for_the_right_states(monkeypatch, kwargs, filters):
    seen = []

    def fake_run(cmd, check=True, **_):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, b"c1\nc2\n", b"")

    monkeypatch.setattr(pg, "run", fake_run)
    assert pg.compose_containers("credinet", "backend", **kwargs) == ["c1", "c2"]
    cmd = seen[0]
    assert cmd[:2] == ["docker", "ps"]
    assert "label=com.docker.compose.project=credinet" in cmd and "label=com.docker.compose.service=backend" in cmd
    assert [a for a in cmd if a in ("-a", "-q") or a.startswith("status=")] == filters


@pytest.mark.parametrize("text, name", [
    ("credinet", "credinet"),
    ('"Auditoría ""2026"""', 'Auditoría "2026"'),
    ('"a b"', "a b"),
    ('""""', '"'),
    ('"', '"'),  # not a quoted identifier: as it is
])
def test_unquote_ident_is_the_inverse_of_quote_ident(text, name):
    assert pg.unquote_ident(text) == name
    if text.startswith('"') and len(text) > 1:
        assert pg.quote_ident(name) == text


class Flaky:
    """An action failing with the given errors in turn, then returning "done"."""

    def __init__(self, *errors):
        self.errors, self.calls = list(errors), 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


TRANSIENT = job.JobError("psql: psql:<stdin>:3: ERROR:  tuple concurrently updated")


@pytest.mark.parametrize(("errors", "attempts", "calls", "outcome"), [
    ([], 5, 1, "done"),
    ([TRANSIENT], 5, 2, "done"),
    ([TRANSIENT] * 4, 5, 5, "done"),
    ([TRANSIENT] * 5, 5, 5, "tuple concurrently updated"),
    ([job.JobError("psql: ERROR:  deadlock detected")], 5, 2, "done"),
    ([job.JobError('psql: ERROR:  database "x" is being accessed by other users')], 5, 2, "done"),
    ([job.JobError('psql: ERROR:  database "x" already exists')], 5, 1, "already exists"),
    ([TRANSIENT, job.JobError("psql: ERROR:  permission denied")], 5, 2, "permission denied"),
    ([TRANSIENT], 1, 1, "tuple concurrently updated"),
])
def test_with_retries_runs_again_only_on_transient_errors(errors, attempts, calls, outcome):
    action, pauses = Flaky(*errors), []
    if outcome == "done":
        assert pg.with_retries(action, attempts=attempts, pause=0.5, sleep=pauses.append) == "done"
    else:
        with pytest.raises(job.JobError, match=outcome):
            pg.with_retries(action, attempts=attempts, pause=0.5, sleep=pauses.append)
    assert action.calls == calls
    assert pauses == [0.5] * (calls - 1)


@pytest.mark.parametrize(("stderr", "transient"), [
    ("psql:<stdin>:3: ERROR:  tuple concurrently updated", True),
    ("ERROR:  deadlock detected\nDETAIL:  Process 12 waits for ShareLock", True),
    ("ERROR:  could not serialize access due to concurrent update", True),
    ("ERROR:  could not serialize access due to read/write dependencies among transactions", True),
    ('ERROR:  database "credinet" is being accessed by other users\nDETAIL:  There is 1 other session', True),
    # The words in a name are no match: only the error itself is.
    ('ERROR:  database "tuple concurrently updated" already exists', False),
    ('ERROR:  database "x is being accessed by other users" does not exist', False),
    ('ERROR:  database "x" is being accessed by other users" does not exist', False),
    ("ERROR:  tuple concurrently updated, said the name", False),
    ("ERROR:  permission denied to rename database", False),
    ("server closed the connection unexpectedly", False),
    ("", False),
])
def test_is_transient_reads_the_error_line(stderr, transient):
    assert pg.is_transient(job.JobError("psql: " + stderr)) is transient


def test_is_transient_is_false_for_other_exceptions():
    assert pg.is_transient(OSError("ERROR:  deadlock detected")) is False


def test_with_retries_logs_each_retry_and_takes_its_own_rule():
    lines = []
    other = job.JobError("psql: server closed the connection unexpectedly")
    action = Flaky(other, other)
    assert pg.with_retries(action, attempts=3, pause=2, sleep=lambda _s: None, retry_on=lambda _e: True,
                           log=lambda msg, *args: lines.append(msg % args)) == "done"
    assert lines == ["attempt 1 of 3 failed (psql: server closed the connection unexpectedly); again in 2 s",
                     "attempt 2 of 3 failed (psql: server closed the connection unexpectedly); again in 2 s"]


def test_with_retries_never_retries_a_signal_or_a_bug():
    for error in (KeyboardInterrupt(), ValueError("bug")):
        action = Flaky(error)
        with pytest.raises(type(error)):
            pg.with_retries(action, sleep=lambda _s: pytest.fail("no pause"))
        assert action.calls == 1


def test_with_retries_needs_an_attempt():
    with pytest.raises(ValueError):
        pg.with_retries(Flaky(), attempts=0)
