"""How long-running pipeline calls report progress without printing anything themselves."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Implemented by the CLI (a rich progress bar); the library only calls it."""

    def begin(self, total: float, unit: str, description: str) -> None: ...

    def advance(self, amount: float, **info: float) -> None: ...

    def message(self, text: str) -> None: ...

    def end(self) -> None: ...


class NullProgress:
    def begin(self, total: float, unit: str, description: str) -> None:
        pass

    def advance(self, amount: float, **info: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def end(self) -> None:
        pass
