"""The credinet_crontab_retire module: the pure retire(), and the module run in-process with a fake
`crontab` first on PATH that keeps the user's crontab in a file."""
import json
import os
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from conftest import fake_command, load_source, run_module

module = load_source("library/credinet_crontab_retire.py")
PATTERN = r"backup-db\.sh"
MARK = "# RETIRED: "
REPLACEMENT = "credinet-backup.timer (systemctl list-timers credinet-backup.timer)"
STAMP, DAY = "20261129T020000", "2026-11-29"
# jair's crontab as found on the host: the old backup (twice), a job to keep, settings, comments.
CRONTAB = (
    "# m h  dom mon dow   command\n"
    "MAILTO=jair@example.com\n"
    "SHELL=/bin/bash\n"
    "\n"
    "0 2 * * * /home/jair/scripts/backup-db.sh >> /home/jair/backup.log 2>&1\n"
    "@reboot   /home/jair/scripts/backup-db.sh --catch-up\n"
    "*/5 * * * * /home/jair/scripts/healthcheck.sh\n"
    "# 0 3 * * * /home/jair/scripts/backup-db.sh (disabled by hand)\n"
)


# --- retire() ------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, retired", [
    ("0 2 * * * /home/jair/scripts/backup-db.sh", True),
    ("   0 2 * * * /home/jair/scripts/backup-db.sh  ", True),
    ("\t@daily /home/jair/scripts/backup-db.sh", True),
    ("0 2 * * * cd /home/jair && ./scripts/backup-db.sh > /dev/null", True),
    ("# 0 2 * * * /home/jair/scripts/backup-db.sh", False),  # already commented
    ("   #0 2 * * * /home/jair/scripts/backup-db.sh", False),
    ("MAILTO=backup-db.sh@example.com", False),  # a setting, even when it matches
    ("BACKUP=/home/jair/scripts/backup-db.sh", False),
    ("0 2 * * * /home/jair/scripts/backup-db.shx", True),  # the pattern decides
    ("0 2 * * * /home/jair/scripts/backup-dbXsh", False),
    ("*/5 * * * * /home/jair/scripts/healthcheck.sh", False),
    ("", False),
    ("   ", False),
])
def test_retire_one_line(line, retired):
    text, lines = module.retire(line + "\n", PATTERN, MARK)
    if retired:
        assert lines == [line] and text == MARK + line + "\n"
    else:
        assert lines == [] and text == line + "\n"


def test_retire_a_whole_crontab_changes_only_the_matching_active_lines():
    text, lines = module.retire(CRONTAB, PATTERN, MARK)
    assert lines == ["0 2 * * * /home/jair/scripts/backup-db.sh >> /home/jair/backup.log 2>&1",
                     "@reboot   /home/jair/scripts/backup-db.sh --catch-up"]
    before, after = CRONTAB.splitlines(), text.splitlines()
    assert len(after) == len(before)
    for old, new in zip(before, after):
        assert new == (MARK + old if old in lines else old)
    assert text.endswith("\n")


def test_retire_is_idempotent_on_its_own_output():
    once, lines = module.retire(CRONTAB, PATTERN, MARK)
    twice, again = module.retire(once, PATTERN, MARK)
    assert lines and again == [] and twice == once


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_retire_of_a_crontab_without_jobs(text):
    new, lines = module.retire(text, PATTERN, MARK)
    assert lines == [] and new.splitlines() == text.splitlines()


def test_retire_adds_the_final_newline_cron_needs():
    assert module.retire("0 2 * * * backup-db.sh", PATTERN, MARK) == (MARK + "0 2 * * * backup-db.sh\n",
                                                                      ["0 2 * * * backup-db.sh"])


# --- the module with a fake crontab --------------------------------------------------------------

@pytest.fixture
def crontab(tmp_path, monkeypatch):
    """A fake crontab first on PATH: `-l -u USER` prints the stored crontab ('no crontab for USER'
    when there is none), `-u USER -` stores stdin. Calls are logged; `fail` makes installing fail."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "cron"
    state.mkdir()
    fake = fake_command(bin_dir, "crontab", """
        state = %r
        store = os.path.join(state, 'crontab')
        if args[:2] == ['-l', '-u']:
            if os.path.exists(os.path.join(state, 'fail-list')):
                sys.stderr.write('must be privileged to use -u\\n')
                sys.exit(1)
            if not os.path.exists(store):
                sys.stderr.write('no crontab for %%s\\n' %% args[2])
                sys.exit(1)
            sys.stdout.write(open(store).read())
            sys.exit(0)
        if args[:1] == ['-u'] and args[2:] == ['-']:
            data = sys.stdin.read()
            if os.path.exists(os.path.join(state, 'fail')):
                sys.stderr.write('"-":5: bad minute\\nerrors in crontab file, can\\'t install.\\n')
                sys.exit(1)
            with open(store, 'w') as fh:
                fh.write(data)
            sys.exit(0)
        sys.exit(2)
        """ % str(state))
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ.get("PATH", "")))

    class Crontab:
        path = fake.path
        store = state / "crontab"
        calls = staticmethod(fake.calls)

        @staticmethod
        def fail(what="fail"):
            (state / what).write_text("")

    return Crontab


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch):
    """A fixed clock for the saved copy's name and the marker's date."""
    real = time.strftime
    fixed = {"%Y%m%dT%H%M%S": STAMP, "%Y-%m-%d": DAY}
    monkeypatch.setattr(module.time, "strftime", lambda fmt, *args: fixed.get(fmt) or real(fmt, *args))


@pytest.fixture
def args(tmp_path):
    return {"user": "jair", "pattern": PATTERN, "replacement": REPLACEMENT,
            "save_dir": str(tmp_path / "backups" / "retired")}


def mode_of(path):
    return os.stat(path).st_mode & 0o777


def test_first_run_saves_the_original_and_installs_the_retired_crontab(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    code, out = run_module(module, args, capsys)
    saved = os.path.join(args["save_dir"], "crontab.jair." + STAMP)
    assert code == 0 and out["changed"] is True and out["saved"] == saved
    assert out["retired"] == ["0 2 * * * /home/jair/scripts/backup-db.sh >> /home/jair/backup.log 2>&1",
                              "@reboot   /home/jair/scripts/backup-db.sh --catch-up"]
    # The original, byte for byte, readable by root only.
    with open(saved) as fh:
        assert fh.read() == CRONTAB
    assert mode_of(saved) == 0o600 and mode_of(args["save_dir"]) == 0o700
    # The new crontab: the two jobs commented with a marker naming the replacement and the copy.
    marker = "# credinet-ops: disabled on %s, replaced by %s; original crontab in %s: " % (DAY, REPLACEMENT, saved)
    installed = crontab.store.read_text()
    assert installed == module.retire(CRONTAB, PATTERN, marker)[0]
    assert marker + out["retired"][0] in installed.splitlines()
    assert "*/5 * * * * /home/jair/scripts/healthcheck.sh" in installed.splitlines()
    assert crontab.calls() == [["-l", "-u", "jair"], ["-u", "jair", "-"]]


def test_second_run_changes_nothing(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    run_module(module, args, capsys)
    installed = crontab.store.read_text()
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is False and out["retired"] == [] and "saved" not in out
    assert crontab.store.read_text() == installed
    assert os.listdir(args["save_dir"]) == ["crontab.jair." + STAMP]
    assert crontab.calls()[2:] == [["-l", "-u", "jair"]]  # read only


def test_a_crontab_without_the_old_job_is_left_alone(crontab, args, capsys):
    crontab.store.write_text("MAILTO=backup-db.sh\n*/5 * * * * healthcheck.sh\n# 0 2 * * * backup-db.sh\n")
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is False and out["retired"] == []
    assert not os.path.exists(args["save_dir"])
    assert crontab.calls() == [["-l", "-u", "jair"]]


def test_a_user_without_a_crontab_is_fine(crontab, args, capsys):
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is False and out["retired"] == []
    assert not crontab.store.exists() and not os.path.exists(args["save_dir"])


def test_a_host_without_crontab_is_fine(args, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # get_bin_path also looks in the sbin folders: make sure no real crontab is found there.
    monkeypatch.setattr(module.AnsibleModule, "get_bin_path", lambda self, arg, required=False, opt_dirs=None: None)
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is False and out["retired"] == []
    assert not os.path.exists(args["save_dir"])


def test_a_failure_to_read_the_crontab_fails(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    crontab.fail("fail-list")
    code, out = run_module(module, args, capsys)
    assert code == 1 and out["failed"] is True
    assert out["msg"] == "crontab -l -u jair failed: must be privileged to use -u"
    assert crontab.store.read_text() == CRONTAB and not os.path.exists(args["save_dir"])


def test_an_install_failure_fails_naming_the_saved_copy(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    crontab.fail()
    code, out = run_module(module, args, capsys)
    saved = os.path.join(args["save_dir"], "crontab.jair." + STAMP)
    assert code == 1 and out["failed"] is True
    assert out["msg"].startswith("installing the new crontab of jair failed: ")
    assert "bad minute" in out["msg"] and out["msg"].endswith("(original saved in %s)" % saved)
    assert crontab.store.read_text() == CRONTAB  # the old crontab still runs
    with open(saved) as fh:
        assert fh.read() == CRONTAB
    assert mode_of(saved) == 0o600


def test_a_saved_copy_is_never_overwritten(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    os.makedirs(args["save_dir"])
    saved = os.path.join(args["save_dir"], "crontab.jair." + STAMP)
    with open(saved, "w") as fh:
        fh.write("an earlier copy\n")
    # O_EXCL: a copy of the same second stops the module (a traceback) before the crontab changes.
    with patch_module_args(args), pytest.raises(FileExistsError):
        module.main()
    capsys.readouterr()
    with open(saved) as fh:
        assert fh.read() == "an earlier copy\n"
    assert crontab.store.read_text() == CRONTAB and crontab.calls() == [["-l", "-u", "jair"]]


def test_check_mode_reports_the_change_and_writes_nothing(crontab, args, capsys):
    crontab.store.write_text(CRONTAB)
    code, out = run_module(module, dict(args, _ansible_check_mode=True), capsys)
    assert code == 0 and out["changed"] is True and len(out["retired"]) == 2
    assert out["saved"] == os.path.join(args["save_dir"], "crontab.jair." + STAMP)
    assert not os.path.exists(args["save_dir"])
    assert crontab.store.read_text() == CRONTAB
    assert crontab.calls() == [["-l", "-u", "jair"]]


@pytest.mark.parametrize(("line", "shown"), [
    ("0 2 * * * PGPASSWORD=FAKE-pw pg_dump credinet", "0 2 * * * PGPASSWORD=*** pg_dump credinet"),
    ("0 2 * * * A='FAKE two words' B=\"FAKE x\" /bin/job --opt=value", "0 2 * * * A=*** B=*** /bin/job --opt=value"),
    ("0 2 * * * cd /x && TOKEN=FAKE-t ./run", "0 2 * * * cd /x && TOKEN=*** ./run"),
    ("0 2 * * * /home/jair/scripts/backup-db.sh >> /home/jair/backup.log 2>&1",
     "0 2 * * * /home/jair/scripts/backup-db.sh >> /home/jair/backup.log 2>&1"),
])
def test_retired_lines_are_shown_without_assignment_values(line, shown):
    assert module.mask_assignments(line) == shown


def test_a_password_in_a_retired_line_never_leaves_the_module(crontab, args, capsys):
    crontab.store.write_text("0 2 * * * PGPASSWORD=FAKE-cron-pw /home/jair/scripts/backup-db.sh\n")
    code, out = run_module(module, args, capsys)
    assert code == 0 and out["changed"] is True
    assert out["retired"] == ["0 2 * * * PGPASSWORD=*** /home/jair/scripts/backup-db.sh"]
    assert "FAKE-cron-pw" not in json.dumps(out)
    assert "FAKE-cron-pw" in crontab.store.read_text(), "the crontab itself keeps the line as it was, commented"
