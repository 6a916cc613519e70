"""Repository rules that no single role test can see."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REAL_HOSTS = re.compile(r"\b(10\.5\.26\.141|192\.168\.98\.98)\b")
# Where the real addresses may appear: inventories (data), docs and this test.
ALLOWED = ("inventories/prod/", "inventories/dev/", "docs/", "README.md", "tests/repo/", "tests/inventory/")
SECRET_SHAPES = re.compile(
    r"[0-9]{8,10}:AA[A-Za-z0-9_-]{30,}|discord(app)?\.com/api/webhooks/[0-9]{6,}/[A-Za-z0-9_-]{20,}|BEGIN [A-Z ]*PRIVATE KEY"
)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return [ROOT / f for f in out.split("\0") if f and (ROOT / f).is_file()]


def text_of(path):
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return ""


def test_real_host_addresses_only_in_inventories_and_docs():
    offenders = [
        str(p.relative_to(ROOT)) for p in tracked_files()
        if not str(p.relative_to(ROOT)).startswith(ALLOWED) and REAL_HOSTS.search(text_of(p))
    ]
    assert offenders == []


def test_no_real_looking_secrets_in_git():
    offenders = [str(p.relative_to(ROOT)) for p in tracked_files() if SECRET_SHAPES.search(text_of(p))]
    assert offenders == []


def test_committed_vault_files_are_fake_or_encrypted():
    for path in ROOT.glob("inventories/*/group_vars/all/vault.yml"):
        text = path.read_text()
        if path.parts[-4] == "sandbox":
            assert "FAKE" in text or "fake" in text
        else:
            values = [line for line in text.splitlines() if re.match(r"^vault_\w+:", line)]
            assert all("!vault" in line for line in values), path
