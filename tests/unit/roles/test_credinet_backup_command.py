"""Pure parts of the host command roles/backup/files/credinet-backup (the rest runs in Molecule)."""
import gzip
import importlib.machinery
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_loader = importlib.machinery.SourceFileLoader("credinet_backup_cmd", str(ROOT / "roles/backup/files/credinet-backup"))
_spec = importlib.util.spec_from_loader("credinet_backup_cmd", _loader)
cmd = importlib.util.module_from_spec(_spec)
_loader.exec_module(cmd)

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
    assert cmd.toc_tables(TOC) == {"public.users", "public.loans", "public.payments", 'audit."Events"'}


def test_toc_tables_ignores_comments_and_empty_listing():
    assert cmd.toc_tables("; TABLE DATA public users x\n") == set()
    assert cmd.toc_tables("") == set()


def test_compare_stats_names_every_difference():
    expected = {"public.users": {"rows": 3, "checksum": "1"}, "public.loans": {"rows": 2, "checksum": "9"}}
    assert cmd.compare_stats(expected, expected) == []
    diff = cmd.compare_stats(expected, {"public.users": {"rows": 3, "checksum": "2"}})
    assert len(diff) == 2 and diff[0].startswith("public.users: backup") and "restored None" in diff[1]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_message_exists_in_both_languages(lang):
    assert set(cmd.MESSAGES[lang]) == set(cmd.MESSAGES["es"])
    text = cmd.message({"lang": lang, "env": "prod"}, "backup_failed", error="disco lleno")
    assert "prod" in text and "disco lleno" in text


def test_unknown_language_falls_back_to_spanish():
    assert cmd.message({"lang": "fr"}, "backup_failed", error="x").startswith("FALLÓ")


@pytest.fixture
def payload(tmp_path):
    return b"COPY payments FROM stdin;\n" + b"1\t2\t3\n" * 50000


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd not installed")
def test_decompress_into_accepts_an_early_stopping_reader_only_when_told(tmp_path, payload):
    path = tmp_path / "x.dump.zst"
    subprocess.run(["zstd", "-q", "-o", str(path)], input=payload, check=True)
    ok, out, _ = cmd.decompress_into(str(path), ["head", "-c", "10"], reads_all=False)
    assert ok and out == payload[:10]
    ok, _, err = cmd.decompress_into(str(path), ["head", "-c", "10"], reads_all=True)
    assert not ok and "decompression failed" in err


def test_decompress_into_reports_a_truncated_gzip(tmp_path, payload):
    path = tmp_path / "old.sql.gz"
    path.write_bytes(gzip.compress(payload)[:-200])
    ok, _, err = cmd.decompress_into(str(path), ["sh", "-c", "exec cat >/dev/null"])
    assert not ok and "decompression failed" in err


def test_stream_to_file_hashes_what_it_writes_and_reports_producer_failure(tmp_path):
    dest = tmp_path / "out.gz"
    sha, size = cmd.stream_to_file(["printf", "hola"], ["gzip", "-c"], str(dest))
    assert size == dest.stat().st_size and sha == cmd.sha256_of(str(dest))
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(cmd.BackupError, match="failed \\(exit 3\\)"):
        cmd.stream_to_file(["sh", "-c", "echo partial; exit 3"], ["gzip", "-c"], str(tmp_path / "bad.gz"))
