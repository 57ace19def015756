"""Worlds: environments in the :class:`bandits.contracts.Env` protocol.

- :mod:`envs.synthetic`: linear-Gaussian, logistic-Bernoulli and K-armed Bernoulli worlds.
- :mod:`envs.logged`: the member simulator calibrated on logged data.
- :mod:`envs.catalog`: a living catalog (new titles, live events with trends, drift) around any world.
- :mod:`envs.feedback`: two-stage (play, then complete) feedback.
- :mod:`envs.gym`: the Gymnasium adapter. Importing :mod:`envs` registers the ``screentest/...`` ids with
  Gymnasium (entry points are strings, so nothing JAX-heavy is imported until an env is made).

Worlds import only the shared contracts and logged-data types (:mod:`bandits.contracts`,
:mod:`bandits.data`, :mod:`bandits.datasets`), never policies, estimators or the engine
(docs/architecture.md).
"""

from __future__ import annotations

GYM_IDS: dict[str, tuple[str, str]] = {
    "screentest/Member-v0": ("make_member", "make_vec_member"),
    "screentest/LinearGaussian-v0": ("make_linear_gaussian", "make_vec_linear_gaussian"),
    "screentest/LogisticBernoulli-v0": ("make_logistic_bernoulli", "make_vec_logistic_bernoulli"),
    "screentest/BernoulliBandit-v0": ("make_bernoulli_bandit", "make_vec_bernoulli_bandit"),
    "screentest/Catalog-v0": ("make_catalog", "make_vec_catalog"),
}
"""Registered Gymnasium id -> (entry point, vector entry point) in :mod:`envs.gym`."""


def register_gymnasium_envs() -> None:
    """Register :data:`GYM_IDS` with Gymnasium (idempotent; a no-op without gymnasium)."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a core dependency
        return
    for env_id, (entry, vec_entry) in GYM_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=f"envs.gym:{entry}",
            vector_entry_point=f"envs.gym:{vec_entry}",
            disable_env_checker=False,
        )


register_gymnasium_envs()
