"""Policy registry: every policy constructor, by name.

``make(name, num_actions=K, context_dim=d, **static)`` builds a :class:`bandits.contracts.Policy`.
Each policy family lives in its own module and registers its constructor with
:func:`bandits.policies.registry.register`; contract tests run over :data:`REGISTRY`.
"""

from __future__ import annotations

# Policy family modules (each registers itself on import). Add new modules here.
from bandits.policies import (  # noqa: E402,F401,I001  # noqa: E402,F401,I001
    bts,
    epsilon_greedy,
    hybrid_linucb,
    lints,
    linucb,
    logistic_ts,
    neural,
    nonstationary,
    priors,
    random,
    slate,
    squarecb,
    thompson,
    ucb,
    wrappers,
)
from bandits.policies.registry import REGISTRY, make, register

__all__ = ["REGISTRY", "make", "register"]
