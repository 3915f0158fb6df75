"""The import rules of ``docs/architecture.md``, checked: the document's tables are read here, so the
document stays true or this test fails.

Static checks parse every module of the shipped packages (and the demo) with ``ast``; runtime checks
import modules in a fresh interpreter and look at ``sys.modules``.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
SHIPPED = ("curation", "annotate_ui", "splits", "models")
DEMO = "curate_demo"
FIRST_PARTY = SHIPPED + (DEMO,)
DATABASE = ("sqlalchemy", "alembic", "curation.db")


# ---------------------------------------------------------------- reading the code


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    lazy: bool  # inside a function body: runs when the function does, not at import


def module_name(path: Path, base: Path = ROOT) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files(packages: tuple[str, ...] = FIRST_PARTY, base: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, base): p for pkg in packages for p in sorted((base / pkg).rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import statement of a module, resolved to the most specific module it names
    (``from pkg import sub`` -> ``pkg.sub`` when that is a module); ``if TYPE_CHECKING`` blocks skipped."""
    out: list[Import] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(Import(module, a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(module, is_package, child)
                for alias in child.names:
                    sub = f"{source}.{alias.name}"
                    out.append(Import(module, sub if sub in known else source, child.lineno, lazy))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return out


@lru_cache(maxsize=None)
def first_party_imports(packages: tuple[str, ...] = FIRST_PARTY) -> tuple[Import, ...]:
    files = module_files()
    known = set(files)
    return tuple(imp for name, path in module_files(packages).items() for imp in imports_of(name, path, known)
                 if imp.target.split(".")[0] in FIRST_PARTY)


def covers(pattern: str, module: str) -> bool:
    """``pkg.*`` covers pkg and everything under it; a plain name covers that module only."""
    if pattern.endswith(".*"):
        stem = pattern[:-2]
        return module == stem or module.startswith(stem + ".")
    return module == pattern


# ---------------------------------------------------------------- reading the document


def doc_table(heading: str) -> list[list[str]]:
    """The rows (cells as text) of the first Markdown table after ``heading`` in docs/architecture.md."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading)
    rows: list[list[str]] = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif rows:
            break
    return rows[1:]  # without the header row


def ticks(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def import_rules() -> dict[str, list[str]]:
    """importer pattern -> the patterns it may import (first-party only), from the packages table."""
    rules = {}
    for row in doc_table("## Packages"):
        importer = ticks(row[0])
        assert importer, f"packages table row without a package: {row}"
        rules[importer[0]] = ticks(row[2])
    return rules


def rule_for(module: str, rules: dict[str, list[str]]) -> list[str] | None:
    matching = [p for p in rules if covers(p, module)]
    return rules[max(matching, key=len)] if matching else None


def database_free() -> list[str]:
    return [ticks(row[0])[0] for row in doc_table("## Database-free modules")]


def sanctioned_lazy_edges() -> set[tuple[str, str]]:
    return {(ticks(row[0])[0], ticks(row[1])[0]) for row in doc_table("## Lazy imports that would be cycles")
            if ticks(row[0])}


# ---------------------------------------------------------------- graphs


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one node (or a node importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1 or node in edges.get(node, ()):
                        found.append(sorted(comp))
    return found


def curation_unit(module: str) -> str:
    """A module's unit in curation's package graph: ``curation.scrape`` for ``curation.scrape.runner``."""
    return ".".join(module.split(".")[:2])


# ---------------------------------------------------------------- the static rules


def test_the_document_names_every_package_and_sanctions_only_real_modules():
    rules = import_rules()
    assert set(rules) == {f"{p}.*" for p in FIRST_PARTY}, "the packages table must have one row per package"
    known = set(module_files())
    for importer, allowed in rules.items():
        for pattern in allowed:
            stem = pattern[:-2] if pattern.endswith(".*") else pattern
            assert stem in known, f"docs/architecture.md allows {importer} to import {pattern}, which does not exist"
    for module in database_free():
        assert module in known, f"docs/architecture.md lists {module} as database-free; no such module"


def test_every_import_follows_the_packages_table():
    rules = import_rules()
    broken = []
    for imp in first_party_imports():
        allowed = rule_for(imp.importer, rules)
        if allowed is None or not any(covers(p, imp.target) for p in allowed):
            broken.append(f"{imp.importer}:{imp.line} imports {imp.target}")
    assert not broken, "imports the table in docs/architecture.md does not allow:\n" + "\n".join(broken)


def test_the_rule_checker_catches_a_forbidden_import(tmp_path):
    """The checker itself: a models module importing the database layer is reported."""
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text("import json\n\ndef f():\n    from curation.db.session import connect\n")
    found = imports_of("models.bad", pkg / "bad.py", {"curation.db.session"})
    assert [(i.target, i.lazy) for i in found] == [("json", False), ("curation.db.session", True)]
    allowed = rule_for("models.bad", import_rules())
    assert not any(covers(p, "curation.db.session") for p in allowed)
    assert any(covers(p, "curation.errors") for p in allowed)


def test_no_shipped_package_imports_the_demo():
    """Only the CLI's command table reaches ``curate_demo`` (by name, when ``curate demo`` runs)."""
    offenders = [f"{i.importer}:{i.line}" for i in first_party_imports(SHIPPED) if i.target.split(".")[0] == DEMO]
    assert not offenders, f"shipped code imports {DEMO}: {offenders}"
    from curation.cli import COMMANDS

    reach = [name for name, (target, _help) in COMMANDS.items() if target.startswith(DEMO + ".")]
    assert reach == ["demo"] and COMMANDS["demo"][0] == "curate_demo.cli:demo"


def test_the_command_table_names_command_modules_that_exist():
    """The CLI's lazily loaded targets are real, and every one is a command module (the composition root
    reaches the packages only through those)."""
    from curation.cli import COMMANDS

    for name, (target, _help) in COMMANDS.items():
        module, attr = target.split(":")
        leaf = module.rsplit(".", 1)[-1]
        assert leaf == "commands" or leaf == "cli" or leaf.endswith("_cli") or leaf.startswith("cli_"), target
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command), target


def test_no_import_cycles_at_import_time():
    """Module-level imports of every first-party module form no cycle."""
    edges: dict[str, set[str]] = {}
    for imp in first_party_imports():
        if not imp.lazy and imp.target != imp.importer:
            edges.setdefault(imp.importer, set()).add(imp.target)
    cycles = strongly_connected(edges)
    assert not cycles, f"modules importing each other at import time: {cycles}"


def test_curation_subpackages_form_no_cycle_even_through_lazy_imports():
    """scrape -> download, never back; a lazy import that closes a cycle (between subpackages or modules) must
    be listed in the document."""
    sanctioned = sanctioned_lazy_edges()
    units: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for imp in first_party_imports(("curation",)):
        if not imp.target.startswith("curation") or (imp.importer, imp.target) in sanctioned:
            continue
        a, b = curation_unit(imp.importer), curation_unit(imp.target)
        if a != b:
            units.setdefault(a, set()).add(b)
        if imp.importer != imp.target:
            modules.setdefault(imp.importer, set()).add(imp.target)
    cycles = strongly_connected(units)
    assert not cycles, f"curation subpackages importing each other (lazily or not): {cycles}"
    cycles = strongly_connected(modules)
    assert not cycles, f"curation modules importing each other (lazily or not): {cycles}"


def test_the_cycle_finder_finds_cycles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------- the runtime rules


def loaded_by(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import ``modules`` one after another in a fresh interpreter; for each, the forbidden packages
    loaded by then (so the first module listed with a hit is the one that pulled it in)."""
    code = (
        "import importlib, json, sys\n"
        f"mods, bad = {modules!r}, {forbidden!r}\n"
        "out = {}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    out[m] = sorted(b for b in bad if any(k == b or k.startswith(b + '.') for k in sys.modules))\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_models_never_loads_the_database():
    """Importing every models module (torch and all) loads neither SQLAlchemy nor curation's database layer,
    nor the labeling app or the demo."""
    names = sorted(m for m in module_files(("models",)))
    hits = loaded_by(names, DATABASE + ("annotate_ui", "flask", DEMO))
    first = next((m for m in names if hits[m]), None)
    assert first is None, f"importing {first} loads {hits[first]}"


def test_database_free_modules_stay_free_of_the_database():
    """The modules the document lists as database-free (the emulator's corpus, the class tables, the
    small utilities models uses, the export format) import no database layer, each on its own."""
    for module in database_free():
        hits = loaded_by([module], DATABASE + (DEMO,))
        assert not hits[module], f"importing {module} loads {hits[module]}"


def test_emulator_corpus_does_not_load_sqlalchemy():
    hits = loaded_by(["curation.emulator.corpus"], ("sqlalchemy", DEMO))
    assert hits["curation.emulator.corpus"] == []


# ---------------------------------------------------------------- what splits writes


def _written_tables(statement: str) -> str | None:
    found = re.match(r'\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', statement, re.I)
    return found.group(1).lower() if found else None


def test_written_table_parser():
    assert _written_tables('INSERT INTO split_members (split_id) VALUES (?)') == "split_members"
    assert _written_tables('UPDATE "exports" SET path=?') == "exports"
    assert _written_tables("DELETE FROM splits WHERE id = ?") == "splits"
    assert _written_tables("SELECT * FROM splits") is None


@pytest.mark.slow
def test_splits_writes_only_its_own_tables(tmp_path):
    """Building, saving and exporting a database split writes only the tables the document gives splits."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from curation.db.session import connect, upgrade
    from curation.store import ImageStore
    from splits.pipeline import build_and_save, export_named
    from splits.spec import parse_spec
    from tests.splits.dbdata import populate

    own = {t for row in doc_table("## Who writes which tables") if ticks(row[0])[0] == "splits.*" for t in ticks(row[1])}
    assert own == {"splits", "split_members", "exports"}
    engine = connect(f"sqlite:///{tmp_path / 'ws.sqlite'}")
    upgrade(engine)
    store = ImageStore(tmp_path / "store")
    with Session(engine, expire_on_commit=False) as session:
        populate(session, store)
        session.commit()
    written: list[str] = []
    listener = lambda conn, cursor, statement, *rest: written.append(_written_tables(statement) or "")  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        spec = parse_spec(tomllib.loads('name = "arch"\nclass_set = "imagenet-r"\nseed = 1\n[source]\nkind = "db"\n'
                          '[labels]\nfrom = "reviewed"\n[train]\nwhere = { rendition = "art" }\n'
                          '[[ood]]\nname = "sketch"\nchange = { rendition = "sketch" }\n'))
        with Session(engine) as session:
            build_and_save(session, spec, tmp_path)
            export_named(session, "arch", "imagefolder", tmp_path / "out", tmp_path, tmp_path / "store")
            session.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    tables = {t for t in written if t}
    assert tables and tables <= own, f"splits wrote {sorted(tables - own)}"
    assert {"splits", "split_members", "exports"} <= tables


@pytest.mark.parametrize("package", ["annotate_ui", "splits", "models"])
def test_modules_of_the_other_packages_form_no_cycle_even_through_lazy_imports(package):
    """Within each package no two modules import each other, even inside functions (the Flask views take
    the session from ``annotate_ui.db``, never from ``annotate_ui.app``; ``models.evaluate`` and
    ``models.preflight`` share ``models.evalsets``), unless the document sanctions the edge."""
    sanctioned = sanctioned_lazy_edges()
    modules: dict[str, set[str]] = {}
    for imp in first_party_imports((package,)):
        if imp.target.startswith(package) and imp.importer != imp.target and \
                (imp.importer, imp.target) not in sanctioned:
            modules.setdefault(imp.importer, set()).add(imp.target)
    cycles = strongly_connected(modules)
    assert not cycles, f"{package} modules importing each other (lazily or not): {cycles}"
