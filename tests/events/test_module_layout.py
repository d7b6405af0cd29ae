"""The services packages' layout: `events.reminders` never imports `events.services` (the
services call the reminders, never the other way round), and every room of
`events.services` and `notifications.services` imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def rooms(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return sorted(
        f"{package}.{path.stem}" if path.stem != "__init__" else package for path in folder.glob("*.py")
    )


def test_the_helper_sees_every_form_of_import(tmp_path):
    """The check below would notice a lazy `from events import services` as well as the others."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import events.services.common\n"
        "def f():\n"
        "    from events import services\n"
        "    from events.services.messages import email_context\n",
        encoding="utf-8",
    )
    found = imported_modules(probe)
    assert {"events.services", "events.services.common", "events.services.messages"} <= found


def test_reminders_never_import_the_services():
    imports = imported_modules(ROOT / "events" / "reminders.py")
    assert not {name for name in imports if name == "events.services" or name.startswith("events.services.")}


def test_the_services_reach_the_reminders_one_way():
    """The services schedule through `events.reminders`; nothing it imports leads back."""
    code = (
        "import sys\n"
        "import events.reminders\n"
        "assert not [m for m in sys.modules if m.startswith('events.services')], sorted(sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _import_alone(module: str, then: str = "") -> subprocess.CompletedProcess:
    """`import <module>` as the first thing a fresh interpreter does (`then` runs after it)."""
    code = f"import {module}\n{then}"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def package_alone() -> dict[str, tuple[subprocess.CompletedProcess, set[str]]]:
    """For each package: a fresh interpreter's `import <package>`, and the rooms it loaded.

    `import <package>.<room>` first imports the package (its __init__ runs to the end) and
    then, if the room is in sys.modules by then, does nothing more: for those rooms it is the
    very same run as `import <package>`, so that run is their answer. Each other room is
    imported in an interpreter of its own."""
    found = {}
    for package in ("events.services", "notifications.services"):
        listing = f"import sys\nprint(*sorted(m for m in sys.modules if m.startswith('{package}.')))"
        result = _import_alone(package, then=listing)
        found[package] = (result, set(result.stdout.split()) if result.returncode == 0 else set())
    return found


@pytest.mark.parametrize("module", rooms("events.services") + rooms("notifications.services"))
def test_each_room_imports_on_its_own(module, package_alone):
    package = ".".join(module.split(".")[:2])
    result, loaded = package_alone[package]
    if module != package and module not in loaded:
        result = _import_alone(module)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("package", ["events.services", "notifications.services"])
def test_the_package_re_exports_each_rooms_public_names(package):
    """`from events import services; services.register(...)` keeps working for every public name."""
    module = __import__(package, fromlist=["*"])
    for room in rooms(package):
        if room == package:
            continue
        tree = ast.parse(ROOT.joinpath(*room.split(".")).with_suffix(".py").read_text(encoding="utf-8"))
        public = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
        ]
        missing = [name for name in public if not hasattr(module, name)]
        assert not missing, f"{room}: {missing}"
