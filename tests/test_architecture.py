"""The layering of docs/architecture.md, held by reading the package's imports with ast.

Every import counts: module level, inside functions and under TYPE_CHECKING alike.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import subprocess
import sys
import typing
from collections import abc
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

PKG = Path(__file__).resolve().parents[1] / "vsearch"

# Bottom to top. A module may import its own area and any area of a lower rank; areas of the
# same rank never import each other.
RANKS: dict[str, int] = {
    "errors": 0,
    "atomic": 0,
    "types": 1,
    "progress": 1,
    "checks": 1,
    "registry": 1,
    "config": 2,
    "media": 3,
    "models": 3,
    "index": 3,
    "db": 3,
    "match": 4,
    "store": 5,
    "pipeline": 6,
    "report": 7,
    "serve": 8,
    "cli": 9,
    "__init__": 10,  # vsearch/__init__.py: the public API re-exported
    "__main__": 11,
}
ONLY_STORE_USES = {"db"}  # areas only vsearch/store/ may import (besides themselves)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def area(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imported(path: Path) -> set[str]:
    """The vsearch modules a file imports (a name from a package counts as its submodule when
    there is one)."""
    known = modules()
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import vsearch.a.b` names a module
                target = target.rpartition(".")[0]
            if target.startswith("vsearch") and target != this:
                found.add(target)
    return found


@cache
def graph() -> dict[str, set[str]]:
    return {name: imported(path) for name, path in modules().items()}


def test_every_area_has_a_rank():
    unknown = {area(m) for m in modules()} - set(RANKS)
    assert not unknown, f"place {sorted(unknown)} in RANKS (and in docs/architecture.md)"


def test_imports_run_downward():
    bad = []
    for mod, targets in graph().items():
        a = area(mod)
        for target in targets:
            b = area(target)
            if b == "__init__":
                bad.append(f"{mod} imports the package root `vsearch` (import from its module)")
            elif a != b and RANKS[b] >= RANKS[a]:
                bad.append(f"{mod} ({a}, rank {RANKS[a]}) imports {target} ({b}, rank {RANKS[b]})")
    assert not bad, "\n".join(bad)


def test_only_the_store_imports_the_database():
    bad = [
        f"{mod} imports {target}"
        for mod, targets in graph().items()
        for target in targets
        if area(target) in ONLY_STORE_USES and area(mod) not in {"store", area(target)}
    ]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """Tarjan's strongly connected components over the module graph: every one of size 1."""
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_cycles_and_upward_imports(tmp_path, monkeypatch):
    """The rules above on a tiny made-up package: a cycle and an upward import are found."""
    pkg = tmp_path / "vsearch"
    (pkg / "match").mkdir(parents=True)
    (pkg / "store").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "match" / "__init__.py").write_text("")
    (pkg / "store" / "__init__.py").write_text("")
    (pkg / "match" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vsearch.store.b import B\n"
    )
    (pkg / "store" / "b.py").write_text("def f():\n    from vsearch.match import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    modules.cache_clear()
    graph.cache_clear()
    try:
        assert graph()["vsearch.match.a"] == {"vsearch.store.b"}
        assert graph()["vsearch.store.b"] == {"vsearch.match.a"}
        with pytest.raises(AssertionError, match="import cycles"):
            test_no_import_cycles()
        with pytest.raises(AssertionError, match="vsearch.match.a"):
            test_imports_run_downward()
    finally:
        modules.cache_clear()
        graph.cache_clear()


def test_import_vsearch_and_help_load_no_heavy_modules():
    code = (
        "import sys, vsearch, vsearch.cli;"
        "heavy = ('torch', 'faiss', 'open_clip', 'torchvision', 'ray', 'psycopg');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- typed boundaries ------------------------------------------------------------------------

# Where a layer is called from above, ``Any`` would hide the contract from mypy, IDEs and
# readers: the public API of ``vsearch.Library`` and of the store it drives, and every public
# function of a module of these areas that a higher area imports.
TYPED_AREAS = {"match", "store", "pipeline", "report", "serve"}
TYPED_CLASSES = ("vsearch.pipeline.library:Library", "vsearch.store.library_store:LibraryStore")
# Checked as well although their callers sit in their own area: the Ray driver's contract with
# the local indexer (jobs, steps and stage timers).
TYPED_MODULES = ("vsearch.pipeline.ray_index",)
# "Class.field" or "module.function": where Any is the truth, each with why.
ANY_ALLOWED = {
    # faiss index objects: faiss (SWIG bindings) ships no type hints to name them by
    "ShardedIndex.shards",
    "ShardedIndex.searcher",
    "ShardedIndex.merged",
    # settings fields overridden by name, each value of its own field's type (as
    # dataclasses.replace takes them); every one is checked by Settings.load
    "Settings.load",
    "Settings.with_",
}


BARE_GENERICS = {
    dict, list, tuple, set, frozenset, type,
    *(getattr(abc, name) for name in abc.__all__ if name != "ByteString"),
}  # fmt: skip


def type_checking_names(module: ModuleType) -> dict[str, object]:
    """The names a module imports under ``if TYPE_CHECKING:`` (its annotations use them)."""
    names: dict[str, object] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            block = ast.Module(body=node.body, type_ignores=[])
            exec(compile(block, str(module.__file__), "exec"), names)
    return names


def resolved_hints(obj: object) -> dict[str, object]:
    module = sys.modules[obj.__module__]  # type: ignore[attr-defined]
    extra = type_checking_names(module)
    # vsearch.types first: its recursive JSONValue alias names itself from there
    names = {**vars(importlib.import_module("vsearch.types")), **vars(module), **extra}
    return typing.get_type_hints(obj, globalns=names, localns=extra)


def any_inside(hint: object, seen: set[type]) -> list[str]:
    """Where ``Any`` is in a resolved annotation: itself, an argument of a generic (dict, list,
    tuple, Optional, Callable...), or a field of a vsearch dataclass, TypedDict or NamedTuple
    it names (their fields are part of the contract too)."""
    if hint is typing.Any:
        return ["Any"]
    if hint in BARE_GENERICS:  # `dict`, `list`, ... without arguments: of Any
        return [f"a bare {hint.__name__}"]  # type: ignore[attr-defined]
    found = []
    for arg in typing.get_args(hint):
        for inner in arg if isinstance(arg, list) else [arg]:  # Callable[[args], result]
            found += any_inside(inner, seen)
    cls = typing.get_origin(hint) or hint
    record = isinstance(cls, type) and (
        dataclasses.is_dataclass(cls) or typing.is_typeddict(cls) or hasattr(cls, "_fields")
    )
    ours = cls.__module__.partition(".")[0] in ("vsearch", __name__) if record else False
    if ours and cls not in seen:
        seen.add(cls)
        for name, field_hint in resolved_hints(cls).items():
            if f"{cls.__name__}.{name}" not in ANY_ALLOWED:
                found += [f"{cls.__name__}.{name}: {f}" for f in any_inside(field_hint, seen)]
    return found


def untyped_in_signature(
    label: str, fn: Callable[..., object], seen: set[type] | None = None
) -> list[str]:
    """What in ``fn``'s signature is Any or not annotated; the records its annotations name
    are added to ``seen`` (each is searched once)."""
    if label in ANY_ALLOWED:
        return []
    seen = set() if seen is None else seen
    hints = resolved_hints(fn)
    bad = [
        f"{label}: `{name}` has no annotation"
        for name, p in inspect.signature(fn).parameters.items()
        if name not in hints and name not in ("self", "cls")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]  # fmt: skip
    if "return" not in hints:
        bad.append(f"{label}: no return annotation")
    for name, hint in hints.items():
        bad += [f"{label}: `{name}` is {where}" for where in any_inside(hint, seen)]
    return bad


def public_methods(cls: type) -> dict[str, Callable[..., object]]:
    """The public methods and properties a class defines itself."""
    found = {}
    for attr, obj in vars(cls).items():
        fn = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
        if not attr.startswith("_") and inspect.isfunction(fn):
            found[f"{cls.__name__}.{attr}"] = fn
    return found


def boundary_functions() -> dict[str, Callable[..., object]]:
    """Public functions of the typed areas' modules that a higher area imports (and of
    TYPED_MODULES), and the public methods and properties of the typed classes."""
    g = graph()
    called_from_above = {
        target
        for mod, targets in g.items()
        for target in targets
        if area(target) in TYPED_AREAS and RANKS[area(target)] < RANKS[area(mod)]
    }
    found: dict[str, Callable[..., object]] = {}
    for name in sorted(called_from_above | set(TYPED_MODULES)):
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if not attr.startswith("_") and inspect.isfunction(obj) and obj.__module__ == name:
                found[f"{name}.{attr}"] = obj
    for spec in TYPED_CLASSES:
        module_name, _, class_name = spec.partition(":")
        found.update(public_methods(getattr(importlib.import_module(module_name), class_name)))
    return found


def test_no_any_across_a_layer_boundary():
    functions = boundary_functions()
    assert "Library.stats" in functions and "LibraryStore.add_labels" in functions
    assert "vsearch.pipeline.ray_index.run_jobs_on_ray" in functions
    records: set[type] = set()
    bad = [
        line for label, fn in functions.items() for line in untyped_in_signature(label, fn, records)
    ]
    # The records that cross with them: their methods too (to_dict() gives a JSONObject).
    checked: set[type] = set()
    while records - checked:
        for cls in sorted(records - checked, key=lambda c: c.__qualname__):
            checked.add(cls)
            for label, fn in public_methods(cls).items():
                bad += untyped_in_signature(label, fn, records)
    assert not bad, "Any (or no annotation) across a layer boundary:\n" + "\n".join(bad)


@dataclasses.dataclass
class _Loose:
    payload: dict[str, list[typing.Any]]


def _takes_any(a: list, b: tuple[int, typing.Any] | None, c) -> _Loose:
    return _Loose({})


def test_the_boundary_check_sees_any_inside_annotations_and_records():
    assert untyped_in_signature("f", _takes_any) == [
        "f: `c` has no annotation",
        "f: `a` is a bare list",
        "f: `b` is Any",
        "f: `return` is _Loose.payload: Any",
    ]
    assert untyped_in_signature("f", lambda: None) == ["f: no return annotation"]
