"""The generated docs are current: docs/configuration.md is exactly what the
config table prints, and docs/commands.md is exactly what scripts/gen_docs.py
makes from Surge's command table and the reference server's. A change to
either table without `scripts/gen_docs.py` fails here."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def surge_bin():
    return os.environ.get("SURGE_SERVER", os.path.join(ROOT, "build", "surge-server"))


def test_configuration_reference_is_current():
    out = subprocess.run([surge_bin(), "--config-reference"], check=True, capture_output=True,
                         text=True).stdout
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        assert f.read() == out, "docs/configuration.md is stale: run scripts/gen_docs.py"


def test_command_reference_is_current():
    if os.path.basename(surge_bin()).startswith("redis-server"):
        pytest.skip("describes Surge's own table")
    if not shutil.which("redis-server") and not os.path.exists("/usr/bin/redis-server"):
        pytest.skip("reference redis-server not installed")
    import gen_docs
    with open(os.path.join(ROOT, "docs", "commands.md")) as f:
        assert f.read() == gen_docs.commands_md(surge_bin()), \
            "docs/commands.md is stale: run scripts/gen_docs.py"
