"""Shared test setup: the fixtures folder, and a small cast of users so each view's permission
matrix is a few lines. litellm never reaches the network: the cost map is the bundled one."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")

FIXTURES = Path(__file__).parent / "fixtures"
SEED = sorted((FIXTURES / "seed").glob("openhands-6852-*.json"))


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


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API leaves an event loop in the main thread for the
    rest of the session, which breaks any later test that calls asyncio.run."""
    browser = Path(__file__).parent / "browser"
    items.sort(key=lambda item: browser in item.path.parents)
