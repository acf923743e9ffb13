"""The import contract (issue 19): layers import one way, and there are no cycles.

language · domain · security  ←  store  ←  services  ←  rasa_plugins, actions, channels, staff  ←  tools, deploy

Every import counts, those inside functions too: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("bot", "actions", "channels", "staff", "tools", "deploy")

# Rank of each layer: a module imports its own rank or lower. The adapters (rank 4) do not import
# each other, except that anything may use the connectors' shared wording.
LAYERS: tuple[tuple[str, int], ...] = (
    ("bot.clock", 0),
    ("bot.config", 0),
    ("bot.paths", 0),
    ("bot.serving_env", 0),
    ("bot.language", 0),
    ("bot.domain", 1),
    ("bot.security", 1),
    ("bot.store", 2),
    ("bot.services", 3),
    ("bot.rasa_plugins", 4),
    ("actions", 4),
    ("channels", 4),
    ("staff", 4),
    ("tools", 5),
    ("deploy", 5),
)
ADAPTERS = ("bot.rasa_plugins", "actions", "channels", "staff")
# Third-party and standard modules a layer must not import (prefix match). The rules of language
# and domain do no database, Rasa, Flask, network or process work.
_PURE_RULES_MUST_NOT = (
    "sqlalchemy",
    "rasa",
    "rasa_sdk",
    "flask",
    "socket",
    "smtplib",
    "subprocess",
    "urllib.request",
    "requests",
    "aiohttp",
    "httpx",
    "telegram",
    "linebot",
    "redis",
)
FORBIDDEN: Mapping[str, tuple[str, ...]] = {
    "bot.language": _PURE_RULES_MUST_NOT,
    "bot.domain": _PURE_RULES_MUST_NOT,
    "bot.security": ("sqlalchemy", "rasa", "rasa_sdk", "flask"),
    "bot": ("flask", "flask_login", "flask_wtf"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def first_party_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imported_names(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an import statement in `source` asks for, anywhere in the file."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            # `from pkg import name`: pkg.name when it is a module, else pkg (resolve() walks up).
            yield from (f"{base}.{alias.name}" for alias in node.names)


def resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(modules: Mapping[str, Path]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(first-party edges, every other name imported) for each module."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    external: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for name in imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            target = resolve(name, modules)
            if target is None:
                external[module].add(name)
            elif target != module:
                edges[module].add(target)
    return edges, external


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> tuple[str, int] | None:
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    return None


def layer_violations(edges: Mapping[str, set[str]]) -> list[str]:
    found = []
    for module, targets in edges.items():
        source = layer_of(module)
        if source is None:
            continue
        for target in targets:
            dest = layer_of(target)
            if dest is None:
                continue
            if dest[1] > source[1] or (dest[0] != source[0] and dest[0] in ADAPTERS and source[0] in ADAPTERS):
                found.append(f"{module} ({source[0]}) imports {target} ({dest[0]})")
    return sorted(found)


def forbidden_imports(external: Mapping[str, set[str]]) -> list[str]:
    found = []
    for module, names in external.items():
        for prefix, banned in FORBIDDEN.items():
            if module != prefix and not module.startswith(prefix + "."):
                continue
            for name in names:
                if any(name == b or name.startswith(b + ".") for b in banned):
                    found.append(f"{module} imports {name}")
    return sorted(set(found))


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    return import_graph(first_party_modules())


def test_every_module_has_a_layer() -> None:
    assert [m for m in first_party_modules() if m not in PACKAGES and layer_of(m) is None] == []


def test_no_import_cycles_counting_imports_inside_functions(graph) -> None:
    assert cycles(graph[0]) == []


def test_layers_import_one_way(graph) -> None:
    assert layer_violations(graph[0]) == []


def test_the_rules_import_no_database_rasa_flask_or_network(graph) -> None:
    assert forbidden_imports(graph[1]) == []


def test_the_checker_sees_what_it_must_refuse() -> None:
    """The contract can fail: a cycle through a function-level import, an upward import, an
    adapter importing another adapter, and SQLAlchemy in the language rules are all reported."""
    fake = {
        "bot.store.db": ROOT / "x",
        "bot.store.models": ROOT / "y",
        "bot.language.age": ROOT / "z",
        "channels.line": ROOT / "w",
    }
    edges = {
        "bot.store.db": {"bot.store.models"},
        "bot.store.models": {"bot.store.db"},
        "bot.language.age": {"bot.store.db"},
        "channels.line": {"staff.web"},
    }
    assert cycles(edges) == [["bot.store.db", "bot.store.models"]]
    assert layer_violations(edges) == [
        "bot.language.age (bot.language) imports bot.store.db (bot.store)",
        "channels.line (channels) imports staff.web (staff)",
    ]
    assert forbidden_imports({"bot.language.age": {"sqlalchemy.orm"}}) == ["bot.language.age imports sqlalchemy.orm"]
    inside = "def f():\n    from bot.store.models import Base\n"
    assert "bot.store.models.Base" in set(imported_names(inside, "bot.store.db", False))
    assert resolve("bot.store.models.Base", fake) == "bot.store.models"
