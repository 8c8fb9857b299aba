"""Settings: defaults < user config file < library config file < VSEARCH_* environment <
explicit arguments (CLI flags).

The config files are TOML with the keys of ``SETTING_VARS`` (the user's file may also name
the ``library``): ``config.toml`` in the user's config folder (platformdirs; on Linux
``~/.config/vsearch/config.toml``, or ``$VSEARCH_CONFIG``) and ``vsearch.toml`` in a library
folder. docs/configuration.md lists them, generated from ``SETTING_VARS``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from vsearch.errors import UsageError
from vsearch.types import DEFAULT_FRAMING, DEFAULT_MODEL, Framing

__version__ = "0.1.0"

DEFAULT_FPS = 1.0  # sampled frames per second of a new library


def _home() -> Path:
    if os.environ.get("VSEARCH_HOME"):
        return Path(os.environ["VSEARCH_HOME"]).expanduser()
    from platformdirs import user_data_path  # ~/.local/share/vsearch on Linux ($XDG_DATA_HOME)

    return user_data_path("vsearch")


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
    fps: float = DEFAULT_FPS  # sampled frames per second, fixed per library
    framing: str = DEFAULT_FRAMING.value  # frame geometry, fixed per library
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"
    decoders: int = 0  # parallel ffmpeg processes; 0 = auto
    batch_size: int = 0  # encoder batch; 0 = encoder default
    lock_timeout: float = 0.0  # seconds a writer waits for another writer; 0 = fail at once
    # Where the metadata lives: "" = library.db (SQLite) in the library folder; else an
    # SQLAlchemy URL of a shared server (postgresql+psycopg://...), with the library folder
    # holding this host's index files only (caches rebuilt from the database).
    db_url: str = ""

    def __post_init__(self) -> None:
        for name, (_var, _conv, check, _doc) in SETTING_VARS.items():
            problem = check(getattr(self, name))
            if problem:
                raise UsageError(f"{name.replace('_', '-')} {problem}, got {getattr(self, name)!r}")

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings from defaults, VSEARCH_* variables and non-None overrides.

        Every value is checked before any work starts: a malformed or out-of-range one is a
        UsageError naming it (exit 2), never a traceback or a run that damages the library.
        """
        values: dict[str, Any] = {"library": default_library()}
        user = read_config_file(user_config_path(), allow_library=True)
        if "library" in user and not os.environ.get("VSEARCH_LIBRARY"):
            values["library"] = Path(user.pop("library")).expanduser()
        user.pop("library", None)
        values |= user
        where = overrides.get("library") or values["library"]
        values |= read_config_file(Path(where).expanduser() / LIBRARY_CONFIG_NAME)
        for name, (var, conv, check, _doc) in SETTING_VARS.items():
            raw = os.environ.get(var, "").strip()
            if not raw:
                continue
            try:
                value = conv(raw)
            except ValueError:
                raise UsageError(f"{var}={raw!r}: not a valid {conv.__name__}") from None
            problem = check(value)
            if problem:
                raise UsageError(f"{var}={raw!r}: {problem}")
            values[name] = value
        known = {f.name for f in fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise TypeError(f"unknown setting {key!r}")
            if value is not None:
                values[key] = value
        library = values["library"]
        if not str(library).strip():
            raise UsageError("the library path is empty")
        values["library"] = Path(library).expanduser().absolute()
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def decoder_count(self) -> int:
        if self.decoders > 0:
            return self.decoders
        return max(2, min(8, (os.cpu_count() or 2)))


LIBRARY_CONFIG_NAME = "vsearch.toml"


def user_config_path() -> Path:
    """The user's config file: ``$VSEARCH_CONFIG``, else ``config.toml`` in the platform's
    user config folder (``~/.config/vsearch`` on Linux)."""
    if os.environ.get("VSEARCH_CONFIG"):
        return Path(os.environ["VSEARCH_CONFIG"]).expanduser()
    from platformdirs import user_config_path as folder

    return folder("vsearch") / "config.toml"


def read_config_file(path: Path, *, allow_library: bool = False) -> dict[str, Any]:
    """The settings of a TOML config file (nothing when it does not exist), each checked."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: not a readable TOML file ({exc})") from None
    known = [*SETTING_VARS, *(["library"] if allow_library else [])]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise UsageError(f"{path}: unknown setting {key!r}; known: {', '.join(known)}")
        if key == "library":
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"{path}: library must be a folder path")
            values[key] = value
            continue
        _var, conv, check, _doc = SETTING_VARS[key]
        if isinstance(value, bool) or not isinstance(
            value,
            conv | (int if conv is float else conv),  # type: ignore[operator]
        ):
            raise UsageError(f"{path}: {key} must be a {conv.__name__}, got {value!r}")
        problem = check(conv(value))
        if problem:
            raise UsageError(f"{path}: {key} {problem}, got {value!r}")
        values[key] = conv(value)
    return values


def settings_table() -> str:
    """The Markdown table of settings in docs/configuration.md, made from SETTING_VARS."""
    defaults = {f.name: f.default for f in fields(Settings)}
    lines = ["| config key | variable | default | meaning |", "| --- | --- | --- | --- |"]
    for name, (var, _conv, _check, doc) in SETTING_VARS.items():
        lines.append(f"| `{name}` | `{var}` | `{defaults[name]}` | {doc} |")
    lines.append(
        "| `library` (user file only) | `VSEARCH_LIBRARY` | `$VSEARCH_HOME/library` | "
        "the library folder when `--library` is not given |"
    )
    return "\n".join(lines) + "\n"


def _finite(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value):
            return "must be a finite number"
        if value < low or (low_open and value == low) or value > high:
            left = "(" if low_open else "["
            right = "]" if math.isfinite(high) else ")"
            return f"must be in {left}{low:g}, {high:g}{right}"
        return ""

    return check


def _text(value: Any) -> str:
    return "" if isinstance(value, str) and value.strip() else "must not be empty"


def _framing(value: Any) -> str:
    choices = [f.value for f in Framing]
    return "" if value in choices else f"must be one of {', '.join(choices)}"


def _db_url(value: Any) -> str:
    if not isinstance(value, str):
        return "must be a database URL"
    if value and "://" not in value:
        return "must be a database URL such as postgresql+psycopg://USER@HOST/DB"
    return ""


MAX_FPS = 60.0

# Every setting a VSEARCH_* variable may give: (variable, parser, check, help).
# The documentation's table of variables is generated from this mapping.
SETTING_VARS: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], str], str]] = {
    "model": ("VSEARCH_MODEL", str, _text, "frame encoder of a new library"),
    "fps": (
        "VSEARCH_FPS",
        float,
        _finite(0.0, MAX_FPS, low_open=True),
        "frames sampled per second of video (new library)",
    ),
    "framing": (
        "VSEARCH_FRAMING",
        str,
        _framing,
        "frame geometry of a new library: full (whole picture, uniform borders trimmed, "
        "squeezed to a square) or centre (centre square, borders kept)",
    ),
    "device": ("VSEARCH_DEVICE", str, _text, "auto, cpu, cuda or cuda:N"),
    "decoders": ("VSEARCH_DECODERS", int, _finite(0, 256), "parallel ffmpeg decoders; 0 = auto"),
    "batch_size": (
        "VSEARCH_BATCH_SIZE",
        int,
        _finite(0, 65536),
        "frames per encoder batch; 0 = the encoder's default",
    ),
    "lock_timeout": (
        "VSEARCH_LOCK_TIMEOUT",
        float,
        _finite(0.0, 7 * 86400.0),
        "seconds a writer waits for another writer; 0 = fail at once",
    ),
    "db_url": (
        "VSEARCH_DB_URL",
        str,
        _db_url,
        "metadata on a database server (postgresql+psycopg://USER@HOST/DB); "
        "empty = SQLite in the library folder",
    ),
}
