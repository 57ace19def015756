"""The policy registry: every policy constructor, by name (see :mod:`bandits.policies`)."""

from __future__ import annotations

from collections.abc import Callable

from bandits.contracts import Policy

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
