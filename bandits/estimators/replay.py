"""The replay estimator (Li, Chu, Langford, Wang, WSDM 2011) of a fixed policy on uniformly logged data.

With a logger that picked actions uniformly at random (``pscore = 1/K`` on every row), replaying
the log is an unbiased way to evaluate a policy: a row counts when the policy would have chosen
the logged action. :func:`replay_estimator` takes the policy's action distribution
``action_dist (n, K, L)`` (obp's layout): ``V = sum_i w_i r_i / sum_i w_i`` with
``w_i = action_dist[i, a_i, pos_i]``, the expected match indicator (for a deterministic policy
exactly Li et al.'s count of matches; for a randomised one its Rao-Blackwellised form, which is
self-normalised IPW with the uniform pscore). Standard error by the delta method.

Learning policies are replayed online, one ``lax.scan`` over the log, by
:func:`bandits.engine.replay.replay_evaluate`. Both refuse non-uniform logs with a clear error:
with a non-uniform logger the matched rounds are a biased sample; use the other estimators.

In :func:`bandits.estimators.evaluate` the same ratio is the ``rm`` estimator (alias ``replay``),
declared at the end of this module: ``sum(pi_e(a_i | x_i) r_i) / sum(pi_e(a_i | x_i))`` with
intervals like every other estimator; its declaration asks for uniform logs, checked as one
constant ``pscore`` per position.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from bandits.data import LoggedData
from bandits.estimators.core import Columns, Term, register_estimator


class ReplayEstimate(NamedTuple):
    """Result of :func:`replay_estimator`: value, delta-method se, and ``n_effective`` = the
    expected number of matched rows ``sum_i w_i``."""

    value: float
    se: float
    n_effective: float


def require_logged(data: Any) -> LoggedData:
    """``data`` itself if it is a :class:`bandits.data.LoggedData` (validated when built), else a
    ``TypeError`` naming it (replay reads the rows in their logged order, so no dict is guessed at)."""
    if not isinstance(data, LoggedData):
        raise TypeError(
            f"data: expected a bandits.data.LoggedData (e.g. LoggedData.from_obp(bandit_feedback)), "
            f"got {type(data).__name__}"
        )
    return data


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



def replay_estimator(data: Any, action_dist: Any, *, check_uniform: bool = True) -> ReplayEstimate:
    """The classic replay estimate of a fixed policy from its action distribution.

    data: :class:`bandits.data.LoggedData` from a uniform logger. action_dist: ``(n, K, L)``
    (obp layout; ``(n, K)`` is accepted for ``L = 1``), each ``[i, :, l]`` a distribution.
    ``w_i = action_dist[i, action_i, position_i]`` (position 0 when the data has none);
    ``value = sum w r / sum w``; ``se = sqrt(sum w^2 (r - value)^2) / sum w``.
    """
    data = require_logged(data)
    act, rew, ps, pos, k = data.action, data.reward, data.pscore, data.position, data.n_actions
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


# ---- the replay method as a column-mean estimator (evaluate's ``rm``) ------------------------


def _pi_r(c: Columns) -> np.ndarray:
    return c.col("pi_f") * c.data.reward


register_estimator(
    "rm", lambda: (Term("pi_r", "pi_f"),), aliases=("replay",), uniform_logs=True,
    columns={"pi_r": _pi_r},
    summary="sum(pi_e(a_i|x_i) r) / sum(pi_e(a_i|x_i)): replay, uniformly logged data only",
)
