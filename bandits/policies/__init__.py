"""Policy registry: every policy constructor, by name.

``make(name, num_actions=K, context_dim=d, **static)`` builds a :class:`bandits.core.Policy`.
Each policy family lives in its own module and registers its constructor with
:func:`register`; contract tests run over :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Callable

from bandits.core import Policy

REGISTRY: dict[str, Callable[..., Policy]] = {}


def register(name: str) -> Callable[[Callable[..., Policy]], Callable[..., Policy]]:
    """Decorator: register a policy constructor under ``name``."""

    def deco(fn: Callable[..., Policy]) -> Callable[..., Policy]:
        if name in REGISTRY and REGISTRY[name] is not fn:
            raise ValueError(f"policy name {name!r} registered twice")
        REGISTRY[name] = fn
        return fn

    return deco


def make(name: str, **kwargs) -> Policy:
    """Build a registered policy by name; unknown names raise ``KeyError`` listing the choices."""
    if name not in REGISTRY:
        raise KeyError(f"unknown policy {name!r}; registered policies: {sorted(REGISTRY)}")
    return REGISTRY[name](**kwargs)


# Policy family modules (each registers itself on import). Add new modules here.
from bandits.policies import (  # noqa: E402,F401,I001
    bts,  # noqa: E402,F401
    hybrid_linucb,
    logistic_ts,
    nonstationary,
    priors,
    random,  # noqa: E402,F401
    slate,
    squarecb,
    wrappers,
)
from bandits.policies import epsilon_greedy, linucb, lints, thompson, ucb  # noqa: E402,F401,I001
