"""The one Registry behind encoder families, poolers, heads and index kinds: its duplicate
rule, its errors, lazy built-ins and entry-point plugins (real distributions on sys.path)."""

from __future__ import annotations

import logging
import subprocess
import sys
import types

import pytest

from vsearch.errors import RegistrationError, UnknownModelError
from vsearch.registry import Registry

GROUP = "vsearch.test-things"


@pytest.fixture()
def things(monkeypatch):
    """A fresh registry that plugin modules reach as ``thing_registry.THINGS``."""
    registry: Registry[object] = Registry("thing", entry_point_group=GROUP)
    holder = types.ModuleType("thing_registry")
    holder.THINGS = registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "thing_registry", holder)
    return registry


def test_register_get_and_sorted_names(things):
    @things.register("beta")
    def beta():
        return "b"

    things.add("alpha", 1)
    assert things.get("beta") is beta and things.get("alpha") == 1
    assert things.names() == ["alpha", "beta"]
    assert "alpha" in things and "gamma" not in things and 3 not in things
    assert things.origin("alpha") == "built-in"


def test_one_duplicate_rule(things):
    def first():
        pass

    def second():
        pass

    things.add("x", first)
    things.add("x", first)  # the same object again: a no-op
    with pytest.raises(RegistrationError, match="thing 'x' is already registered.*replace=True"):
        things.add("x", second)
    assert things.get("x") is first
    assert isinstance(RegistrationError("x"), ValueError)
    things.add("x", second, replace=True)
    assert things.get("x") is second
    things.add("y", (1, "a"))
    things.add("y", (1, "a"))  # an equal value: a no-op too


@pytest.mark.parametrize("name", ["", "Upper", "has space", "a:b", "a@b", "-lead", None])
def test_names_are_lowercase_words(things, name):
    with pytest.raises(RegistrationError, match="not valid"):
        things.add(name, 1)


def test_unknown_name_lists_the_known_ones_sorted(things):
    for name in ("zeta", "alpha", "mid"):
        things.add(name, name)
    with pytest.raises(UnknownModelError, match=r"unknown thing 'nope'; known: alpha, mid, zeta"):
        things.get("nope")
    with pytest.raises(UnknownModelError, match="known: none"):
        Registry("widget").get("x")


def test_builtins_are_imported_on_first_use(things, tmp_path, monkeypatch):
    (tmp_path / "builtin_things.py").write_text(
        "from thing_registry import THINGS\nTHINGS.add('builtin-one', 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "builtin_things", raising=False)
    registry: Registry[int] = Registry("thing", builtins=["builtin_things"])
    sys.modules["thing_registry"].THINGS = registry  # type: ignore[attr-defined]
    assert "builtin_things" not in sys.modules
    assert registry.get("builtin-one") == 1
    assert "builtin_things" in sys.modules
    sys.modules.pop("builtin_things")


# --- entry-point plugins ---------------------------------------------------------------------


def test_module_and_function_plugins_register(things, install_plugin):
    install_plugin(
        "thing-plugins",
        {GROUP: {"mod": "thing_mod", "fn": "thing_fn:register"}},
        {
            "thing_mod": "from thing_registry import THINGS\nTHINGS.add('from-module', 'm')\n",
            "thing_fn": (
                "from thing_registry import THINGS\n"
                "def register():\n    THINGS.add('from-function', 'f')\n"
            ),
        },
    )
    assert things.get("from-module") == "m"
    assert things.get("from-function") == "f"
    assert things.origin("from-module") == "plugin mod"
    assert things.names() == ["from-function", "from-module"]
    assert things.failed_plugins() == {}


def test_plugins_load_lazily_and_once(things, install_plugin):
    things.add("known", 0)
    install_plugin(
        "lazy-plugin",
        {GROUP: {"lazy": "lazy_thing"}},
        {
            "lazy_thing": (
                "from thing_registry import THINGS\n"
                "THINGS.add('lazy', 1)\n"
                "LOADS = globals().get('LOADS', 0) + 1\n"
            )
        },
    )
    assert things.get("known") == 0
    assert "lazy_thing" not in sys.modules  # a registered name never loads plugins
    assert things.names() == ["known", "lazy"]
    assert sys.modules["lazy_thing"].LOADS == 1
    things.names()
    with pytest.raises(UnknownModelError):
        things.get("still-unknown")
    assert sys.modules["lazy_thing"].LOADS == 1


def test_an_unknown_name_loads_the_plugins(things, install_plugin):
    install_plugin("late", {GROUP: {"late": "late_thing"}}, {"late_thing": _adds("late", "L")})
    assert things.get("late") == "L"


def _adds(*pairs: str) -> str:
    lines = ["from thing_registry import THINGS"]
    lines += [f"THINGS.add({a!r}, {b!r})" for a, b in zip(pairs[::2], pairs[1::2], strict=True)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("entry", "source", "cause"),
    [
        ("bad_import", "import no_such_module_anywhere\n", "ModuleNotFoundError"),
        ("bad_raise", _adds("half", 1) + "raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("bad_taken", _adds("good", 99), "RegistrationError: thing 'good' is already"),
        ("bad_empty", "X = 1\n", "registered no thing"),
        ("bad_value:X", "X = 1\n", "neither a module nor a function"),
        ("bad_syntax", "def (:\n", "SyntaxError"),
    ],
)
def test_a_broken_plugin_is_skipped_with_one_warning(
    things, install_plugin, caplog, entry, source, cause
):
    module = entry.partition(":")[0]
    install_plugin(
        "mixed",
        {GROUP: {"broken": entry, "fine": "fine_thing"}},
        {module: source, "fine_thing": _adds("fine", "ok")},
    )
    things.add("good", 0)
    with caplog.at_level(logging.WARNING, logger="vsearch.registry"):
        assert things.names() == ["fine", "good"]  # what it added before failing is taken back
        assert things.get("good") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'broken'" in warnings[0] and entry in warnings[0] and "from mixed" in warnings[0]
    assert cause in warnings[0]
    assert cause in things.failed_plugins()["broken"]
    with pytest.raises(UnknownModelError, match=r"plugin 'broken' failed to load"):
        things.get("half")


def test_a_plugin_cannot_replace_a_builtin(things, install_plugin, caplog):
    install_plugin(
        "usurper",
        {GROUP: {"usurper": "usurper_thing"}},
        {"usurper_thing": "from thing_registry import THINGS\nTHINGS.add('x', 2, replace=True)\n"},
    )
    things.add("x", 1)
    assert things.names() == ["x"] and things.get("x") == 1
    assert "already registered" in things.failed_plugins()["usurper"]


def test_import_vsearch_loads_no_plugin(install_plugin):
    """With a plugin installed, `import vsearch` and a built-in encoder import none of it."""
    root = install_plugin(
        "noisy",
        {"vsearch.encoders": {"noisy": "noisy_plugin"}},
        {"noisy_plugin": "raise SystemExit('imported')\n"},
    )
    code = (
        "import sys, vsearch, vsearch.cli, vsearch.models;"
        "vsearch.models.create_encoder('colorgrid');"
        "assert 'noisy_plugin' not in sys.modules"
    )
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    listing = "import vsearch.models; vsearch.models.list_encoders()"  # the control: found
    done = subprocess.run([sys.executable, "-c", listing], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "imported" in done.stderr


@pytest.mark.parametrize(
    ("kind", "taken"),
    [("encoders", "colorgrid"), ("poolers", "mean"), ("heads", "linear"), ("indexes", "numpy")],
)
def test_every_vsearch_registry_keeps_the_one_rule(registries, kind, taken):
    from vsearch.index import register_index
    from vsearch.models import register_encoder, register_pooler
    from vsearch.models.heads import register_head

    register = {
        "encoders": lambda replace: register_encoder(taken, replace=replace),
        "poolers": lambda replace: register_pooler(taken, replace=replace),
        "heads": lambda replace: register_head(taken, replace=replace),
        "indexes": lambda replace: register_index(taken, lambda p: None, replace=replace),
    }[kind]
    registry = registries[kind]
    before = registry.get(taken)

    def impostor(*args):
        raise AssertionError("never built")

    with pytest.raises(RegistrationError, match=f"'{taken}' is already registered"):
        register(False)(impostor)
    assert registry.get(taken) == before
    register(True)(impostor)
    assert registry.get(taken) != before
    with pytest.raises(
        UnknownModelError, match=f"unknown {registry.kind} 'nope'; known: .*{taken}"
    ):
        registry.get("nope")
