"""Role `base`: what a host looks like after converge, and the failures it must refuse."""
import pytest

TZ = "America/Mexico_City"


def test_host_clock_runs_in_mexico_city(host):
    assert host.check_output("timedatectl show --property=Timezone --value") == TZ
    localtime = host.file("/etc/localtime")
    assert localtime.is_symlink
    assert localtime.linked_to.endswith("/zoneinfo/" + TZ)
    # Mexico City has no DST since 2022: a fresh process must see UTC-6 all year.
    assert host.check_output("date +%z") == "-0600"


def test_cron_was_started_after_the_zone_was_set(host):
    # cron reads the zone at start; started earlier, the 02:00 jobs would run in UTC.
    # systemd's record of the start (a /proc/<pid> mtime is no start time in a fresh PID namespace).
    cron_started = int(host.check_output(
        'date -d "$(systemctl show cron -p ExecMainStartTimestamp --value)" +%s'))
    zone_set = int(host.check_output("stat -c %Y /etc/localtime"))
    assert cron_started >= zone_set
    assert host.service("cron").is_enabled


@pytest.mark.parametrize("pkg", ["ca-certificates", "cron", "curl", "git", "jq", "locales", "sudo", "tzdata", "zstd"])
def test_essential_packages(host, pkg):
    assert host.package(pkg).is_installed


def test_locales_generated_and_default(host):
    available = host.check_output("locale -a").split()
    assert "es_MX.utf8" in available
    assert "en_US.utf8" in available
    assert host.file("/etc/default/locale").contains("^LANG=en_US.UTF-8$")


def test_time_sync_configured_and_enabled(host):
    conf = host.file("/etc/systemd/timesyncd.conf.d/credinet.conf")
    assert conf.contains("^NTP=0.debian.pool.ntp.org 1.debian.pool.ntp.org$")
    assert host.service("systemd-timesyncd").is_enabled


def test_journald_limits_applied(host):
    conf = host.file("/etc/systemd/journald.conf.d/credinet.conf")
    assert conf.contains("^SystemMaxUse=1G$")
    assert conf.contains("^MaxRetentionSec=1month$")
    # Storage=persistent only takes effect after the handler restarted journald.
    assert host.file("/var/log/journal").is_directory


def test_operator_account_with_sudo(host):
    jair = host.user("jair")
    assert jair.exists
    assert jair.shell == "/bin/bash"
    assert host.file("/home/jair").is_directory
    sudoers = host.file("/etc/sudoers.d/credinet-ops")
    assert sudoers.mode == 0o440
    assert sudoers.contains("^jair ALL=")
    assert host.run("visudo -c").rc == 0
    assert host.run("runuser -u jair -- sudo -n true").rc == 0


def test_bogus_timezone_fails_in_preflight_before_any_change(host, hostname, playbook, scenario_dir):
    before = host.check_output("stat -c '%Y %N' /etc/localtime")
    result = playbook(scenario_dir / "converge.yml", hostname, "--tags", "base", "-e", "base_timezone=Mars/Olympus_Mons")
    assert result.rc != 0
    assert "base_timezone 'Mars/Olympus_Mons' is not a valid IANA timezone" in result.output
    assert "Preflight | Assert the timezone is a valid IANA zone" in result.output
    assert result.recap(hostname)["changed"] == 0
    assert host.check_output("stat -c '%Y %N' /etc/localtime") == before
    assert host.check_output("timedatectl show --property=Timezone --value") == TZ


def test_timezone_drift_is_caught_by_the_assertion_and_repaired(host, hostname, playbook, scenario_dir):
    host.run_expect([0], "timedatectl set-timezone UTC")
    try:
        # Only the read-back assertion: it must stop the play on a host that drifted.
        drift = playbook(scenario_dir / "converge.yml", hostname, "--tags", "base_timezone_assert")
        assert drift.rc != 0
        assert "TIMEZONE MISMATCH on %s: the host reports 'UTC'" % hostname in drift.output
    finally:
        repaired = playbook(scenario_dir / "converge.yml", hostname, "--tags", "base", check=True)
    assert repaired.recap(hostname)["changed"] >= 1
    assert host.check_output("timedatectl show --property=Timezone --value") == TZ
    # cron (operators' crontabs) was restarted after the zone change, so it runs in the new zone.
    started = host.check_output("systemctl show cron --property=ExecMainStartTimestamp --timestamp=unix --value")
    assert int(started.lstrip("@")) >= int(host.check_output("stat -c %Y /etc/localtime"))
