"""Settings come from the environment; serving without a secret key is refused, while the
read-only commands work on a fresh checkout with no environment at all."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(args, env_extra=None, tmp_path=None, timeout=60):
    env = {"PATH": os.environ["PATH"], "INSPECTOR_VAR_DIR": str(tmp_path), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_serving_with_debug_off_and_no_secret_key_refuses_with_a_clear_message(tmp_path):
    result = run(["runserver", "--noreload", "127.0.0.1:8799"], tmp_path=tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_the_wsgi_application_refuses_too(tmp_path):
    env = {"PATH": os.environ["PATH"], "INSPECTOR_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "import inspector.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_malformed_debug_value_is_named(tmp_path):
    result = run(["check"], {"DEBUG": "maybe", "SECRET_KEY": "x"}, tmp_path=tmp_path)

    assert result.returncode != 0
    assert "DEBUG='maybe'" in result.stderr


def test_a_generated_key_in_var_is_used(tmp_path):
    (tmp_path / "secret_key").write_text("generated-by-make-run\n")
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup(); "
            "print(settings.SECRET_KEY, settings.SECRET_KEY_CONFIGURED)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "INSPECTOR_VAR_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "inspector.settings",
        },
    )

    assert result.stdout.split() == ["generated-by-make-run", "True"]


@pytest.mark.parametrize(
    "url, engine",
    [
        ("", "django.db.backends.sqlite3"),
        ("postgres://postgres@127.0.0.1:5432/inspector", "django.db.backends.postgresql"),
    ],
)
def test_the_database_comes_from_database_url(tmp_path, url, engine):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; import django; django.setup(); "
            "print(settings.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "INSPECTOR_VAR_DIR": str(tmp_path),
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "inspector.settings",
        },
    )

    assert result.stdout.strip() == engine
