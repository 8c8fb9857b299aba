"""One registry of named implementations, used for every swappable part of vsearch.

Encoder families, temporal poolers, classifier heads and index kinds are each one ``Registry``
(as timm's ``register_model``/``list_models``), with the same rules:

* names are lowercase (``[a-z0-9][a-z0-9_-]*``); a lookup is exact, callers normalise first;
* a second registration of a taken name raises ``RegistrationError`` unless ``replace=True``;
  registering the same (equal) value again is a no-op, so a module may be imported twice;
* an unknown name raises ``UnknownModelError`` listing the known ones, sorted;
* ``builtins`` names the modules that register the built-in implementations: the registry
  imports them by name on first use, so they depend on it and not the other way round;
* ``entry_point_group`` (optional) names an entry-point group of third-party plugins. They are
  loaded once, lazily: on the first lookup of a name that is not registered, or on a listing;
  never at ``import vsearch``. Each entry point loads to a module whose import registers (with
  the registry's decorator), or to a function that is called once with no argument and
  registers. A plugin that fails (import error, exception, a name already taken, nothing
  registered) is skipped with one warning naming it and the cause; what it registered before
  failing is taken back, and vsearch goes on with the rest. A plugin never replaces a built-in.

stdlib only: ``import vsearch`` stays cheap.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from types import ModuleType
from typing import Generic, TypeVar

from vsearch.errors import RegistrationError, UnknownModelError

log = logging.getLogger(__name__)

T = TypeVar("T")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
BUILTIN = "built-in"  # the origin of what vsearch itself registers


class Registry(Generic[T]):
    """Named values of one kind (``kind`` names it in messages: "encoder family")."""

    def __init__(
        self, kind: str, *, builtins: Iterable[str] = (), entry_point_group: str | None = None
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtin_modules = tuple(builtins)
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._failed: dict[str, str] = {}  # plugin -> why it was skipped
        self._plugin: str | None = None  # the plugin being loaded, if any
        self._builtins_loaded = not self._builtin_modules
        self._plugins_loaded = entry_point_group is None
        self._lock = threading.RLock()

    # --- registering ---------------------------------------------------------------------

    def add(self, name: str, value: T, *, replace: bool = False) -> T:
        """Register ``value`` under ``name`` (the one duplicate rule: see the module doc)."""
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise RegistrationError(
                f"{self.kind} name {name!r} is not valid: lowercase letters, digits, '_' and '-'"
            )
        with self._lock:
            if name in self._entries:
                old = self._entries[name]
                if old is value or old == value:
                    return value
                if not replace or self._plugin is not None:
                    by = self._origins[name]
                    raise RegistrationError(
                        f"{self.kind} '{name}' is already registered ({by})"
                        + ("" if self._plugin else "; pass replace=True to replace it")
                    )
            self._entries[name] = value
            self._origins[name] = f"plugin {self._plugin}" if self._plugin else BUILTIN
        return value

    def register(self, name: str, *, replace: bool = False) -> Callable[[T], T]:
        """Decorator form of ``add``: ``@REGISTRY.register("name")``."""

        def decorate(value: T) -> T:
            return self.add(name, value, replace=replace)

        return decorate

    # --- looking up ------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The value registered as ``name``; an unknown name loads the plugins, then raises
        ``UnknownModelError`` listing the known names."""
        self._load_builtins()
        if name not in self._entries:
            self.load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModelError(self.unknown_message(name)) from None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except UnknownModelError:
            return False
        return True

    def names(self) -> list[str]:
        """Every registered name, sorted (plugins included)."""
        self._load_builtins()
        self.load_plugins()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """``"built-in"`` or ``"plugin NAME"``: where ``name`` was registered from."""
        self.get(name)
        return self._origins[name]

    def failed_plugins(self) -> dict[str, str]:
        """Plugins skipped because they failed, with the cause."""
        self.load_plugins()
        return dict(self._failed)

    def unknown_message(self, name: str) -> str:
        known = ", ".join(sorted(self._entries)) or "none"
        failed = "".join(
            f"; plugin '{plugin}' failed to load ({why})" for plugin, why in self._failed.items()
        )
        return f"unknown {self.kind} '{name}'; known: {known}{failed}"

    # --- loading ---------------------------------------------------------------------------

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        with self._lock:
            for module in self._builtin_modules:
                importlib.import_module(module)
            self._builtins_loaded = True

    def load_plugins(self) -> None:
        """Load the entry points of ``entry_point_group`` (once; later calls do nothing)."""
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True  # before loading: a plugin may list the registry
            self._load_builtins()
            try:
                found = metadata.entry_points(group=self.entry_point_group or "")
            except Exception as exc:  # a damaged installed distribution
                log.warning("cannot read the %s entry points: %s", self.entry_point_group, exc)
                return
            for entry_point in sorted(found, key=lambda ep: ep.name):
                self._load_plugin(entry_point)

    def _load_plugin(self, entry_point: metadata.EntryPoint) -> None:
        name = entry_point.name
        before = (dict(self._entries), dict(self._origins))
        self._plugin = name
        try:
            loaded = entry_point.load()
            if not isinstance(loaded, ModuleType):
                if not callable(loaded):
                    raise TypeError(f"{entry_point.value} is neither a module nor a function")
                loaded()
            if len(self._entries) == len(before[0]):
                raise RegistrationError(f"it registered no {self.kind}")
        except Exception as exc:  # a plugin must never break vsearch
            self._entries, self._origins = before
            self._failed[name] = f"{type(exc).__name__}: {exc}"
            dist = getattr(entry_point, "dist", None)
            log.warning(
                "skipped the %s plugin '%s' (%s%s): %s",
                self.entry_point_group,
                name,
                entry_point.value,
                f", from {dist.name}" if dist is not None else "",
                self._failed[name],
            )
        else:
            added = sorted(set(self._entries) - set(before[0]))
            log.debug("%s plugin '%s' registered %s", self.entry_point_group, name, added)
        finally:
            self._plugin = None
