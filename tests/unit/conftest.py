import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for plugin_dir in ("filter_plugins",):
    sys.path.insert(0, str(ROOT / plugin_dir))
