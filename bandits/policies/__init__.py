"""Policies: one module per family, each declaring itself in :mod:`bandits.policies.registry`.

``make(name, num_actions=K, context_dim=d, **static)`` builds a :class:`bandits.contracts.Policy`;
``REGISTRY[name]`` is the policy's declaration (:class:`~bandits.policies.registry.PolicyDecl`:
constructor, hyperparameters and their rules, traits, aliases, command-line presets). Every public
module of this package is imported here (``pkgutil``), so a new policy module registers itself
with no other edit; contract tests run over :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
import pkgutil

from bandits.policies.registry import REGISTRY, PolicyDecl, declaration, make, register

__all__ = ["REGISTRY", "PolicyDecl", "declaration", "make", "register", "discover"]


def discover() -> list[str]:
    """Import every public module of this package (each registers its policies); returns their names.

    Modules whose name starts with ``_`` (private helpers) are skipped. Safe to call again: modules
    are imported once, and a directory appended to ``bandits.policies.__path__`` is searched too.
    """
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "registry":
            continue
        importlib.import_module(f"{__name__}.{info.name}")
        names.append(info.name)
    return names


discover()
