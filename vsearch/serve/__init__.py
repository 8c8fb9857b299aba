"""``vsearch serve``: the library answering over HTTP, with a web page.

Needs the ``serve`` extra (``pip install 'vsearch-video[serve]'``: Starlette, uvicorn,
python-multipart). ``create_app`` builds the ASGI app over an opened ``vsearch.Library``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vsearch.serve.limits import Limits

__all__ = ["Limits", "create_app"]


def __getattr__(name: str) -> Any:
    # Starlette loads only when the server is used: `import vsearch.serve` stays light.
    if name == "create_app":
        from vsearch.serve.app import create_app

        return create_app
    if name == "Limits":
        from vsearch.serve.limits import Limits

        return Limits
    raise AttributeError(name)
