"""Shared fixtures: a small cast of users, so each view's permission matrix is a few lines, and
writable copies of fixture files. Plain helpers are in tests/support.py. litellm never reaches the
network: the cost map is the bundled one."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import FIXTURES

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")

# The tools' own readers, each in its venv (built by `make oracles`: tests/oracles/build.sh).
ORACLES = Path(__file__).parent.parent / ".oracles"
JUDGES = Path(__file__).parent / "oracles"


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password="viewer-pass-1")


@pytest.fixture
def repairer(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("repairer", password="repairer-pass-1")
    user.user_permissions.add(Permission.objects.get(codename="repair_conversation"))
    return user


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("boss", password="admin-pass-1")


@pytest.fixture
def fixture_copy(tmp_path):
    """A writable copy of a fixture file or directory, by its path under tests/fixtures."""

    def copy(relative: str) -> Path:
        source = FIXTURES / relative
        target = tmp_path / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        return target

    return copy


@pytest.fixture(scope="session")
def oracle():
    """Run a tool's own reader on a path: oracle("openhands-v1", str(folder)) runs
    tests/oracles/openhands_v1.py in .oracles/openhands-v1 and returns the JSON it prints. Skips,
    saying why, when that venv was not built (no Python 3.12, or its install failed)."""

    def run(name: str, *args: str, timeout: float = 600) -> Any:
        venv = ORACLES / name
        if not (venv / ".built").exists():
            if (ORACLES / "NO_PYTHON312").exists():
                pytest.skip(f"the {name} judge needs Python 3.12, which this machine lacks (set PYTHON312)")
            log = ORACLES / f"{name}.log"
            why = f"it failed to build, see {log}" if log.exists() else "run `make oracles` to build it"
            pytest.skip(f"the {name} judge is not built: {why}")
        script = JUDGES / f"{name.replace('-', '_')}.py"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = subprocess.run(
            [str(venv / "bin" / "python"), str(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if done.returncode != 0:
            raise AssertionError(f"the {name} judge failed on {args}:\n{done.stderr[-4000:]}")
        return json.loads(done.stdout)

    return run


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API leaves an event loop in the main thread for the
    rest of the session, which breaks any later test that calls asyncio.run."""
    browser = Path(__file__).parent / "browser"
    items.sort(key=lambda item: browser in item.path.parents)
