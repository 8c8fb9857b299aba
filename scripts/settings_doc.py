"""Write the table of settings in docs/configuration.md from vsearch.config.SETTING_VARS."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from vsearch.config import settings_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
BLOCK = re.compile(r"(<!-- settings:begin -->\n).*?(<!-- settings:end -->)", re.S)


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + settings_table() + m.group(2), text)


def main() -> int:
    text = DOC.read_text()
    DOC.write_text(render(text))
    print(f"wrote {DOC}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
