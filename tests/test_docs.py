"""The README documents what the code reads, as datasette tests its own documentation: every
environment variable of inspector/settings.py and of integrations/config.py is in one of its
tables, no other module reads the environment, and the Layout section names every package of
conversations/ and only modules that exist."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SETTINGS = ROOT / "inspector" / "settings.py"
INTEGRATION_CONFIG = ROOT / "integrations" / "config.py"
# inspector/settings.py's helpers that read a variable and reject a malformed value.
ENV_HELPERS = {"env_bool", "env_int", "env_list"}


def _is_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_os(node.value)


def _is_os(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _reads(call: ast.Call) -> bool:
    function = call.func
    if isinstance(function, ast.Name):
        return function.id in ENV_HELPERS
    if isinstance(function, ast.Attribute):
        return (function.attr == "get" and _is_environ(function.value)) or (
            function.attr == "getenv" and _is_os(function.value)
        )
    return False


def variables_read(path: Path) -> set[str]:
    """The names a module reads from the environment: os.environ.get / [] / os.getenv and the
    env_* helpers (os.environ.setdefault writes, and is not counted)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and _reads(node) and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            names.add(node.slice.value if isinstance(node.slice, ast.Constant) else "<computed>")
    return names


def documented() -> set[str]:
    """The variables the README's tables name in their first column."""
    names = set()
    for line in README.splitlines():
        if line.startswith("|"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_the_readme_lists_every_variable_the_settings_read():
    read = variables_read(SETTINGS)
    assert {"DATABASE_URL", "JOB_LEASE_SECONDS", "INSPECTOR_VAR_DIR", "SECRET_KEY"} <= read  # the reader works

    assert sorted(read - documented()) == []


def test_the_readme_lists_every_variable_the_integration_reads():
    read = variables_read(INTEGRATION_CONFIG)
    assert read == {"INSPECTOR_URL", "INSPECTOR_TOKEN", "INSPECTOR_SAMPLE_RATE", "INSPECTOR_GUARD_MODE"}

    assert sorted(read - documented()) == []


def test_no_other_module_reads_the_environment():
    modules = [*(ROOT / "conversations").rglob("*.py"), *(ROOT / "inspector").rglob("*.py")]
    modules += (ROOT / "integrations").rglob("*.py")
    readers = {
        str(path.relative_to(ROOT)): sorted(variables_read(path))
        for path in modules
        if path not in (SETTINGS, INTEGRATION_CONFIG) and variables_read(path)
    }

    assert readers == {}


def test_the_layout_names_every_package_of_the_django_app():
    layout = section("Layout")
    packages = sorted(p.name for p in (ROOT / "conversations").iterdir() if (p / "__init__.py").exists())
    assert "jobs" in packages and "admin" in packages  # the listing works

    assert [name for name in packages if f"{name}/" not in layout] == []


def test_the_layout_names_only_modules_that_exist():
    layout = section("Layout")
    named = set(re.findall(r"\b([a-z_]+\.py)\b", layout))
    existing = {
        path.name
        for top in ("conversations", "integrations", "inspector", "tests")
        for path in (ROOT / top).rglob("*.py")
    }
    assert {"jobs", "storage.py"} <= {*named, "jobs"}  # the reader works

    assert sorted(named - existing - {"manage.py"}) == []
