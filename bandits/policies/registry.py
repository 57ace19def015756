"""The policy registry: every policy declares itself here, once.

A declaration (:class:`PolicyDecl`) holds everything the rest of the project needs to know about a
policy without building it: the constructor, the hyperparameter NamedTuple, the valid range of each
hyperparameter, traits such as "context free" or "slate", configuration aliases, what the policy
needs from the world (item features) and the presets of its command-line node. The engine,
:mod:`bandits.validation`, the ``screentest`` configs and the docs read the declaration instead of
repeating it.

A policy module declares itself with the :func:`register` decorator on its constructor::

    @register("linucb", hparams=LinUCBHParams, rules={"alpha": V.NONNEGATIVE, "lam": V.POSITIVE},
              cli_defaults={"alpha": 1.0})
    def linucb(num_actions, context_dim, dtype=jnp.float32, ...) -> Policy: ...

Every module of :mod:`bandits.policies` is imported when the package is (``pkgutil``), so adding a
policy is one new module (and its test). This module imports nothing but the contracts, so every
other policy module and :mod:`bandits.validation` can read it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bandits.contracts import Policy

__all__ = [
    "TRAITS",
    "NEEDS",
    "HParamRule",
    "PolicyDecl",
    "REGISTRY",
    "register",
    "declaration",
    "make",
    "split_wrapped_name",
]

#: Traits a declaration may carry, and what each promises.
TRAITS: dict[str, str] = {
    "context_free": "ignores the context: built with context_dim=1, runs in any world",
    "slate": "fills the world's len_list slots (action (L,), probs (K, L)); the constructor takes len_list",
    "single_slot": "with 'slate': also serves len_list=1 with the single-action protocol",
    "wrapper": "wraps the registered policy named by its static option 'base' (adds its traits and rules)",
}

#: Constructor inputs a policy may need from the world it runs in (``needs=``).
NEEDS: dict[str, str] = {
    "item_features": "(num_actions, p) float features of the items, from worlds that have them",
}


class HParamRule(Protocol):
    """A hyperparameter range: ``ok(values) -> bool array`` element-wise, ``describe() -> str``
    (e.g. :class:`bandits.validation.Interval`)."""

    def ok(self, v: Any) -> Any: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class PolicyDecl:
    """What a registered policy declares about itself.

    name: registry name (``Policy.name`` of what ``build`` returns).
    build: the constructor ``(num_actions, context_dim, dtype, **static) -> Policy``.
    hparams: the hyperparameter NamedTuple class (field names and defaults), or None for a
        ``wrapper``, whose fields are its base's plus the keys of ``rules``.
    rules: hyperparameter name -> :class:`HParamRule` (valid range, checked element-wise).
    traits: a subset of :data:`TRAITS`.
    aliases: configuration name -> hyperparameter name (``{"alpha": "v"}``: one override,
        ``policy.alpha``, sets the exploration scale of several families).
    needs: constructor inputs taken from the world (keys of :data:`NEEDS`).
    cli_defaults: hyperparameter presets of the policy's ``screentest`` config node, by
        configuration name; hyperparameters without a preset keep the constructor's default.
    """

    name: str
    build: Callable[..., Policy]
    hparams: type | None = None
    rules: Mapping[str, HParamRule] = field(default_factory=dict)
    traits: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    cli_defaults: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, **kwargs: Any) -> Policy:
        """Build the policy (same as ``build(**kwargs)``)."""
        return self.build(**kwargs)

    @property
    def module(self) -> str:
        """The module that declared the policy."""
        return self.build.__module__

    @property
    def context_free(self) -> bool:
        return "context_free" in self.traits

    def takes(self, option: str) -> bool:
        """True if the constructor names the keyword ``option`` (a wrapper's ``**kwargs`` for its
        base do not count: what they accept depends on the base)."""
        return option in inspect.signature(self.build).parameters

    def static_default(self, option: str) -> Any:
        """The constructor's default for ``option`` (``inspect.Parameter.empty`` if none)."""
        p = inspect.signature(self.build).parameters.get(option)
        return inspect.Parameter.empty if p is None else p.default

    def base_name(self, static: Mapping[str, Any] | None = None) -> str | None:
        """For a ``wrapper``: the registry name of the wrapped policy (``static['base']`` or the
        constructor's default); None otherwise."""
        if "wrapper" not in self.traits:
            return None
        base = (static or {}).get("base", self.static_default("base"))
        return None if base is inspect.Parameter.empty else str(base)

    def effective(self, static: Mapping[str, Any] | None = None) -> tuple[frozenset[str], tuple[str, ...]]:
        """``(traits, needs)`` of the policy as built with ``static``: a wrapper adds its base's."""
        traits, needs = set(self.traits), list(self.needs)
        base = self.base_name(static)
        if base is not None:
            bt, bn = declaration(base).effective()
            traits |= bt
            needs += [n for n in bn if n not in needs]
        traits.discard("wrapper")
        return frozenset(traits), tuple(needs)

    def hparam_names(self, static: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """Hyperparameter field names of the policy as built with ``static`` (a wrapper: its base's
        fields, then its own)."""
        base = self.base_name(static)
        own = tuple(self.hparams._fields) if self.hparams is not None else tuple(self.rules)
        if base is None:
            return own
        return declaration(base).hparam_names() + tuple(f for f in own if f not in declaration(base).hparam_names())

    def hparam_rules(self, static: Mapping[str, Any] | None = None) -> dict[str, HParamRule]:
        """Rules of every hyperparameter of the policy as built with ``static`` (a wrapper adds its base's)."""
        base = self.base_name(static)
        out = dict(declaration(base).hparam_rules()) if base is not None else {}
        out.update(self.rules)
        return out

    def config_names(self, static: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Configuration name -> hyperparameter name, for every hyperparameter (aliases applied:
        ``lints`` is configured with ``alpha``, which sets its ``v``)."""
        alias_of = {h: a for a, h in self.aliases.items()}
        return {alias_of.get(h, h): h for h in self.hparam_names(static)}

    def supports_len_list(self, len_list: int, static: Mapping[str, Any] | None = None) -> bool:
        """True if the policy can fill ``len_list`` slots per round."""
        traits, _ = self.effective(static)
        if "slate" in traits:
            return int(len_list) >= 2 or "single_slot" in traits
        return int(len_list) == 1


#: registry name -> declaration (a declaration is callable: ``REGISTRY[name](**kw)`` builds the policy)
REGISTRY: dict[str, PolicyDecl] = {}


def _check_rule(where: str, rule: Any) -> None:
    if not (callable(getattr(rule, "ok", None)) and callable(getattr(rule, "describe", None))):
        raise TypeError(f"{where}: expected a rule with ok() and describe() (e.g. bandits.validation.Interval), "
                        f"got {type(rule).__name__}")


def register(
    name: str,
    *,
    hparams: type | None = None,
    rules: Mapping[str, HParamRule] | None = None,
    traits: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    needs: Iterable[str] = (),
    cli_defaults: Mapping[str, float] | None = None,
) -> Callable[[Callable[..., Policy]], Callable[..., Policy]]:
    """Decorator: declare the policy built by the decorated constructor (see :class:`PolicyDecl`).

    Returns the constructor unchanged. Raises ``ValueError`` naming the argument for an unknown
    trait or need, a rule or alias naming no hyperparameter, or a name declared twice by
    different constructors.
    """
    rules = dict(rules or {})
    traits = frozenset(traits)
    aliases = dict(aliases or {})
    needs = tuple(needs)
    cli_defaults = dict(cli_defaults or {})
    where = f"register({name!r})"
    bad = sorted(traits - set(TRAITS))
    if bad:
        raise ValueError(f"{where}: traits: expected some of {sorted(TRAITS)}, got unknown {bad}")
    bad = sorted(set(needs) - set(NEEDS))
    if bad:
        raise ValueError(f"{where}: needs: expected some of {sorted(NEEDS)}, got unknown {bad}")
    if hparams is not None and not hasattr(hparams, "_fields"):
        raise ValueError(f"{where}: hparams: expected a NamedTuple class, got {hparams!r}")
    if hparams is None and "wrapper" not in traits:
        raise ValueError(f"{where}: hparams: expected the hyperparameter NamedTuple class (None only for wrappers)")
    for k, r in rules.items():
        _check_rule(f"{where}: rules[{k!r}]", r)
    if hparams is not None:
        fields = set(hparams._fields)
        bad = sorted(set(rules) - fields)
        if bad:
            raise ValueError(f"{where}: rules: {bad} are not fields of {hparams.__name__} {sorted(fields)}")
        bad = sorted(h for h in aliases.values() if h not in fields)
        if bad:
            raise ValueError(f"{where}: aliases: {bad} are not fields of {hparams.__name__} {sorted(fields)}")
        names = {a for a in aliases} | (fields - set(aliases.values()))
        bad = sorted(set(cli_defaults) - names)
        if bad:
            raise ValueError(f"{where}: cli_defaults: {bad} are not configuration names; expected some of {sorted(names)}")

    def deco(fn: Callable[..., Policy]) -> Callable[..., Policy]:
        old = REGISTRY.get(name)
        if old is not None and (old.build.__module__, old.build.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"policy name {name!r} registered twice ({old.module} and {fn.__module__})")
        REGISTRY[name] = PolicyDecl(name=name, build=fn, hparams=hparams, rules=rules, traits=traits,
                                    aliases=aliases, needs=needs, cli_defaults=cli_defaults)
        return fn

    return deco


def split_wrapped_name(name: str) -> tuple[str, str | None]:
    """``"batched(linucb)" -> ("batched", "linucb")``; ``"linucb" -> ("linucb", None)``."""
    if name.endswith(")") and "(" in name:
        outer, inner = name.split("(", 1)
        return outer, inner[:-1]
    return name, None


def declaration(name: str) -> PolicyDecl:
    """The declaration of the registered policy ``name``; unknown names raise ``KeyError`` listing
    the choices."""
    if name not in REGISTRY:
        raise KeyError(f"unknown policy {name!r}; registered policies: {sorted(REGISTRY)}")
    return REGISTRY[name]


def make(name: str, **kwargs: Any) -> Policy:
    """Build a registered policy by name; unknown names raise ``KeyError`` listing the choices."""
    return declaration(name).build(**kwargs)
