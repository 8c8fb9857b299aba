"""vsearch.media may import only vsearch.errors and vsearch.types from the rest of vsearch."""

from __future__ import annotations

import ast
from pathlib import Path

import vsearch.media

ALLOWED = {"vsearch.errors", "vsearch.types", "vsearch.checks"}


def test_media_imports_no_other_layer() -> None:
    root = Path(vsearch.media.__file__).parent
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("vsearch") and not name.startswith("vsearch.media"):
                    assert name in ALLOWED, f"{source.name} imports {name}"


def test_public_api() -> None:
    for name in vsearch.media.__all__:
        assert hasattr(vsearch.media, name)
