"""The main job's simulator and OPE stages: calibrate a member simulator on logs, log with a
behaviour policy inside it, estimate every candidate off-policy, compare with the exact truth.

Built on :func:`envs.logged.fit_member_simulator` (the simulator and its held-out calibration
report), :func:`bandits.engine.rollout.rollout` (``log=True``: logged feedback
with the behaviour policy's true propensities), :func:`bandits.estimators.policy_action_dist`
(obp's ``action_dist`` of a frozen policy) and :func:`bandits.estimators.evaluate` (IPW, SNIPW,
DM, DR, ... with intervals), and :func:`envs.logged.policy_value` (the exact value of a policy in
the simulator: the ground truth an estimate is checked against).

The evaluation policies. OPE evaluates a *fixed* policy, so each candidate is first trained
(``policy.update`` folded over one ``lax.scan``) on a separate training log of ``ope.rounds``
rounds drawn from the simulator with the behaviour policy (key stream ``TRAIN_SEED``), then frozen.
Its truth is ``policy_value`` over the simulator's whole member pool; its estimates come from
``ope.seeds`` independent evaluation logs (seeds ``0 .. ope.seeds - 1``), one stored cell per
(candidate, hyperparameter point, log), so ``covered`` (the share of logs whose interval contains
the truth) measures the intervals' real coverage.

Tables written: ``calibration`` (the simulator's held-out reliability bins) and ``ope`` (one row
per (config, candidate, hyperparameters, estimator, logging seed): ``estimate, ci_lo, ci_hi, truth`` plus the
estimator's diagnostics).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from bandits.caching import IdentityLRU
from bandits.data import LoggedData
from experiments import store
from experiments.bakeoff import candidate_columns, candidate_id, points_of
from experiments.builders import ConfigError, PolicySpec, World, traits_of

TRAIN_SEED = 1_000_003  # key stream of the training log (disjoint from the evaluation logs' seeds)
POLICY_KEY_SEED = 7  # key of the frozen policies' Monte Carlo probabilities


def calibration_rows(sim, label: str = "member_simulator") -> pd.DataFrame:
    """The simulator's held-out reliability bins as rows: ``bin, predicted, observed, ci_lo, ci_hi,
    count, label`` plus the report's scalar metrics (``auc, log_loss, log_loss_baseline, ece``)."""
    r = sim.report.reliability
    n = len(r.get("mean_pred", []))
    return pd.DataFrame({
        "bin": np.arange(n), "predicted": np.asarray(r["mean_pred"], np.float64)[:n],
        "observed": np.asarray(r["observed"], np.float64)[:n], "ci_lo": np.asarray(r["ci_lo"], np.float64)[:n],
        "ci_hi": np.asarray(r["ci_hi"], np.float64)[:n], "count": np.asarray(r["weight"], np.float64)[:n],
        "label": label, "auc": float(sim.report.auc), "log_loss": float(sim.report.log_loss),
        "log_loss_baseline": float(sim.report.log_loss_baseline), "ece": float(sim.report.ece),
    })


# ----------------------------------------------------------------------------- logging and training


def estimators_from_config(est: dict[str, Any]) -> list:
    """The ``estimator`` config group's ``names`` as :class:`bandits.estimators.Estimator` objects,
    read through the estimator registry; a ``ConfigError`` naming ``estimator.names`` and the
    registered estimators otherwise."""
    from bandits.estimators.core import as_estimators

    try:
        return as_estimators(list(est["names"]))
    except (KeyError, ValueError, TypeError) as e:
        raise ConfigError(f"estimator.names: {e}") from None


def log_with(env, policy, hparams, seed: int, rounds: int) -> LoggedData:
    """``rounds`` rounds of ``policy`` in ``env`` with logged feedback -> :class:`bandits.data.LoggedData`."""
    import jax

    from bandits.engine.rollout import rollout, to_logged_data

    traj = rollout(env, policy, jax.random.key(int(seed)), hparams, None, int(rounds), log=True)
    return to_logged_data(traj, env.num_actions)


_TRAIN_CACHE: IdentityLRU = IdentityLRU(maxsize=32)


def train_on_log(policy, hparams, logged: LoggedData, seed: int = 0):
    """Fold ``policy.update`` over a log's rows (one jitted ``lax.scan``); returns the final state."""
    import jax
    import jax.numpy as jnp

    def build():
        def fit(key, hp, X, A, R):
            state = policy.init(key, hp)

            def body(s, row):
                x, a, r = row
                return policy.update(s, x, a, r, hp), None

            s, _ = jax.lax.scan(body, state, (X, A, R))
            return s

        return jax.jit(fit)

    fit = _TRAIN_CACHE.get(build, policy)
    dt = jnp.result_type(float)
    hp = jax.tree.map(lambda v: jnp.asarray(v, dt), hparams)
    return fit(jax.random.key(int(seed)), hp, jnp.asarray(logged.context, dt),
               jnp.asarray(logged.action, jnp.int32), jnp.asarray(logged.reward, dt))


def frozen_action_dist(policy, state, hparams, context) -> np.ndarray:
    """``(n, K, 1)`` action distribution of a frozen policy on ``context (n, d)``.

    Context-free policies (``policy.context_dim == 1`` against wider contexts) are evaluated once
    and broadcast over the rows (``per_row=False``): same numbers, n times less work.
    """
    import jax
    import jax.numpy as jnp

    from bandits.estimators import policy_action_dist

    dt = jnp.result_type(float)
    hp = jax.tree.map(lambda v: jnp.asarray(v, dt), hparams)
    ctx = np.asarray(context, np.float32)
    key = jax.random.key(POLICY_KEY_SEED)
    if policy.context_dim == 1 and ctx.shape[1] != 1:
        one = policy_action_dist(policy, state, hp, np.zeros((1, 1), np.float32), key, block_size=1)
        return np.broadcast_to(one, (ctx.shape[0],) + one.shape[1:])
    return policy_action_dist(policy, state, hp, ctx, key)


# ----------------------------------------------------------------------------- the stage


def ope_cell_id(spec: PolicySpec, point, seed: int) -> str:
    """Name of the ``ope`` cell of one candidate's hyperparameter point on logging seed ``seed``."""
    return f"ope-{store.safe_name(spec.label)}-{candidate_id(spec)[:8]}-{point.hash}-seed{seed:05d}"


def run(sim, data, specs, c: dict[str, Any], *, root: str, config_hash: str, provenance: dict[str, str],
        console=None, world: World | None = None, force: bool = False) -> dict[str, Any]:
    """Run (or resume) the OPE stage; writes the ``calibration`` and ``ope`` tables. Returns counts.

    world: what the candidates are built against (default: the simulator's sizes, nothing provided).
    force: recompute (and overwrite) every cell of this run.
    """
    from bandits.estimators import evaluate, fit_reward_model
    from envs.logged import policy_value

    t0 = time.perf_counter()
    env = sim.env
    label = c["env"].get("label", "member_simulator")
    store.write_cell(root, "calibration", config_hash, "calibration", calibration_rows(sim, label), provenance)

    ope = c["ope"]
    est = c["estimator"]
    rounds, n_seeds = int(ope["rounds"]), int(ope["seeds"])

    world = world or World(label, env.num_actions, env.context_dim, env.len_list)
    behavior = PolicySpec(label="behavior", name=ope["behavior"]).build(world)
    b_hp = behavior.default_hparams

    # candidates: one frozen policy per (candidate, hyperparameter point), trained on one log
    train_log = log_with(env, behavior, b_hp, TRAIN_SEED, rounds)
    frozen = []
    for spec in specs:
        # Monte Carlo draws: ope.mc_samples for context-free candidates (their distribution is computed
        # once); contextual ones keep their own num_samples (a distribution per row is needed)
        if "context_free" in traits_of(spec.name, spec.static):
            policy = spec.build(world, num_samples=int(ope["mc_samples"]))
        else:
            policy = spec.build(world)
        for point in points_of(spec, policy):  # distinct points: one row per key
            hp = policy.hparams(**point.as_dict())
            state = train_on_log(policy, hp, train_log, seed=TRAIN_SEED)
            pool_dist = frozen_action_dist(policy, state, hp, np.asarray(env.default_params.contexts))
            truth = policy_value(env, pool_dist[:, :, 0])
            # a context-free frozen policy has one distribution for every row: computed once here
            fixed = pool_dist[:1] if policy.context_dim == 1 and env.context_dim != 1 else None
            frozen.append((spec, policy, hp, state, point, truth, fixed))

    estimators = estimators_from_config(est)
    model_based = any(e.needs_reward_model for e in estimators)
    computed = skipped = 0
    for seed in range(n_seeds):
        # one cell per (candidate, hyperparameter point, logging seed): its key is its identity,
        # so a rerun with other candidates adds cells and never duplicates a row
        todo = [f for f in frozen
                if force or not store.cell_done(root, "ope", config_hash, ope_cell_id(f[0], f[4], seed))]
        if not todo:
            skipped += 1
            continue
        logged = log_with(env, behavior, b_hp, seed, rounds)
        # one cross-fitted reward model per log, shared by every candidate (DM, DR, ...)
        q_hat = None
        if model_based:
            q_hat = fit_reward_model(logged, n_folds=int(est["reward_model_folds"]), random_state=seed)
        for spec, policy, hp, state, point, truth, fixed in todo:
            if fixed is not None:
                ad = np.broadcast_to(fixed, (logged.n_rounds,) + fixed.shape[1:])
            else:
                ad = frozen_action_dist(policy, state, hp, logged.context)
            res = evaluate(logged, ad, estimators=estimators, estimated_rewards=q_hat,
                           interval=est.get("interval", "normal"), alpha=float(est["alpha"]),
                           n_bootstrap=int(est["n_bootstrap"]), random_state=seed)
            rows = []
            for r in res.itertuples(index=False):
                rows.append({
                    "env": label, **candidate_columns(spec, point),
                    "estimator": r.estimator, "seed": seed, "rounds": rounds, "behavior": ope["behavior"],
                    "estimate": float(r.estimate), "ci_lo": float(r.ci_low), "ci_hi": float(r.ci_high),
                    "std_err": float(r.std_err), "ess_ratio": float(r.ess_ratio),
                    "unsupported_mass": float(r.unsupported_mass), "truth": float(truth),
                    "logged_mean_reward": float(np.mean(logged.reward)),
                })
            store.write_cell(root, "ope", config_hash, ope_cell_id(spec, point, seed), pd.DataFrame(rows),
                             provenance)
        computed += 1
    return {"ope_cells": n_seeds, "ope_computed": computed, "ope_skipped": skipped,
            "ope_seconds": time.perf_counter() - t0}
