"""The layout docs/architecture.md promises, where import-linter cannot say it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TRACKER = Path(__file__).parents[2] / "tracker"
STORES = TRACKER / "stores"
# What knows a database: its driver, and the library's modules for it (import-linter forbids
# the drivers too, but cannot name an external package's submodules).
DATABASE_MODULES = ("eventsourcing.sqlite", "eventsourcing.postgres", "psycopg", "psycopg_pool",
                    "sqlite3")  # fmt: skip


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


MODULES = sorted(TRACKER.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(TRACKER)) for p in MODULES])
def test_only_the_stores_know_a_database(path):
    if STORES in path.parents:
        return
    known = {
        name
        for name in imported(path)
        if any(name == m or name.startswith(m + ".") for m in DATABASE_MODULES)
    }
    assert not known, f"{path.relative_to(TRACKER)} imports {sorted(known)}: the stores' job"


def test_the_check_sees_an_import_of_a_database_module(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from eventsourcing.postgres import PostgresDatastore\nimport sqlite3\n")
    assert imported(module) == {"eventsourcing.postgres", "sqlite3"}


MOST_LINES = 400  # a module longer than this mixes concerns (docs/architecture.md)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(TRACKER)) for p in MODULES])
def test_no_module_exceeds_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MOST_LINES, f"{path.relative_to(TRACKER)} has {lines} lines"


def test_the_size_check_sees_every_layer():
    """The check above holds only if it finds the modules: the packages are all there."""
    packages = {p.parent.relative_to(TRACKER).as_posix() for p in MODULES}
    assert packages >= {
        ".", "domain", "application", "views", "stores", "stores/sqlite", "stores/postgres",
        "read", "bootstrap", "web", "web/console", "cli",
    }  # fmt: skip
    assert not (TRACKER / "cli.py").exists() and not (TRACKER / "bootstrap.py").exists()
