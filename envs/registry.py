"""The world registry: every environment declares itself once, in its own module.

A world declares itself with the :func:`register_env` decorator on its constructor::

    @register_env("linear_gaussian", sizes={"num_actions": "num_actions", "context_dim": "context_dim"},
                  gym_id="screentest/LinearGaussian-v0", context_bounds=(-1.0, 1.0),
                  cli="linear", cli_defaults={"num_actions": 10, "context_dim": 5, "seed": 0})
    def linear_gaussian(num_actions=10, context_dim=10, ..., seed=0) -> Env: ...

The declaration says what the rest of the project needs to know without building the world: the
constructor, how its static sizes (``num_actions``, ``context_dim``, ``len_list``) follow from the
constructor's arguments, its Gymnasium id and entry points, and its ``screentest`` config node
(option name in the ``env`` group and the node's presets). ``envs.gym`` registers the Gymnasium ids
from it, ``experiments`` generates the ``env`` config group from it, and the main job's pre-check
reads the sizes from it.

Arguments of :func:`register_env` are Python literals, so the registry reads the declarations
from the source of the ``envs`` modules (:mod:`ast`) without importing them: importing :mod:`envs`
registers the Gymnasium ids without importing JAX, and a constructor is imported only when its world
is built. Every module under the directories of ``envs.__path__`` is read, so adding a world is one
new module (and its test). A module outside ``envs`` can declare worlds too: importing it runs the
decorator, which registers the declaration (:func:`declarations` lists both kinds).
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "SIZE_KEYS",
    "PROVIDES",
    "EnvDecl",
    "EnvSizes",
    "register_env",
    "declarations",
    "declaration",
    "by_cli_name",
    "gym_ids",
    "build",
    "load",
]

#: Sizes every world has (``bandits.contracts.Env`` fields).
SIZE_KEYS = ("num_actions", "context_dim", "len_list")

#: What a world may provide to the policies that need it (``bandits.policies.registry.NEEDS``).
PROVIDES = {"item_features": "(num_actions, p) float item features"}

#: Gymnasium entry points of worlds that name none: build the world from the registry by name.
DEFAULT_GYM_ENTRY = "envs.gym:make_registered"
DEFAULT_GYM_VEC_ENTRY = "envs.gym:make_vec_registered"


class EnvSizes(NamedTuple):
    """Static sizes of a world: actions K, context dimension d, slots per round L."""

    num_actions: int
    context_dim: int
    len_list: int


@dataclass(frozen=True)
class EnvDecl:
    """What a registered world declares about itself.

    name: registry name. constructor: ``"module:function"`` building it (imported on use).
    sizes: how the static sizes follow from the constructor's keyword arguments: for each of
        :data:`SIZE_KEYS`, the name of the argument that sets it or a fixed int (missing keys: 1);
        or ``"module:function"``, a function ``(data, **kwargs) -> EnvSizes`` for worlds fitted on
        logged data (cheap: no fit); None when the sizes are only known once the world is built.
    fit_on_data: the constructor's first argument is logged data (:class:`bandits.data.LoggedData`).
    gym_id: Gymnasium id (None: not registered with Gymnasium); gym_entry, gym_vec_entry: its
        entry points (default: the registry-driven factories of :mod:`envs.gym`).
    context_bounds: ``(low, high)`` of every context coordinate with the constructor's default
        context distribution (the Gymnasium observation space); None = unbounded.
    cli: option name in the ``screentest`` ``env`` config group (None: not offered there).
    cli_defaults: fields of that config node with their presets (constructor arguments).
    cli_types: type of the fields whose preset is None (``"list[float]"``, ``"int"``, ...).
    provides: what the world gives to policies that need it (keys of :data:`PROVIDES`).
    """

    name: str
    constructor: str
    sizes: Mapping[str, str | int] | str | None = None
    fit_on_data: bool = False
    gym_id: str | None = None
    gym_entry: str = DEFAULT_GYM_ENTRY
    gym_vec_entry: str = DEFAULT_GYM_VEC_ENTRY
    context_bounds: tuple[float, float] | None = None
    cli: str | None = None
    cli_defaults: Mapping[str, Any] = field(default_factory=dict)
    cli_types: Mapping[str, str] = field(default_factory=dict)
    provides: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.constructor.split(":", 1)[0]

    def load(self) -> Callable[..., Any]:
        """The constructor (imports its module)."""
        return load(self.constructor)

    def env_sizes(self, kwargs: Mapping[str, Any], data: Any = None) -> EnvSizes:
        """The sizes of the world built with ``kwargs`` (and ``data`` for worlds fitted on data),
        without building it. Missing arguments take the ``cli_defaults`` preset.

        Raises ``ValueError`` naming the argument when a size is not a positive integer.
        """
        if self.sizes is None:
            raise ValueError(f"env {self.name!r}: declares no sizes (they are known once the world is built)")
        if isinstance(self.sizes, str):
            if data is None:
                raise ValueError(f"env {self.name!r}: its sizes come from the logged data; got no data")
            return EnvSizes(*load(self.sizes)(data, **kwargs))
        out = []
        for key in SIZE_KEYS:
            spec = self.sizes.get(key, 1)
            if isinstance(spec, str):
                value = kwargs.get(spec, self.cli_defaults.get(spec))
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"env.{spec}: expected an integer >= 1, got {value!r}")
                out.append(int(value))
            else:
                out.append(int(spec))
        return EnvSizes(*out)


def load(ref: str) -> Callable[..., Any]:
    """Import ``"module:qualname"`` and return the object."""
    module, _, qual = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


_FIELDS = {f for f in EnvDecl.__dataclass_fields__ if f not in ("name", "constructor")}


def _make_decl(name: str, constructor: str, kwargs: Mapping[str, Any]) -> EnvDecl:
    where = f"register_env({name!r})"
    bad = sorted(set(kwargs) - _FIELDS)
    if bad:
        raise TypeError(f"{where}: unknown argument(s) {bad}; expected some of {sorted(_FIELDS)}")
    kw = dict(kwargs)
    sizes = kw.get("sizes")
    if sizes is None:
        pass
    elif isinstance(sizes, Mapping):
        bad = sorted(set(sizes) - set(SIZE_KEYS))
        if bad:
            raise ValueError(f"{where}: sizes: expected keys among {list(SIZE_KEYS)}, got {bad}")
    elif not (isinstance(sizes, str) and ":" in sizes):
        raise ValueError(f"{where}: sizes: expected a mapping or 'module:function', got {sizes!r}")
    bad = sorted(set(kw.get("provides", ())) - set(PROVIDES))
    if bad:
        raise ValueError(f"{where}: provides: expected some of {sorted(PROVIDES)}, got {bad}")
    for key in ("provides",):
        if key in kw:
            kw[key] = tuple(kw[key])
    if kw.get("context_bounds") is not None:
        kw["context_bounds"] = tuple(float(v) for v in kw["context_bounds"])
    return EnvDecl(name=name, constructor=constructor, **kw)


# declarations registered at run time (by importing a module that uses the decorator)
_RUNTIME: dict[str, EnvDecl] = {}


def register_env(name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: declare the world built by the decorated constructor (fields of :class:`EnvDecl`).

    Keep every argument a Python literal: the declaration is also read from the module's source
    without importing it. Returns the constructor unchanged; raises naming the argument for an
    unknown field, size key or ``provides`` entry, and for a name declared by two constructors.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        decl = _make_decl(name, f"{fn.__module__}:{fn.__qualname__}", kwargs)
        old = _RUNTIME.get(name)
        if old is not None and old.constructor != decl.constructor:
            raise ValueError(f"env name {name!r} registered twice ({old.constructor} and {decl.constructor})")
        _RUNTIME[name] = decl
        return fn

    return deco


def _is_register_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Name) and f.id == "register_env") or (
        isinstance(f, ast.Attribute) and f.attr == "register_env")


def _read_module(path: Path, module: str) -> list[EnvDecl]:
    """The ``@register_env`` declarations in one source file (module-level functions)."""
    text = path.read_text()
    if "register_env" not in text:
        return []
    out = []
    for node in ast.parse(text, str(path)).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not _is_register_call(dec):
                continue
            where = f"{path}:{dec.lineno}"
            try:
                name = ast.literal_eval(dec.args[0])
                kwargs = {k.arg: ast.literal_eval(k.value) for k in dec.keywords}
            except (ValueError, IndexError, TypeError) as e:
                raise ValueError(f"{where}: register_env arguments must be Python literals ({e})") from None
            out.append(_make_decl(name, f"{module}:{node.name}", kwargs))
    return out


_SCAN_CACHE: dict[tuple, dict[str, EnvDecl]] = {}


def _package_files() -> list[tuple[Path, str]]:
    # the envs package is always imported before this module (``sys.modules``: no import cycle)
    files = []
    for root in sys.modules["envs"].__path__:
        root = Path(root)
        for p in sorted(root.rglob("*.py")):
            rel = p.relative_to(root).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            files.append((p, ".".join(("envs", *rel))))
    return files


def _scan() -> dict[str, EnvDecl]:
    files = _package_files()
    key = tuple((str(p), p.stat().st_mtime_ns) for p, _ in files)
    if key not in _SCAN_CACHE:
        found: dict[str, EnvDecl] = {}
        for p, module in files:
            for d in _read_module(p, module):
                if d.name in found and found[d.name].constructor != d.constructor:
                    raise ValueError(f"env name {d.name!r} declared twice ({found[d.name].constructor} and "
                                     f"{d.constructor})")
                found[d.name] = d
        _SCAN_CACHE.clear()
        _SCAN_CACHE[key] = found
    return _SCAN_CACHE[key]


def declarations() -> dict[str, EnvDecl]:
    """Every declared world by name: those read from the ``envs`` package's sources and those
    registered by imported modules (the same declaration read both ways is listed once)."""
    out = dict(_scan())
    for name, d in _RUNTIME.items():
        if name in out and out[name].constructor != d.constructor:
            raise ValueError(f"env name {name!r} registered twice ({out[name].constructor} and {d.constructor})")
        out.setdefault(name, d)
    return out


def declaration(name: str) -> EnvDecl:
    """The declaration of the world ``name``; unknown names raise ``KeyError`` listing the choices."""
    decls = declarations()
    if name not in decls:
        raise KeyError(f"unknown env {name!r}; registered envs: {sorted(decls)}")
    return decls[name]


def by_cli_name() -> dict[str, EnvDecl]:
    """Worlds offered by the ``screentest`` ``env`` config group, by option name."""
    out: dict[str, EnvDecl] = {}
    for d in declarations().values():
        if d.cli is None:
            continue
        if d.cli in out:
            raise ValueError(f"env config option {d.cli!r} declared by both {out[d.cli].name!r} and {d.name!r}")
        out[d.cli] = d
    return out


def gym_ids() -> dict[str, EnvDecl]:
    """Worlds registered with Gymnasium, by Gymnasium id."""
    return {d.gym_id: d for d in sorted(declarations().values(), key=lambda d: d.name) if d.gym_id}


def build(name: str, *args: Any, **kwargs: Any) -> Any:
    """Build the registered world ``name`` (its constructor called with the arguments)."""
    return declaration(name).load()(*args, **kwargs)
