import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for plugin_dir in ("filter_plugins", "module_utils"):
    sys.path.insert(0, str(ROOT / plugin_dir))


@pytest.fixture(scope="session")
def load_script():
    """Import a script of scripts/ (their names have dashes) as a module."""
    def load(name):
        spec = importlib.util.spec_from_file_location(name.replace("-", "_"), ROOT / "scripts" / (name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


sys.path.insert(0, str(ROOT / "tests" / "fakes"))
from loopback import FAKE_HOOK_TOKEN, FAKE_SMTP_PASSWORD, FAKE_TOKEN, Fakes  # noqa: E402,F401


@pytest.fixture
def fakes(tmp_path):
    running = Fakes(tmp_path)
    yield running
    running.close()
