"""The engine: runs any policy in any world, knowing only the contracts.

- :mod:`bandits.engine.rollout`: one policy in one environment for ``horizon`` rounds, one
  ``jax.lax.scan``; common random numbers; logged feedback as :class:`bandits.data.LoggedData`.
  Its public pieces (``check_compatible``, ``check_horizon``, ``check_hparams``, ``member_keys``,
  ``init_member``, ``round_inputs``, ``round_body``, ``scan_rounds``) are what sweep builds on.
- :mod:`bandits.engine.sweep`: seeds x hyperparameter grid x policies, one compiled call per policy,
  chunked and sharded over devices; a tidy DataFrame.
- :mod:`bandits.engine.prng`: a fusible Threefry key implementation, bit-identical to JAX's.
- :mod:`bandits.engine.replay`: replay of a learning policy through uniformly logged data.

The engine sits above both :mod:`bandits.policies` / :mod:`bandits.estimators` and :mod:`envs`
and below :mod:`experiments` (docs/architecture.md).
"""
