"""The replay environment (Li, Chu, Langford, Wang, WSDM 2011) over uniformly logged data.

With a logger that picked actions uniformly at random (``pscore = 1/K`` on every row), replaying
the log is an unbiased way to run a policy *online* on real members: walk through the rows in
order; show the row's context to the policy; if the policy chooses the logged action, the round
counts (the policy sees the logged reward and learns from it), otherwise the row is skipped and
the policy's state does not change. Each matched round is then distributed exactly as a round of
the policy run live (contexts i.i.d.), so the mean reward over the ``n_matched`` rounds estimates
the policy's online average reward over about ``n / K`` rounds.

Two forms:

- :func:`replay_evaluate` (streaming, learning policies): one jitted ``lax.scan`` over the log.
  Round keys are ``fold_in(round_key, i)`` for row ``i``; the policy's mask is all-True (the log
  does not record availability). Single-action policies only (``len_list = 1``); rows with a
  ``position`` (e.g. OBD's three slots) are used as single-action rounds, position ignored.
- :func:`replay_estimator` (the classic off-line estimator of a fixed policy, given its action
  distribution ``action_dist (n, K, L)`` in obp's layout): ``V = sum_i w_i r_i / sum_i w_i`` with
  ``w_i = action_dist[i, a_i, pos_i]``, the expected match indicator (for a deterministic policy
  exactly Li et al.'s count of matches; for a randomised one its Rao-Blackwellised form, which is
  self-normalised IPW with the uniform pscore). Standard error by the delta method.

Both refuse non-uniform logs with a clear error: with a non-uniform logger the matched rounds are
a biased sample; use the estimators in ``bandits.estimators`` instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.core import Policy

Array = jax.Array


class ReplayResult(NamedTuple):
    """Result of :func:`replay_evaluate`.

    value: mean reward over matched rounds (float; NaN if nothing matched).
    n_matched: number of rows where the policy chose the logged action (int).
    se: ``std(matched rewards) / sqrt(n_matched)`` (float; treats the matched rewards as
        independent, which holds exactly for a fixed policy and approximately for a learner).
    n_rounds: rows replayed (int).
    matched: ``(n,)`` bool, which rows counted.
    chosen: ``(n,)`` int64, the policy's choice on each row.
    """

    value: float
    n_matched: int
    se: float
    n_rounds: int
    matched: np.ndarray
    chosen: np.ndarray


class ReplayEstimate(NamedTuple):
    """Result of :func:`replay_estimator`: value, delta-method se, and ``n_effective`` = the
    expected number of matched rows ``sum_i w_i``."""

    value: float
    se: float
    n_effective: float


def _fields(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int]:
    missing = [f for f in ("context", "action", "reward", "pscore", "n_actions") if not hasattr(data, f)]
    if missing:
        raise TypeError(
            f"data: expected a bandits.data.LoggedData (fields context, action, reward, pscore, n_actions), "
            f"got {type(data).__name__} missing {missing}"
        )
    ctx = np.asarray(data.context, np.float64)
    act = np.asarray(data.action, np.int64)
    rew = np.asarray(data.reward, np.float64)
    ps = np.asarray(data.pscore, np.float64)
    pos = getattr(data, "position", None)
    pos = None if pos is None else np.asarray(pos, np.int64)
    k = int(data.n_actions)
    n = act.shape[0]
    if ctx.ndim != 2 or ctx.shape[0] != n or rew.shape != (n,) or ps.shape != (n,):
        raise ValueError(
            f"data: expected context (n, d), action/reward/pscore (n,), got context {ctx.shape}, "
            f"action {act.shape}, reward {rew.shape}, pscore {ps.shape}"
        )
    if n == 0:
        raise ValueError("data: expected at least one logged row, got 0")
    return ctx, act, rew, ps, pos, k


def check_uniform_logger(pscore: np.ndarray, n_actions: int, rtol: float = 1e-6) -> None:
    """Raise ``ValueError`` unless every ``pscore`` equals ``1 / n_actions`` (relative tol ``rtol``)."""
    target = 1.0 / n_actions
    bad = np.flatnonzero(~np.isclose(pscore, target, rtol=rtol, atol=0.0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"data.pscore: replay needs a uniformly random logger, pscore == 1/n_actions = {target:.6g} on "
            f"every row; got pscore in [{pscore.min():.6g}, {pscore.max():.6g}] ({bad.size} of {pscore.size} "
            f"rows differ, first row {i}: {pscore[i]:.6g}). Use the off-policy estimators for non-uniform logs."
        )


_SCAN_CACHE: dict[tuple, tuple[Policy, Any]] = {}


def _replay_scan(policy: Policy, dtype) -> Any:
    """Jitted ``(key, hparams, ctx, act, rew) -> (matched (n,), chosen (n,))`` for ``policy``."""
    ck = (id(policy), jnp.dtype(dtype).name)
    hit = _SCAN_CACHE.get(ck)
    if hit is not None and hit[0] is policy:
        return hit[1]
    mask = jnp.ones((policy.num_actions,), bool)

    def run(key, hparams, ctx, act, rew):
        k_init, k_round = jax.random.split(key)
        state = policy.init(k_init, hparams)

        def body(state, row):
            i, x, a, r = row
            dec = policy.select(jax.random.fold_in(k_round, i), state, x, mask, hparams)
            hit = dec.action == a
            new = policy.update(state, x, dec.action, r, hparams)
            state = jax.tree.map(lambda n_, o_: jnp.where(hit, n_, o_), new, state)
            return state, (hit, dec.action)

        idx = jnp.arange(act.shape[0], dtype=jnp.uint32)
        _, (matched, chosen) = jax.lax.scan(body, state, (idx, ctx, act, rew))
        return matched, chosen

    fn = jax.jit(run)
    if len(_SCAN_CACHE) > 32:
        _SCAN_CACHE.clear()
    _SCAN_CACHE[ck] = (policy, fn)
    return fn


def replay_evaluate(
    policy: Policy,
    data: Any,
    key: Any = 0,
    hparams: Any = None,
    *,
    check_uniform: bool = True,
    dtype=jnp.float32,
) -> ReplayResult:
    """Replay ``policy`` through uniformly logged ``data`` (Li et al. 2011), one ``lax.scan``.

    policy: a single-action :class:`bandits.core.Policy` with ``num_actions == data.n_actions``
        and ``context_dim == data.context.shape[1]`` (context-free policies with
        ``context_dim <= 1`` accept any context width).
    data: :class:`bandits.data.LoggedData` (context ``(n, d)``, action, reward, pscore ``(n,)``).
    key: PRNG key or int seed; hparams: the policy's hparams (None: defaults; a dict: overrides).
    check_uniform: refuse logs whose pscore is not ``1 / n_actions`` everywhere (default True).
    dtype: float dtype of contexts and rewards fed to the policy.

    Rows are replayed in stored order (sort by timestamp first if it matters). The policy learns
    only from matched rows. Returns :class:`ReplayResult`.
    """
    if not isinstance(policy, Policy):
        raise TypeError(f"policy: expected a bandits.core.Policy, got {type(policy).__name__}")
    ctx, act, rew, ps, _, k = _fields(data)
    if policy.len_list != 1:
        raise ValueError(
            f"policy: replay_evaluate runs single-action policies (len_list=1), got {policy.name!r} with "
            f"len_list={policy.len_list}; evaluate slate policies with replay_estimator on their action_dist"
        )
    if policy.num_actions != k:
        raise ValueError(f"policy: num_actions={policy.num_actions} does not match data.n_actions={k}")
    if policy.context_dim > 1 and policy.context_dim != ctx.shape[1]:
        raise ValueError(
            f"policy: context_dim={policy.context_dim} does not match data.context of width {ctx.shape[1]}"
        )
    if check_uniform:
        check_uniform_logger(ps, k)
    if hparams is None:
        hparams = policy.default_hparams
    elif isinstance(hparams, dict):
        hparams = policy.hparams(**hparams)
    if isinstance(key, (int, np.integer)):
        key = jax.random.key(int(key))
    hp = jax.tree.map(jnp.asarray, hparams)
    fn = _replay_scan(policy, dtype)
    matched, chosen = fn(
        key, hp, jnp.asarray(ctx, dtype), jnp.asarray(act, jnp.int32), jnp.asarray(rew, dtype)
    )
    matched = np.asarray(matched, bool)
    chosen = np.asarray(chosen, np.int64)
    m = int(matched.sum())
    r = rew[matched]
    value = float(r.mean()) if m else float("nan")
    se = float(r.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan")
    return ReplayResult(value, m, se, int(act.shape[0]), matched, chosen)


def replay_estimator(data: Any, action_dist: Any, *, check_uniform: bool = True) -> ReplayEstimate:
    """The classic replay estimate of a fixed policy from its action distribution.

    data: :class:`bandits.data.LoggedData` from a uniform logger. action_dist: ``(n, K, L)``
    (obp layout; ``(n, K)`` is accepted for ``L = 1``), each ``[i, :, l]`` a distribution.
    ``w_i = action_dist[i, action_i, position_i]`` (position 0 when the data has none);
    ``value = sum w r / sum w``; ``se = sqrt(sum w^2 (r - value)^2) / sum w``.
    """
    ctx, act, rew, ps, pos, k = _fields(data)
    ad = np.asarray(action_dist, np.float64)
    if ad.ndim == 2:
        ad = ad[:, :, None]
    n = act.shape[0]
    if ad.ndim != 3 or ad.shape[0] != n or ad.shape[1] != k:
        raise ValueError(f"action_dist: expected shape ({n}, {k}, len_list), got {np.shape(action_dist)}")
    if not np.all(np.isfinite(ad)) or ad.min() < 0:
        raise ValueError("action_dist: expected finite non-negative probabilities")
    sums = ad.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-4):
        i, l_ = np.unravel_index(int(np.argmax(np.abs(sums - 1))), sums.shape)
        raise ValueError(
            f"action_dist: expected each action_dist[i, :, l] to sum to 1, got {sums[i, l_]:.6g} at i={i}, l={l_}"
        )
    if pos is None:
        pos = np.zeros(n, np.int64)
    if pos.max() >= ad.shape[2]:
        raise ValueError(f"action_dist: has len_list={ad.shape[2]} but data.position reaches {pos.max()}")
    if check_uniform:
        check_uniform_logger(ps, k)
    w = ad[np.arange(n), act, pos]
    sw = w.sum()
    if sw <= 0:
        raise ValueError("action_dist: puts zero probability on every logged action; nothing to replay")
    v = float((w * rew).sum() / sw)
    se = float(np.sqrt(np.sum(w**2 * (rew - v) ** 2)) / sw)
    return ReplayEstimate(v, se, float(sw))


def _demo(n_rows: int = 20_000, seed: int = 0) -> dict:
    """Replay on synthetic uniformly logged data from a known world (the figures in
    docs/environments.md): a logistic-Bernoulli env (K=5, d=3), ``n_rows`` rows logged by the
    uniform policy; replay LinUCB and compare with its online mean reward over ``n_rows // K``
    rounds (8 seeds); replay uniform random and compare with the log's mean reward."""
    import time

    from bandits.policies import make
    from bandits.rollout import rollout, to_logged_data
    from envs.synthetic import logistic_bernoulli

    k, d = 5, 3
    env = logistic_bernoulli(k, d, scale=2.0, base_rate=0.2, seed=4)
    rnd = make("random", num_actions=k, context_dim=d)
    data = to_logged_data(rollout(env, rnd, jax.random.key(seed), horizon=n_rows, log=True))
    lin = make("linucb", num_actions=k, context_dim=d)
    replay_evaluate(lin, data.subset(np.arange(100)), key=seed + 1)  # compile
    t0 = time.perf_counter()
    res = replay_evaluate(lin, data, key=seed + 1)
    dt = time.perf_counter() - t0
    online = [float(np.mean(rollout(env, lin, jax.random.key(1000 + s), horizon=n_rows // k).reward)) for s in range(8)]
    r_rand = replay_evaluate(rnd, data, key=seed + 2)
    return {
        "n_rows": n_rows,
        "logged_mean_reward": round(float(data.reward.mean()), 4),
        "random_replay": [round(r_rand.value, 4), round(r_rand.se, 4), r_rand.n_matched],
        "linucb_replay": [round(res.value, 4), round(res.se, 4), res.n_matched],
        "linucb_online_mean_8_seeds": [round(float(np.mean(online)), 4),
                                       round(float(np.std(online, ddof=1) / np.sqrt(len(online))), 4)],
        "replay_rows_per_s": round(n_rows / dt),
    }


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(_demo(n)))
