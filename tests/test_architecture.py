"""The layering of the house style, held by reading the package's imports with ast."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "vsearch"
LAYERS = {"media", "models", "index", "db"}
ALLOWED = {
    "media": {"errors", "types", "atomic"},
    "models": {"errors", "types", "atomic"},
    "index": {"errors", "types", "atomic"},
    "db": {"errors", "types", "atomic"},
    "progress": set(),
    "match": {"errors", "types"},
    "store": {"errors", "atomic", "types", "config", "models", "index", "db", "match", "pipeline"},
    "pipeline": {
        "errors",
        "atomic",
        "checks",
        "types",
        "config",
        "progress",
        "media",
        "models",
        "index",
        "db",
        "match",
        "store",
    },
    "report": {"errors", "types", "progress", "media", "pipeline"},
    "cli": {"errors", "checks", "types", "config", "progress", "pipeline", "report"},
}


def vsearch_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vsearch"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "vsearch" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("area", sorted(ALLOWED))
def test_layers_import_only_what_they_may(area):
    files = list((PKG / area).rglob("*.py")) if (PKG / area).is_dir() else [PKG / f"{area}.py"]
    for f in files:
        bad = vsearch_imports(f) - ALLOWED[area] - {area}
        assert not bad, f"{f.relative_to(PKG.parent)} imports {sorted(bad)}"


def test_import_vsearch_and_help_load_no_heavy_modules():
    code = (
        "import sys, vsearch, vsearch.cli;"
        "heavy = ('torch', 'faiss', 'open_clip', 'torchvision', 'ray', 'psycopg');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
