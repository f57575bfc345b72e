"""The layer rules (ARCHITECTURE.md, ../shared/DESIGN.md) checked over every module's imports.

Arrows point down: adapters (api, web, cli) call services; services call domain, store, storage
and events; store and storage import only domain; domain imports nothing of ours and does no
I/O; events never imports services; services and events build no SQL (they may name
SQLAlchemy's Connection and Row types, nothing else). Every `import` statement counts, wherever
it stands (inside a function too), and so does `TYPE_CHECKING`: a rule that holds only at run
time is not a rule a reader can trust.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "modelyard"

#: For each layer (a package under modelyard), the packages of ours it must not import.
FORBIDDEN = {
    "api": {"store", "storage", "web", "cli", "app", "bootstrap"},
    "web": {"store", "storage", "cli", "app", "bootstrap"},
    "services": {"api", "web", "cli", "app", "bootstrap"},
    "events": {"services", "api", "web", "cli", "app", "bootstrap"},
    "store": {"services", "events", "storage", "api", "web", "cli", "app", "bootstrap",
              "config"},
    "storage": {"services", "events", "store", "api", "web", "cli", "app", "bootstrap",
                "config"},
    # Metrics, logs and traces are a leaf every layer may record into, like a library.
    "observability": {"domain", "services", "events", "store", "storage", "api", "web", "cli",
                      "app", "bootstrap", "config"},
}
#: Domain imports only domain, and nothing that reads or writes outside the process.
DOMAIN_IO = {"os", "io", "pathlib", "shutil", "socket", "ssl", "subprocess", "sqlite3",
             "tempfile", "threading", "asyncio", "http", "urllib.request", "sqlalchemy",
             "psycopg", "httpx", "boto3", "botocore", "starlette", "uvicorn", "logging"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    package = ".".join(("modelyard", *path.relative_to(root).with_suffix("").parts[:-1]))
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            # `from modelyard import store` imports the package named after `import`.
            names = [f"{base}.{a.name}" for a in node.names] if base == "modelyard" else [base]
            found += [(node.lineno, name) for name in names]
    return found


def _ours(module: str) -> str | None:
    """The top-level package of ours a module belongs to, else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "modelyard" and len(parts) > 1 else None


def _violations(path: Path, root: Path = SRC) -> list[str]:
    layer = path.relative_to(root).parts[0].removesuffix(".py")
    where = path.relative_to(root.parent)
    problems = []
    for line, module in _imports(path, root):
        target = _ours(module)
        if layer == "domain":
            if target not in (None, "domain"):
                problems.append(f"{where}:{line}: domain imports {module}")
            elif target is None and (module.split(".")[0] in DOMAIN_IO or module in DOMAIN_IO):
                problems.append(f"{where}:{line}: domain does no I/O, yet imports {module}")
        elif target in FORBIDDEN.get(layer, ()):
            problems.append(f"{where}:{line}: {layer} may not import {module}")
    if layer in ("services", "events"):
        problems += _sql_outside_store(path, where)
    if layer == "domain":
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"open", "print", "input"}):
                problems.append(f"{where}:{node.lineno}: domain does no I/O, yet calls "
                                f"{node.func.id}()")
    return problems


#: What a service may take from SQLAlchemy: the types of the connection and rows repositories
#: hand it. Building a statement, or naming a table, is the store's job.
SQLALCHEMY_TYPES = {"Connection", "Row"}
#: Modules allowed to break the SQL rule for now, each with its reason. Remove an entry once its
#: SQL has moved into a store module; add none without saying why.
SQL_OUTSIDE_STORE_FOR_NOW: set[str] = set()  # none: the backup's SQL is store/snapshot.py


def _sql_outside_store(path: Path, where: Path) -> list[str]:
    if "/".join(where.parts[1:]) in SQL_OUTSIDE_STORE_FOR_NOW:
        return []
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            extra = sorted({a.name for a in node.names} - SQLALCHEMY_TYPES)
            if node.module != "sqlalchemy" or extra:
                problems.append(f"{where}:{node.lineno}: SQL lives in store, yet this imports "
                                f"{', '.join(extra) or node.module} from {node.module}")
        elif isinstance(node, ast.Import) and any(a.name.startswith("sqlalchemy")
                                                  for a in node.names):
            problems.append(f"{where}:{node.lineno}: SQL lives in store, yet this imports "
                            "sqlalchemy")
        elif isinstance(node, ast.ImportFrom) and (
                node.module == "modelyard.store.tables" or (
                    node.module == "modelyard.store"
                    and any(a.name == "tables" for a in node.names))):
            problems.append(f"{where}:{node.lineno}: SQL lives in store, yet this names tables")
    return problems


def test_every_module_keeps_the_layer_rules() -> None:
    problems = [problem for path in _modules() for problem in _violations(path)]
    assert not problems, "layer rules broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(("layer_file", "source", "expected"), [
    ("api/x.py", "from modelyard.store.audit import AuditQuery", "api may not import"),
    ("api/x.py", "from modelyard import storage", "api may not import"),
    ("web/x.py", "from ..store import database", "web may not import"),
    ("events/x.py", "from modelyard.services.unit_of_work import Event", "events may not"),
    ("store/x.py", "from modelyard.events.chain import GENESIS", "store may not import"),
    ("domain/x.py", "from modelyard.services.context import Actor", "domain imports"),
    ("domain/x.py", "import sqlalchemy", "domain does no I/O"),
    ("observability/x.py", "from modelyard.store import database", "observability may not"),
    ("domain/x.py", "def f():\n    return open('x')", "domain does no I/O"),
    ("services/x.py", "from sqlalchemy import select", "SQL lives in store"),
    ("services/x.py", "from modelyard.store.tables import uc_grants", "SQL lives in store"),
    ("events/x.py", "from modelyard.store import tables", "SQL lives in store"),
])
def test_the_check_catches_what_breaks_them(tmp_path: Path, layer_file: str, source: str,
                                            expected: str) -> None:
    root = tmp_path / "modelyard"
    path = root / layer_file
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n")
    problems = _violations(path, root)
    assert problems and expected in problems[0], problems
