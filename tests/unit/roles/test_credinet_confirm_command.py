"""roles/security/templates/usr/local/sbin/credinet-confirm.j2, rendered with the role's paths moved
into a temporary folder and run with fake systemctl/systemd-run/nft/logger: a full disk never
leaves an unconfirmed SSH change in force without its revert, and a candidate rewritten by another
run is never put in force."""
import hashlib
import os
import shlex
import subprocess
from pathlib import Path

import jinja2
import pytest
from conftest import ROOT, fake_command

TEMPLATE = ROOT / "roles/security/templates/usr/local/sbin/credinet-confirm.j2"
# mktemp on a full filesystem: creating any file in FULL_DIRS fails as ENOSPC would.
MKTEMP = """
import subprocess
full = [d for d in os.environ.get("FULL_DIRS", "").split(":") if d]
if any(args[-1].startswith(d + "/") for d in full):
    print("mktemp: failed to create file via template '%s': No space left on device" % args[-1], file=sys.stderr)
    sys.exit(1)
sys.exit(subprocess.run(["/usr/bin/mktemp", *args]).returncode)
"""
CONFIRMED = "# confirmed settings\nPasswordAuthentication no\n"
CANDIDATE = "# new settings\nPasswordAuthentication no\nMaxAuthTries 2\n"


class Host:
    """The rendered tool and its files under tmp_path."""

    def __init__(self, tmp_path):
        self.root = tmp_path
        self.dropin_dir = tmp_path / "etc/ssh/sshd_config.d"
        self.dropin = self.dropin_dir / "10-credinet.conf"
        self.confirmed = tmp_path / "var/lib/credinet/ssh/confirmed.conf"
        self.state = tmp_path / "var/lib/credinet/confirm"
        for folder in (self.dropin_dir, self.confirmed.parent, self.state.parent):
            folder.mkdir(parents=True, exist_ok=True)
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        env.filters["quote"] = lambda value: shlex.quote(str(value))
        self.tool = tmp_path / "credinet-confirm"
        self.tool.write_text(env.from_string(TEMPLATE.read_text()).render(
            ansible_managed="test", _security_sshd_dropin=str(self.dropin), _security_ssh_confirmed=str(self.confirmed),
            _security_firewall_file=str(tmp_path / "etc/credinet/firewall.nft"), _security_confirm_state=str(self.state)))
        self.tool.chmod(0o755)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        self.systemctl = fake_command(bin_dir, "systemctl")
        self.systemd_run = fake_command(bin_dir, "systemd-run", "sys.exit(1 if os.environ.get('FAIL_SYSTEMD_RUN') else 0)")
        fake_command(bin_dir, "logger")
        self.nft = fake_command(bin_dir, "nft", "sys.exit(1 if os.environ.get('NFT_REJECT') and '-c' in args else 0)")
        fake_command(bin_dir, "mktemp", MKTEMP)
        self.path = "%s:/usr/bin:/bin" % bin_dir
        self.full = []
        self.env = {}

    def run(self, *args, kind="ssh"):
        env = {**os.environ, **self.env, "PATH": self.path, "FULL_DIRS": ":".join(str(d) for d in self.full)}
        return subprocess.run([str(self.tool), kind, *args], capture_output=True, text=True, env=env, timeout=30)

    def candidate(self, text=CANDIDATE):
        path = self.root / "candidate.conf"
        path.write_text(text)
        return path, hashlib.sha256(text.encode()).hexdigest()

    def armed(self):
        return self.state / "ssh/armed"


@pytest.fixture
def host(tmp_path):
    running = Host(tmp_path)
    running.confirmed.write_text(CONFIRMED)
    running.dropin.write_text(CONFIRMED)
    return running


def test_apply_puts_the_candidate_in_force_with_the_revert_armed(host):
    path, sha = host.candidate()
    result = host.run("apply", str(path), "120", sha)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == sha
    assert host.dropin.read_text() == CANDIDATE and host.armed().read_text() == CANDIDATE
    assert host.systemd_run.calls()[-1][:3] == ["--quiet", "--unit=credinet-ssh-revert", "--on-active=120s"]


def test_a_candidate_rewritten_since_this_run_rendered_it_changes_nothing(host):
    path, _ = host.candidate()
    _, other_sha = host.candidate("# what this run rendered\n")
    path.write_text(CANDIDATE)  # another run rewrote it meanwhile
    result = host.run("apply", str(path), "120", other_sha)
    assert result.returncode == 4
    assert "nothing was changed" in result.stderr
    assert host.dropin.read_text() == CONFIRMED and not host.armed().exists()
    assert host.systemd_run.calls() == [] and host.systemctl.calls() == [], "no timer touched, no reload"
    assert not list(host.state.glob("ssh/armed*")), "no copy left behind"


def test_the_revert_works_on_a_full_disk(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    host.full = [host.dropin_dir, host.confirmed.parent, host.state]
    result = host.run("revert")
    assert result.returncode == 0, result.stderr
    assert host.dropin.read_text() == CONFIRMED, "the confirmed settings are back although nothing can be written"
    assert not host.armed().exists()
    assert ["reload", "ssh"] in host.systemctl.calls()
    assert sorted(p.name for p in host.dropin_dir.iterdir()) == ["10-credinet.conf"], "sshd reads *.conf only"


def test_the_first_change_reverts_to_no_drop_in_on_a_full_disk(tmp_path):
    host = Host(tmp_path)  # no confirmed settings yet
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    host.full = [host.dropin_dir]
    assert host.run("revert").returncode == 0
    assert not host.dropin.exists()


def test_an_unconfirmed_change_never_survives_a_reboot_on_a_full_disk(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    host.full = [host.dropin_dir, host.confirmed.parent, host.state]
    assert host.run("boot").returncode == 0
    assert host.dropin.read_text() == CONFIRMED


def test_a_confirm_that_cannot_write_leaves_the_revert_armed(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    host.full = [host.confirmed.parent]
    before = len(host.systemctl.calls())
    result = host.run("confirm", sha)
    assert result.returncode != 0
    assert ["stop", "credinet-ssh-revert.timer"] not in host.systemctl.calls()[before:], "the timer still reverts it"
    assert host.armed().exists() and host.confirmed.read_text() == CONFIRMED
    host.full = []
    assert host.run("revert").returncode == 0
    assert host.dropin.read_text() == CONFIRMED


def test_a_confirm_keeps_the_change_and_drops_the_staged_revert(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    result = host.run("confirm", sha)
    assert result.returncode == 0, result.stderr
    assert host.confirmed.read_text() == CANDIDATE and not host.armed().exists()
    assert host.systemctl.calls()[-1] == ["stop", "credinet-ssh-revert.timer"]
    assert sorted(p.name for p in host.dropin_dir.iterdir()) == ["10-credinet.conf"]


def test_a_second_apply_in_the_window_still_reverts_to_the_confirmed_settings(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    path2, sha2 = host.candidate("# second, also unconfirmed\n")
    assert host.run("apply", str(path2), "120", sha2).returncode == 0
    host.full = [host.dropin_dir]
    assert host.run("revert").returncode == 0
    assert host.dropin.read_text() == CONFIRMED


def test_without_a_sha_apply_works_as_before(host):
    path, sha = host.candidate()
    result = host.run("apply", str(path), "60")
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == sha
    assert Path(host.dropin).read_text() == CANDIDATE


@pytest.mark.parametrize("action", ["revert", "boot"])
def test_a_confirm_cut_short_after_writing_never_brings_older_settings_back(host, action):
    """Killed (or the power lost) after the confirmed copy was written, before the staged revert
    was removed: the staged copy is older than what is now confirmed."""
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    host.confirmed.write_text(CANDIDATE)  # what `confirm` wrote before it was cut short
    result = host.run(action)
    assert result.returncode == 0, result.stderr
    assert host.dropin.read_text() == CANDIDATE, "the last confirmed settings, not the ones before"
    assert sorted(p.name for p in host.dropin_dir.iterdir()) == ["10-credinet.conf"], "no stale staged copy"


def test_a_revert_timer_that_cannot_be_armed_puts_the_confirmed_settings_back(host):
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0  # pending, its timer armed
    path2, sha2 = host.candidate("# second change\n")
    host.env = {"FAIL_SYSTEMD_RUN": "1"}  # the first change's timer is stopped, no new one
    result = host.run("apply", str(path2), "120", sha2)
    assert result.returncode == 1 and "cannot arm the ssh revert timer" in result.stderr
    assert host.dropin.read_text() == CONFIRMED and not host.armed().exists()


def test_a_revert_after_the_confirm_changes_nothing(host):
    """The timer fired while the confirm held the lock: nothing is pending any more."""
    path, sha = host.candidate()
    assert host.run("apply", str(path), "120", sha).returncode == 0
    assert host.run("confirm", sha).returncode == 0
    before = len(host.systemctl.calls())
    result = host.run("revert")
    assert result.returncode == 0 and "nothing pending" in result.stdout
    assert host.systemctl.calls()[before:] == [], "no reload"
    assert host.dropin.read_text() == CANDIDATE


def test_a_firewall_rule_set_nft_rejects_changes_nothing(host):
    """nft checks the private copy that would be put in force; rejected, nothing is armed."""
    path, sha = host.candidate("table inet credinet { }\n")
    host.env = {"NFT_REJECT": "1"}
    result = host.run("apply", str(path), "120", sha, kind="firewall")
    assert result.returncode == 1
    assert not list(host.state.glob("firewall/armed*")), "no pending copy left"
    assert host.systemd_run.calls() == [] and ["-f", str(host.state / "firewall/armed")] not in host.nft.calls()
    checked = [c for c in host.nft.calls() if c[0] == "-c"]
    assert checked == [["-c", "-f", str(host.state / "firewall/armed.new")]], "the copy, not the candidate path"
