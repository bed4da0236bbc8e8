"""Production: the settings README's "Running past one machine" gives pass `manage.py check
--deploy`, and the gunicorn command it shows serves the pages (with whitenoise's hashed static
files, HTTPS headers and secure cookies behind a TLS-terminating proxy) from several stateless
worker processes. Everything runs in subprocesses with the production environment, against a
database of the test's own."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support import Site

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
HOST = "inspector.example.com"

pytestmark = pytest.mark.slow


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of notes/production.md: DEBUG unset, a long random key, the public host
    name, HTTPS enforced (redirect, HSTS, secure cookies) behind a proxy that sets
    X-Forwarded-Proto."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' conftest for their live server; a
    # production process never has it (and check --deploy rightly warns about it).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": HOST,
            "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
            "SECURE_SSL_REDIRECT": "1",
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
            "SECURE_HSTS_PRELOAD": "1",
            "BEHIND_PROXY": "1",
            "INSPECTOR_VAR_DIR": str(tmp_path / "var"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    )
    env.update(overrides)
    return env


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_production_settings(tmp_path):
    done = check_deploy(production_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_passes_with_workers_on_redis(tmp_path):
    done = check_deploy(production_env(tmp_path, TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:6379/14"))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "missing, warning",
    [
        ("SECURE_HSTS_SECONDS", "security.W004"),
        ("SECURE_SSL_REDIRECT", "security.W008"),
    ],
)
def test_check_deploy_fails_without_the_https_settings(tmp_path, missing, warning):
    env = production_env(tmp_path)
    del env[missing]
    done = check_deploy(env)
    assert done.returncode != 0 and warning in done.stderr


def test_check_deploy_fails_with_debug_on(tmp_path):
    done = check_deploy(production_env(tmp_path, DEBUG="1"))
    assert done.returncode != 0 and "security.W018" in done.stderr


def test_every_model_change_has_its_migration(tmp_path):
    done = subprocess.run(
        [PYTHON, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- gunicorn serving the pages --------------------------------------------------------------------


class Server:
    """gunicorn on a free port of 127.0.0.1, spoken to as the proxy in front of it would."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log = log
        self.access_log = log.with_name("access.log")
        # The command of notes/production.md, with port 0 (the kernel picks a free one) and the
        # worker's pid in the access log.
        self.process = subprocess.Popen(
            [
                GUNICORN,
                "inspector.wsgi",
                "--preload",
                "--workers",
                "3",
                "--timeout",
                "120",
                "--no-control-socket",
                "--bind",
                "127.0.0.1:0",
                "--access-logfile",
                str(self.access_log),
                "--access-logformat",
                "%(p)s %(r)s %(s)s",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),
        )
        self.port = self._wait_until_serving()

    def _wait_until_serving(self) -> int:
        """The port gunicorn bound, once it answers (the app and litellm load before it listens)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log.read_text())
            if found and "Booting worker" in self.log.read_text():
                self.port = int(found[1])
                try:
                    self.request("GET", "/accounts/login/")
                    return self.port
                except OSError:
                    pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"gunicorn did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def request(
        self,
        method: str,
        path: str,
        *,
        https: bool = True,
        cookies: dict | None = None,
        form: dict | None = None,
        headers: dict | None = None,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Host": HOST, **(headers or {})}
        if https:
            sent["X-Forwarded-Proto"] = "https"
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return response, response.read()
        finally:
            conn.close()


def set_cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    """name -> the whole Set-Cookie header, for checking its attributes."""
    return {SimpleCookie(h).popitem()[0]: h for h in response.headers.get_all("Set-Cookie") or []}


@pytest.fixture
def served(tmp_path):
    """A migrated database with one user, the static files collected the production way, and
    gunicorn serving it all."""
    site = Site(tmp_path)
    env = production_env(tmp_path, DATABASE_URL=site.url, TASKS_BACKEND="database")
    site.env = env
    server = None
    try:
        site.manage("migrate", "--noinput", "-v", "0")
        done = subprocess.run(
            [PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**env, "STATIC_MANIFEST": "1"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        site.manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.contrib.auth.models import User; "
            "User.objects.create_user('ana', password='a-long-test-passphrase')",
        )
        server = Server(env, tmp_path / "gunicorn.log")
        yield server
    finally:
        if server is not None:
            server.stop()
        site.close()


def test_gunicorn_serves_the_login_page_behind_the_proxy_with_https_headers(served):
    response, body = served.request("GET", "/accounts/login/")

    assert response.status == 200, body[:2000]
    assert b"Log in" in body
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csrf = set_cookies(response)["csrftoken"]
    assert "Secure" in csrf


def test_plain_http_is_redirected_to_https(served):
    response, _ = served.request("GET", "/accounts/login/", https=False)
    assert response.status == 301
    assert response.headers["Location"] == f"https://{HOST}/accounts/login/"


def test_a_host_that_is_not_allowed_is_refused(served):
    response, _ = served.request("GET", "/accounts/login/", headers={"Host": "attacker.example"})
    assert response.status == 400


def test_whitenoise_serves_the_hashed_static_files_with_a_long_cache_life(served):
    _, body = served.request("GET", "/accounts/login/")
    css = re.search(rb'href="(/static/css/inspector\.[0-9a-f]{12}\.css)"', body)
    assert css, "the page does not link the hashed stylesheet collectstatic wrote"

    response, data = served.request("GET", css[1].decode())
    assert response.status == 200 and data
    assert "max-age=315360000" in response.headers["Cache-Control"]
    response, _ = served.request("GET", css[1].decode(), headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("Content-Encoding") == "gzip"


def test_a_session_started_on_one_worker_is_honoured_by_the_others(served):
    """Web processes hold no state: log in once, then every request (spread over three worker
    processes) knows who it is, because the session lives in the database."""
    response, _ = served.request("GET", "/accounts/login/")
    csrf = SimpleCookie(set_cookies(response)["csrftoken"])["csrftoken"].value
    response, body = served.request(
        "POST",
        "/accounts/login/",
        cookies={"csrftoken": csrf},
        form={"username": "ana", "password": "a-long-test-passphrase", "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"https://{HOST}/accounts/login/", "Origin": f"https://{HOST}"},
    )
    assert response.status == 302, body[:2000]
    session = set_cookies(response)["sessionid"]
    assert "Secure" in session and "HttpOnly" in session
    cookies = {"sessionid": SimpleCookie(session)["sessionid"].value}

    # Concurrent requests: a sync worker serves one at a time, so several workers answer.
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: served.request("GET", "/", cookies=cookies), range(24)))
    for response, body in answers:
        assert response.status == 200, body[:2000]
        assert b"ana" in body
    served_by = {line.split()[0] for line in served.access_log.read_text().splitlines() if " GET / " in line}
    assert len(served_by) >= 2, "every request went to one worker: nothing shown about the others"

    response, _ = served.request("GET", "/")
    assert response.status == 302 and "/accounts/login/" in response.headers["Location"]
