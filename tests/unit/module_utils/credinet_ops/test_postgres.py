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


def test_a_coalesced_producer_writes_the_same_bytes(tmp_path):
    plain, coalesced = tmp_path / "plain.gz", tmp_path / "coalesced.gz"
    pg.stream_to_file(["sh", "-c", "echo $0 \"$1\"", "it's", "a \"name\"; $(x)"], ["cat"], str(plain))
    pg.stream_to_file(pg.coalesced(["sh", "-c", "echo $0 \"$1\"", "it's", "a \"name\"; $(x)"]), ["cat"], str(coalesced))
    assert coalesced.read_bytes() == plain.read_bytes() == b"it's a \"name\"; $(x)\n"


def test_a_coalesced_producer_comes_in_large_blocks(tmp_path):
    # 300 small writes arrive as one read: what the relay of `docker exec` needs.
    dest = tmp_path / "out"
    reads = tmp_path / "reads"
    producer = pg.coalesced(["sh", "-c", "for i in $(seq 300); do printf '%0100d' $i; sleep 0.001; done"])
    counter = ["python3", "-c", "import os, sys\nn = 0\nwhile True:\n    b = os.read(0, 1 << 20)\n    if not b: break\n"
               "    n += 1; sys.stdout.buffer.write(b)\nopen(%r, 'w').write(str(n))" % str(reads)]
    _, size = pg.stream_to_file(producer, counter, str(dest))
    assert size == 30000 and reads.read_text() == "1"


@pytest.mark.parametrize("fake_dd", [False, True])
def test_a_coalesced_producer_keeps_its_exit_status_and_error_text(tmp_path, monkeypatch, fake_dd):
    if fake_dd:  # an image whose dd cannot fill blocks: the tool runs directly
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "dd").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "dd").chmod(0o755)
        monkeypatch.setenv("PATH", "%s:/usr/bin:/bin" % bin_dir)
    with pytest.raises(job.JobError) as failed:
        pg.stream_to_file(pg.coalesced(["sh", "-c", "echo partial; echo 'pg_dump: error: gone' >&2; exit 3"]),
                          ["gzip", "-c"], str(tmp_path / "bad.gz"), label="pg_dump")
    assert str(failed.value) == "pg_dump failed (exit 3): pg_dump: error: gone"
    sha, size = pg.stream_to_file(pg.coalesced(["printf", "hola"]), ["cat"], str(tmp_path / "good"))
    assert (tmp_path / "good").read_bytes() == b"hola" and size == 4


def test_a_coalesced_producer_killed_by_a_signal_fails(tmp_path):
    with pytest.raises(job.JobError, match="failed \\(exit 143\\)"):
        pg.stream_to_file(pg.coalesced(["sh", "-c", "echo partial; kill -TERM $$"]), ["cat"], str(tmp_path / "bad"))


@pytest.mark.parametrize(("stderr", "expected"), [
    ("", ("", 0)),
    ("pg_dump: error: x\ncredinet-exit-status=1\n", ("pg_dump: error: x", 1)),
    ("credinet-exit-status=0\n", ("", 0)),
    # Only a whole marker line counts: the tool's own text cannot fake or hide a status.
    ("say credinet-exit-status=9\n", ("say credinet-exit-status=9", 0)),
    ("credinet-exit-status=x9\n", ("credinet-exit-status=x9", 0)),
    ("credinet-exit-status=\n", ("credinet-exit-status=", 0)),
])
def test_exit_marker(stderr, expected):
    assert pg.exit_marker(stderr) == expected


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
