"""Command-line options that several benchmark scripts share (``scripts/`` is on their
``sys.path``)."""

from __future__ import annotations

import argparse

from vsearch.types import DEFAULT_FRAMING, Framing


def add_framing_option(parser: argparse.ArgumentParser) -> None:
    """``--framing full centre``: the frame geometries to compare, a library for each."""
    parser.add_argument(
        "--framing",
        nargs="+",
        default=[DEFAULT_FRAMING.value],
        choices=[f.value for f in Framing],
        help="frame geometries to compare (a library per model and framing; "
        f"default {DEFAULT_FRAMING.value})",
    )
