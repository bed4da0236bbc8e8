"""The callback and the guard install into a platform without Django: the package
`conversation-inspector-core` (pyproject.toml) holds the pure core and `integrations`, and
neither imports Django, even indirectly."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter with Django made unimportable; then use the integration for real.
NO_DJANGO = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class NoDjango(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "django" or name.startswith("django."):
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, NoDjango())

    import integrations.client, integrations.guard, integrations.litellm_callback
    from integrations.guard import guard_request
    from integrations.litellm_callback import InspectorCallback

    messages = [{"role": "user", "content": "List the files."},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_1", "type": "function",
                 "function": {"name": "ls", "arguments": "{}"}}]},
                {"role": "user", "content": "Still there?"}]
    result = guard_request({"model": "anthropic/claude-sonnet-4-5", "messages": messages}, mode="repair")
    assert result.repaired and result.accepted, result.to_dict()
    InspectorCallback("http://127.0.0.1:9", "token")
    assert not any(m == "django" or m.startswith("django.") for m in sys.modules)
    print(integrations.guard.__file__)
""")


def run_without_django(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "-c", NO_DJANGO], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_integration_works_with_django_unimportable():
    done = run_without_django(ROOT)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(ROOT / "integrations" / "guard.py")


@pytest.mark.slow
def test_pip_installs_the_core_and_the_integration_alone(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "conversations", source / "conversations", ignore=ignore)
    shutil.copytree(ROOT / "integrations", source / "integrations", ignore=ignore)
    site = tmp_path / "site"

    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = {p.relative_to(site).as_posix() for p in site.rglob("*.py")}
    assert "integrations/guard.py" in installed and "conversations/history/check.py" in installed
    assert not any(p.startswith("conversations/") and not p.startswith("conversations/history/") for p in installed)
    elsewhere = tmp_path / "platform"
    elsewhere.mkdir()
    done = run_without_django(elsewhere, pythonpath=str(site))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(site / "integrations" / "guard.py")
