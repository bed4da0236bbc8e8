"""Browser tests: Playwright driving Debian's chromium against pytest-django's live server.

Playwright's own browser download cannot work here (no internet); .ci/run installs the chromium
package with apt-get. Without /usr/bin/chromium every test in this folder is skipped, so a
laptop without it still runs the rest of the suite.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test's thread; Django refuses database access
# from a thread with a running loop unless told it is safe (it is: the test thread is not async).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        # As root the sandbox must be off; the rest keeps chromium from reaching the network.
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture
def engineer(transactional_db, django_user_model):
    """A support engineer (a viewer) with a password, to log in through the form."""
    return django_user_model.objects.create_user("engineer", password="engineer-pass-1")


@pytest.fixture
def logged_in(page, live_server, engineer):
    """A page logged in through Django's own login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "engineer")
    page.fill("input[name=password]", "engineer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page
