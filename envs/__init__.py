"""Bandit environments (the :class:`envs.core.Env` protocol) and their Gymnasium registration.

Importing :mod:`envs` registers these Gymnasium ids (entry points are strings, so nothing
JAX-heavy is imported until an env is made)::

    screentest/Member-v0            OBD-calibrated member simulator (envs.logged), 3-slot slates
    screentest/LinearGaussian-v0    envs.synthetic.linear_gaussian
    screentest/LogisticBernoulli-v0 envs.synthetic.logistic_bernoulli
    screentest/BernoulliBandit-v0   envs.synthetic.bernoulli_arms
    screentest/Catalog-v0           logistic-Bernoulli world with a living catalog (envs.catalog)

``gymnasium.make("screentest/LinearGaussian-v0", episode_length=500, num_actions=5)`` (after
``import envs``; or ``gymnasium.make("envs:screentest/LinearGaussian-v0")``) and
``gymnasium.make_vec(id, num_envs=8)`` (the jax.vmap vector env). See :mod:`envs.gym`.
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
