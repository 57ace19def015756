"""Worlds: environments in the :class:`bandits.contracts.Env` protocol.

- :mod:`envs.synthetic`: linear-Gaussian, logistic-Bernoulli and K-armed Bernoulli worlds.
- :mod:`envs.logged`: the member simulator calibrated on logged data.
- :mod:`envs.catalog`: a living catalog (new titles, live events with trends, drift) around any world.
- :mod:`envs.feedback`: two-stage (play, then complete) feedback.
- :mod:`envs.gym`: the Gymnasium adapter. Importing :mod:`envs` registers the ``screentest/...`` ids with
  Gymnasium (entry points are strings, so nothing JAX-heavy is imported until an env is made).
- :mod:`envs.registry`: every world's declaration (constructor, sizes, Gymnasium id, config node),
  read from the modules' sources.

Worlds import only the shared contracts and logged-data types (:mod:`bandits.contracts`,
:mod:`bandits.data`, :mod:`bandits.datasets`), never policies, estimators or the engine
(docs/architecture.md).
"""

from __future__ import annotations

from envs.registry import DEFAULT_GYM_ENTRY, gym_ids

GYM_IDS: dict[str, tuple[str, str]] = {gid: (d.gym_entry, d.gym_vec_entry) for gid, d in gym_ids().items()}
"""Registered Gymnasium id -> (entry point, vector entry point), from the worlds' declarations
(:mod:`envs.registry`)."""


def register_gymnasium_envs() -> None:
    """Register every declared Gymnasium id (idempotent; a no-op without gymnasium)."""
    try:
        import gymnasium
    except ImportError:  # the `gym` extra is not installed: nothing to register
        return
    for env_id, decl in gym_ids().items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=decl.gym_entry,
            vector_entry_point=decl.gym_vec_entry,
            # the registry-driven factories build the world by name
            kwargs={"world": decl.name} if decl.gym_entry == DEFAULT_GYM_ENTRY else {},
            disable_env_checker=False,
        )


register_gymnasium_envs()
