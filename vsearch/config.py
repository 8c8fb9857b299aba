"""Settings: defaults < VSEARCH_* environment < explicit arguments (CLI flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

DEFAULT_MODEL = "open_clip:ViT-B-32@laion2b_s34b_b79k"


def _home() -> Path:
    if os.environ.get("VSEARCH_HOME"):
        return Path(os.environ["VSEARCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vsearch"


def default_library() -> Path:
    env = os.environ.get("VSEARCH_LIBRARY")
    if env:
        return Path(env).expanduser()
    return _home() / "library"


@dataclass(frozen=True)
class Settings:
    """Everything a pipeline call needs to know besides its own arguments."""

    library: Path
    model: str = DEFAULT_MODEL  # used when a library is created; an existing one keeps its own
    fps: float = 1.0  # sampled frames per second, fixed per library
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"
    decoders: int = 0  # parallel ffmpeg processes; 0 = auto
    batch_size: int = 0  # encoder batch; 0 = encoder default
    lock_timeout: float = 0.0  # seconds a writer waits for another writer; 0 = fail at once
    # Where the metadata lives: "" = library.db (SQLite) in the library folder; else an
    # SQLAlchemy URL of a shared server (postgresql+psycopg://...), with the library folder
    # holding this host's index files only (caches rebuilt from the database).
    db_url: str = ""

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from defaults, VSEARCH_* variables and non-None overrides."""
        values: dict[str, Any] = {"library": default_library()}
        env_map = {
            "model": ("VSEARCH_MODEL", str),
            "fps": ("VSEARCH_FPS", float),
            "device": ("VSEARCH_DEVICE", str),
            "decoders": ("VSEARCH_DECODERS", int),
            "batch_size": ("VSEARCH_BATCH_SIZE", int),
            "lock_timeout": ("VSEARCH_LOCK_TIMEOUT", float),
            "db_url": ("VSEARCH_DB_URL", str),
        }
        for name, (var, conv) in env_map.items():
            if os.environ.get(var):
                values[name] = conv(os.environ[var])
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise TypeError(f"unknown setting {key!r}")
            if value is not None:
                values[key] = value
        values["library"] = Path(values["library"]).expanduser().absolute()
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def decoder_count(self) -> int:
        if self.decoders > 0:
            return self.decoders
        return max(2, min(8, (os.cpu_count() or 2)))
