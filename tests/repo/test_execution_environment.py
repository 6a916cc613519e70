"""The execution environment (execution-environment.yml, ansible-navigator.yml) stays in step with
the project: same pins as requirements.txt, same collections as requirements.yml, and
`ansible-builder create` writes its build context offline (building the image needs a registry
and Galaxy, which the test machines do not have)."""
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EE = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
NAVIGATOR = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text())


def pins():
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            found[name.lower().replace("_", "-")] = version
    return found


def pin_of(requirement):
    name, _, version = requirement.partition("==")
    assert version, "unpinned: %s" % requirement
    return name.lower().replace("_", "-"), version


def test_pins_are_the_projects():
    wanted = pins()
    deps = EE["dependencies"]
    for requirement in [deps["ansible_core"]["package_pip"], *deps["python"]]:
        name, version = pin_of(requirement)
        assert wanted[name] == version, "%s: %s here, %s in requirements.txt" % (name, version, wanted[name])
    assert pin_of(deps["ansible_runner"]["package_pip"])[1]


def test_collections_are_requirements_yml():
    assert EE["dependencies"]["galaxy"] == "requirements.yml"
    assert (ROOT / EE["dependencies"]["system"]).is_file()


def test_ansible_builder_creates_the_build_context_offline(tmp_path):
    builder = Path(sys.executable).parent / "ansible-builder"
    proc = subprocess.run([str(builder), "create", "-f", str(ROOT / "execution-environment.yml"), "-c", str(tmp_path),
                           "--output-filename", "Containerfile"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (tmp_path / "Containerfile").read_text()
    assert EE["images"]["base_image"]["name"] in containerfile
    assert "TZ=America/Mexico_City" in containerfile
    assert (tmp_path / "_build/requirements.yml").read_text() == (ROOT / "requirements.yml").read_text()
    assert "mitogen==" in (tmp_path / "_build/requirements.txt").read_text()
    assert (tmp_path / "_build/bindep.txt").read_text() == (ROOT / EE["dependencies"]["system"]).read_text()


def test_navigator_runs_the_image_the_build_tags():
    settings = NAVIGATOR["ansible-navigator"]
    tag = re.search(r"ansible-builder build .* -t (\S+)", (ROOT / "execution-environment.yml").read_text()).group(1)
    assert settings["execution-environment"]["enabled"] is True
    assert settings["execution-environment"]["image"] == tag
    # Artifacts would keep every task result, secrets included, on disk.
    assert settings["playbook-artifact"]["enable"] is False
