"""Role `offsite`: encrypted, hash-checked copies to an sftp remote; Drive rendering."""
import configparser
import json

import pytest

PROM = "/var/lib/prometheus/node-exporter/credinet_offsite.prom"
# Each environment copies under its own folder (issue #10: environments never mix backups).
REMOTE_DIR = "/srv/offsite/credinet-backups/prod"
DB = "--filter label=com.docker.compose.project=credinet --filter label=com.docker.compose.service=postgres"


@pytest.fixture(scope="module")
def remote(host):
    return host.get_host("ansible://offsite-remote", ansible_inventory=host.backend.ansible_inventory)


def metric(host, name):
    for line in host.file(PROM).content_string.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(name)


def remote_sets(host):
    return json.loads(host.check_output("credinet-offsite list --json"))


def last_notification(host):
    return json.loads(host.file("/var/lib/credinet/notifications.jsonl").content_string.splitlines()[-1])


def payments(host):
    cid = host.check_output("docker ps -q %s" % DB)
    return host.check_output("docker exec %s psql -qAtX -U credinet -d credinet -c 'SELECT count(*) FROM payments'" % cid)


def test_rclone_config_is_secret_and_layers_crypt_over_sftp(host):
    conf_file = host.file("/etc/credinet/rclone.conf")
    assert conf_file.mode == 0o600
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(conf_file.content_string)
    assert conf["sftpremote"]["type"] == "sftp" and conf["sftpremote"]["md5sum_command"] == "md5sum"
    assert conf["offsite"]["type"] == "crypt" and conf["offsite"]["remote"] == "sftpremote:credinet-backups/prod"
    assert conf["offsite"]["password"] != "sandbox-fake-crypt-password"
    assert host.check_output("rclone reveal %s" % conf["offsite"]["password"]) == "sandbox-fake-crypt-password"
    assert "sandbox-fake-crypt" not in conf_file.content_string
    prints = host.file("/etc/credinet/rclone.conf.fingerprints")
    assert prints.mode == 0o600 and "sandbox-fake-crypt" not in prints.content_string
    timer = host.file("/etc/systemd/system/credinet-offsite.timer").content_string
    assert "OnCalendar=*-*-* 02:30:00 America/Mexico_City" in timer.splitlines()
    assert host.service("credinet-offsite.timer").is_enabled
    assert not host.file("/etc/cron.d/credinet-offsite").exists


@pytest.mark.parametrize("mode", ["service_account", "oauth"])
def test_drive_remote_rendering(host, hostname, playbook, scenario_dir, mode):
    playbook(scenario_dir / "drive-config.yml", hostname, "-e", "drive_mode=%s" % mode, check=True)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(host.file("/tmp/drive-%s.conf" % mode).content_string)
    assert conf["gdrive"]["type"] == "drive" and conf["gdrive"]["scope"] == "drive"
    if mode == "service_account":
        assert conf["gdrive"]["team_drive"] == "0AFAKESHAREDDRIVE"
        assert "token" not in conf["gdrive"]
    else:
        assert json.loads(conf["gdrive"]["token"])["access_token"] == "FAKE"
    assert conf["offsite"]["type"] == "crypt" and conf["offsite"]["remote"] == "gdrive:credinet-backups"


def test_service_account_on_my_drive_is_refused_in_preflight(hostname, playbook, scenario_dir):
    result = playbook(scenario_dir / "converge.yml", "all", "-e", "offsite_remote_type=drive",
                      "-e", "offsite_drive_service_account_json={}")
    assert result.rc != 0
    assert "a service account has no quota in a personal My Drive" in result.output
    assert result.recap(hostname)["changed"] == 0


def test_backup_is_copied_encrypted(host, remote):
    result = host.run("credinet-backup run")
    assert result.rc == 0, result.stdout
    assert "post-backup command /usr/local/bin/credinet-offsite run exited 0" in result.stdout
    # The converge took a first backup of the running database (a host taken over): every
    # verified set on the host is copied, three files each.
    local = [s for s in json.loads(host.check_output("credinet-backup list --json")) if s["status"] == "good"]
    sets = remote_sets(host)
    assert [s["status"] for s in sets] == ["good"] * len(local) and len(local) >= 1
    names = remote.check_output("find %s -type f -printf '%%f\\n'" % REMOTE_DIR).split()
    assert len(names) == 3 * len(local)
    assert not [n for n in names if "credinet" in n or n.endswith((".zst", ".json"))], names
    assert remote.run("grep -rl server_version %s" % REMOTE_DIR).rc == 1, "manifests leave the host encrypted"
    assert metric(host, "credinet_offsite_last_exit_status") == 0
    assert metric(host, "credinet_offsite_files_copied") == 3 * len(local)


def test_second_run_copies_nothing(host):
    held = len(remote_sets(host))
    result = host.run("credinet-offsite run")
    assert result.rc == 0
    assert "copied 0 file(s), %d backup set(s) on the remote" % held in result.stdout


def test_local_pruning_never_deletes_offsite_history(host):
    key = remote_sets(host)[0]["key"]
    host.run_expect([0], "rm -f /var/backups/credinet/%s.*" % key)
    assert host.run("credinet-offsite run").rc == 0
    assert key in [s["key"] for s in remote_sets(host)]


def test_remote_down_backup_still_succeeds_and_next_run_catches_up(host, remote):
    held = len(remote_sets(host))
    remote.run_expect([0], "systemctl stop ssh.socket ssh.service")
    try:
        result = host.run("credinet-backup run")
        assert result.rc == 0, "the local backup does not depend on the remote"
        assert "post-backup command /usr/local/bin/credinet-offsite run exited 1" in result.stdout
        assert metric(host, "credinet_offsite_last_exit_status") == 1
        note = last_notification(host)
        assert (note["event"], note["level"]) == ("offsite_failed", "critical")
    finally:
        remote.run_expect([0], "systemctl start ssh.service")
    result = host.run("credinet-offsite run")
    assert result.rc == 0, result.stdout
    assert "copied 3 file(s), %d backup set(s) on the remote" % (held + 1) in result.stdout
    assert metric(host, "credinet_offsite_last_exit_status") == 0


def test_corrupted_remote_copy_is_detected(host, remote):
    # The newest set's dump (rclone keeps modification times): a set still held locally, so
    # the check has a source to compare with.
    victim = remote.check_output("find %s -type f -size +1k -printf '%%T@ %%p\\n' | sort -n | tail -1" % REMOTE_DIR).split()[1]
    size = remote.file(victim).size
    remote.run_expect([0], "printf '\\xff\\xfe\\xfd\\xfc' | dd of=%s bs=1 seek=%d conv=notrunc status=none" % (victim, size // 2))
    assert remote.file(victim).size == size
    result = host.run("credinet-offsite run")
    assert result.rc == 1
    assert "offsite copy does not match the local backups (cryptcheck)" in result.stdout
    remote.run_expect([0], "rm -f %s" % victim)
    assert host.run("credinet-offsite run").rc == 0, "a damaged copy removed is copied again"


def test_disaster_recovery_restores_from_the_remote(host, hostname, playbook, scenario_dir):
    before = payments(host)
    host.run_expect([0], "rm -f /var/backups/credinet/credinet_*")
    result = playbook(scenario_dir.parents[1] / "playbooks" / "restore.yml", hostname,
                      "-e", "restore_from=offsite", "-e", "restore_confirm=%s" % hostname, check=True)
    assert "sha256 verified" in result.output
    assert payments(host) == before
    assert [s for s in json.loads(host.check_output("credinet-backup list --json")) if s["status"] == "good"]


def test_fetch_replaces_a_bit_rotted_local_copy_with_the_verified_one(host):
    """Same size and mtime: rclone would skip the download and the check would blame the
    remote. The fetch downloads beside the backups, verifies, then moves into place."""
    assert host.run("credinet-backup run").rc == 0
    key = [s for s in json.loads(host.check_output("credinet-backup list --json")) if s["status"] == "good"][-1]["key"]
    dump = [f for f in json.loads(host.check_output("credinet-backup list --json")) if f["key"] == key][0]["files"]
    dump = [f for f in dump if ".dump." in f][0]
    good_sha = host.check_output("sha256sum %s" % dump).split()[0]
    host.run_expect([0], f"touch -r {dump} /tmp/mtime && printf '\\xde\\xad' | dd of={dump} bs=1 seek=40 conv=notrunc status=none "
                         f"&& touch -r /tmp/mtime {dump}")
    assert host.check_output("sha256sum %s" % dump).split()[0] != good_sha
    result = host.run("credinet-offsite fetch %s" % key)
    assert result.rc == 0, result.stdout
    assert host.check_output("sha256sum %s" % dump).split()[0] == good_sha
    assert not [n for n in host.file("/var/backups/credinet").listdir() if n.startswith(".fetch-")]


def test_one_lock_setting_moves_the_lock_for_backups_offsite_copies_and_restores(host, hostname, playbook, scenario_dir):
    """runtime_lock_file is the single definition: backups, offsite copies and restores follow it."""
    alt = "/var/lib/credinet/alt.lock"
    quick = ["-e", "runtime_lock_file=%s" % alt, "-e", "backup_lock_wait_seconds=2", "-e", "offsite_lock_wait_seconds=2"]
    # With the remote in the run: the converge reads its address from its facts.
    playbook(scenario_dir / "converge.yml", "%s,offsite-remote" % hostname, *quick, check=True)
    try:
        for config in ("backup.json", "offsite.json"):
            assert json.loads(host.file("/etc/credinet/" + config).content_string)["lock_file"] == alt, config
        host.run_expect([0], "systemd-run --unit=credinet-test-lock-holder --collect flock %s sleep 60" % alt)
        host.run_expect([0], "for i in $(seq 20); do flock -n %s true || exit 0; sleep 0.5; done; exit 1" % alt)
        for command in ("credinet-backup run --no-prune", "credinet-offsite run", "credinet-backup restore --set latest --yes"):
            result = host.run(command)
            assert result.rc == 1 and "holds %s" % alt in result.stdout, (command, result.stdout)
    finally:
        host.run("systemctl stop credinet-test-lock-holder")
        playbook(scenario_dir / "converge.yml", "%s,offsite-remote" % hostname, check=True)
    assert json.loads(host.file("/etc/credinet/backup.json").content_string)["lock_file"] == "/var/lib/credinet/jobs.lock"


def test_offsite_converges_on_a_host_where_backup_never_ran(remote, playbook, scenario_dir):
    """The remote platform has never had role backup: offsite alone still finds its backup folder."""
    result = playbook(scenario_dir / "offsite-only.yml", "offsite-remote", check=True)
    assert result.recap("offsite-remote")["failed"] == 0
    assert remote.file("/var/backups/credinet").is_directory and remote.file("/var/backups/credinet").mode == 0o700
    assert remote.run("credinet-offsite check-config /etc/credinet/offsite.json").rc == 0
    listing = remote.run("credinet-offsite list")
    assert "Traceback" not in listing.stdout + listing.stderr
