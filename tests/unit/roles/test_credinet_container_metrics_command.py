"""roles/monitoring/files/credinet-container-metrics: the per-minute job never fails, never leaves a stale file."""
from pathlib import Path

from conftest import fake_command, load_source

cmd = load_source("roles/monitoring/files/credinet-container-metrics")
RECORDED = (Path(__file__).parents[1] / "fixtures/docker/inspect-compose-project.json").read_text()

DOCKER = """
import pathlib
if os.environ.get("FAKE_DOCKER_DOWN"):
    print("Cannot connect to the Docker daemon", file=sys.stderr)
    sys.exit(1)
if args[0] == "ps":
    print("\\n".join(["a1", "b2", "c3"]) if os.environ.get("FAKE_PROJECT_UP") else "")
elif args[0] == "inspect":
    print(pathlib.Path(os.environ["FAKE_INSPECT"]).read_text())
"""


def fake_docker(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = fake_command(bin_dir, "docker", DOCKER)
    inspect = tmp_path / "inspect.json"
    inspect.write_text(RECORDED)
    monkeypatch.setenv("PATH", "%s:/usr/bin:/bin" % bin_dir)
    monkeypatch.setenv("FAKE_INSPECT", str(inspect))
    return docker


def test_the_projects_containers_are_written(tmp_path, monkeypatch):
    docker = fake_docker(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_PROJECT_UP", "1")
    out = tmp_path / "metrics/credinet_containers.prom"
    out.parent.mkdir()
    assert cmd.main(["--project", "credinet-v2", "--out", str(out), "--label", "env=prod"]) == 0
    text = out.read_text()
    assert 'credinet_container_running{container="credinet-v2-backend-1",env="prod",project="credinet-v2",service="backend"} 1' in text
    assert docker.calls()[0] == ["ps", "-aq", "--filter", "label=com.docker.compose.project=credinet-v2",
                                 "--filter", "label=com.docker.compose.oneoff=False"]
    assert docker.calls()[1] == ["inspect", "a1", "b2", "c3"]
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_no_container_writes_headers_only(tmp_path, monkeypatch):
    fake_docker(tmp_path, monkeypatch)
    out = tmp_path / "c.prom"
    assert cmd.main(["--project", "p", "--out", str(out)]) == 0
    assert "credinet_container_running{" not in out.read_text()


def test_docker_down_removes_the_old_file_and_exits_zero(tmp_path, monkeypatch, capsys):
    fake_docker(tmp_path, monkeypatch)
    monkeypatch.setenv("FAKE_DOCKER_DOWN", "1")
    out = tmp_path / "c.prom"
    out.write_text('credinet_container_running{container="x"} 1\n')
    assert cmd.main(["--project", "p", "--out", str(out)]) == 0
    assert not out.exists()
    assert "docker did not answer" in capsys.readouterr().out


def test_an_unwritable_folder_is_logged_not_raised(tmp_path, monkeypatch, capsys):
    fake_docker(tmp_path, monkeypatch)
    assert cmd.main(["--project", "p", "--out", str(tmp_path / "missing/dir/c.prom")]) == 0
    assert "metrics not written" in capsys.readouterr().out


def test_a_failed_write_removes_the_old_file(tmp_path, monkeypatch, capsys):
    fake_docker(tmp_path, monkeypatch)
    out = tmp_path / "c.prom"
    out.write_text('credinet_container_running{container="x"} 1\n')
    monkeypatch.setattr(cmd.job, "write_atomic", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    assert cmd.main(["--project", "p", "--out", str(out)]) == 0
    assert not out.exists()
    assert "No space left on device): old file removed" in capsys.readouterr().out
