"""The environments as data: resolved by ansible-inventory without any vault password."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# Read-only ansible-inventory calls only: the real inventories are data here, never a target
# (no ansible/ansible-playbook run against them, no connection to their addresses).
READ_ONLY = {"--list", "--graph", "--vars"}


def inventory(path, *args):
    assert args and set(args) <= READ_ONLY, "only read-only inventory queries: %r" % (args,)
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(path), *args],
        capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(
    ("env", "host", "address", "branch"),
    [("prod", "credicuenta3", "10.5.26.141", "main"), ("dev", "credinet-dev", "192.168.98.98", "develop")],
)
def test_environment_hosts(env, host, address, branch):
    data = inventory(ROOT / "inventories" / env, "--list")
    hv = data["_meta"]["hostvars"][host]
    assert hv["ansible_host"] == address
    assert hv["credinet_env"] == env
    assert hv["credinet_app_branch"] == branch
    # prod deploys main only; dev deploys develop and a developer's own branches (-e app_ref=...).
    allowed = hv["credinet_app_allowed_refs"]
    assert allowed[0] == branch and (allowed == ["main"] if env == "prod" else "feature/*" in allowed)
    assert hv["credinet_timezone"] == "America/Mexico_City"
    assert hv["credinet_backup_dir"] == "/var/backups/credinet"
    assert host in data[env]["hosts"]


def test_sandbox_has_a_prod_and_a_dev_host_with_the_real_rules():
    hv = inventory(ROOT / "inventories/sandbox", "--list")["_meta"]["hostvars"]
    assert (hv["sandbox-prod"]["credinet_env"], hv["sandbox-prod"]["credinet_app_branch"]) == ("prod", "main")
    assert (hv["sandbox-dev"]["credinet_env"], hv["sandbox-dev"]["credinet_app_branch"]) == ("dev", "develop")
    for host in hv.values():
        assert host["ansible_connection"] == "community.docker.docker"


def test_sandbox_never_points_at_the_real_hosts():
    text = json.dumps(inventory(ROOT / "inventories/sandbox", "--list"))
    assert "10.5.26.141" not in text
    assert "192.168.98.98" not in text


def test_inline_vaulted_values_resolve_without_the_password(tmp_path):
    """The documented vault layout (encrypt_string per value) keeps --list working."""
    env_dir = tmp_path / "prod"
    shutil.copytree(ROOT / "inventories/prod", env_dir, symlinks=True)
    (tmp_path / "pw").write_text("throwaway-test-password\n")
    vaulted = subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(tmp_path / "pw"),
         "--name", "vault_postgres_password", "fake-db-password"],
        capture_output=True, text=True, check=True,
    ).stdout
    (env_dir / "group_vars/all/vault.yml").write_text("---\n" + vaulted)
    hv = inventory(env_dir, "--list")["_meta"]["hostvars"]["credicuenta3"]
    assert "fake-db-password" not in json.dumps(hv)
    assert hv["vault_postgres_password"]["__ansible_vault"].startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert hv["credinet_app_branch"] == "main"
