"""Choosing an estimator's hyperparameter, and an estimator, from the log itself.

SLOPE (Su, Srinath & Krishnamurthy 2020, "Adaptive Estimator Selection for Off-Policy
Evaluation"; the variant of Tucker & Lee 2021 that obp 0.5.7 implements): given candidates
``V_1..V_m`` (an estimator at several clipping / switching / shrinkage values), each with a
confidence width ``cnf_i`` (a one-sided Student-t bound at level ``delta`` on its per-row
contributions), the candidates are visited from the widest interval to the narrowest; a candidate
is kept while ``|V_j - V_i| <= cnf_i + (sqrt(6) - 1) cnf_j`` for every kept ``j``, and the last
kept one is chosen. The widest intervals belong to the least biased candidates (no clipping), so
the rule moves towards lower variance only as long as the estimates stay consistent with the less
biased ones: a Lepski-type bias-variance balance with an oracle inequality (Su et al., Thm 3).

:func:`slope` applies it to one registered estimator's numeric hyperparameter; every candidate's
contributions come from one shared column store, so a grid costs little more than one estimate.

:func:`recommend_estimator` is a documented rule for *which* estimator to trust on a log (see its
docstring and docs/ope.md, "Which estimator to trust").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from bandits.data import LoggedData
from bandits.estimators import intervals as iv
from bandits.estimators.core import Columns, Estimator, check_requirements, get_spec

__all__ = ["DEFAULT_LAMBDAS", "Recommendation", "SlopeResult", "recommend_estimator", "slope", "slope_select"]

DEFAULT_LAMBDAS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, math.inf)
C_SLOPE = math.sqrt(6.0) - 1.0


class SlopeResult(NamedTuple):
    """What :func:`slope` chose.

    estimator: the chosen :class:`~bandits.estimators.Estimator` (pass it to ``evaluate``).
    value: its estimate (float); lambda_: the chosen hyperparameter value.
    table: one row per candidate: ``lambda, estimate, cnf`` (the SLOPE width), ``order`` (visit
        order, widest first), ``kept`` (whether it passed).
    """

    estimator: Estimator
    value: float
    lambda_: float
    table: pd.DataFrame


def slope_select(values: Sequence[float], widths: Sequence[float]) -> tuple[int, np.ndarray, np.ndarray]:
    """The SLOPE rule on candidates' estimates and confidence widths.

    values, widths ``(m,)``: estimates and widths (>= 0). Returns ``(chosen index, visit order
    (m,), kept (m,) bool)``. Candidates are visited by decreasing width (numpy's default sort of
    the widths, reversed, as obp); candidate ``i`` is kept when ``|V_j - V_i| <= cnf_i + (sqrt(6)
    - 1) cnf_j`` for every kept ``j``; the first failure stops the search and the last kept
    candidate is chosen.
    """
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(widths, dtype=np.float64)
    if v.ndim != 1 or v.shape != c.shape or v.size == 0:
        raise ValueError(f"values, widths: expected two (m,) arrays with m >= 1, got shapes {v.shape} and {c.shape}")
    if not (np.all(np.isfinite(v)) and np.all(c >= 0) and np.all(np.isfinite(c))):
        raise ValueError("values, widths: expected finite estimates and finite widths >= 0")
    order = np.argsort(c)[::-1]
    kept = np.zeros(v.size, bool)
    chosen = int(order[0])
    kept[chosen] = True
    for i in order[1:]:
        kj = np.flatnonzero(kept)
        if np.all(np.abs(v[kj] - v[i]) <= c[i] + C_SLOPE * c[kj]):
            kept[i] = True
            chosen = int(i)
        else:
            break
    return chosen, order, kept


def _influence(cols: Columns, est: Estimator) -> np.ndarray:
    """Per-row influence ``(n,)`` whose mean is the estimate: the contributions themselves for
    mean terms, the delta-method linearisation ``R + (num - R den) / mean(den)`` for ratio terms."""
    out = None
    for t in est.terms():
        num = cols.col(t.num)
        if t.den is None:
            part = num
        else:
            den = cols.col(t.den)
            md = den.mean()
            R = num.mean() / md
            part = R + (num - R * den) / md
        out = part if out is None else out + part
    return out


def _widths(cols: Columns, cands: list[Estimator], n: int, delta: float) -> tuple[list[float], list[float]]:
    """Each candidate's estimate and SLOPE width ``t_{1-delta, n-1} sqrt(var(psi) / (n - 1))``."""
    tq = stats.t(n - 1).ppf(1.0 - delta)
    vals, cnfs = [], []
    for e in cands:
        psi = _influence(cols, e)
        m = float(psi.mean())
        # population variance from raw moments: one pass, relative error ~ eps (1 + m^2 / var)
        var = max(float(np.dot(psi, psi)) / n - m * m, 0.0)
        vals.append(m)
        cnfs.append(float(np.sqrt(var / (n - 1)) * tq))
    return vals, cnfs


def slope(data: LoggedData | Mapping, action_dist: Any, estimator: str = "ipw", lambdas: Sequence[float] | None = None,
          estimated_rewards: Any = None, delta: float = 0.1, hparam: str | None = None) -> SlopeResult:
    """Choose ``estimator``'s hyperparameter by SLOPE (see the module docstring).

    data: :class:`~bandits.data.LoggedData` (or obp's dict); action_dist ``(n, K, len_list)``.
    estimator: a registered estimator with a numeric hyperparameter (``ipw``, ``dr``,
        ``switch-dr``, ``dr-os``, ...). hparam: which one (default: its only one).
    lambdas: candidate values (default :data:`DEFAULT_LAMBDAS`, weight thresholds from 1 to
        1000 and none).
    estimated_rewards ``(n, K, len_list)``: for model-based estimators (required; fit one with
        :func:`bandits.estimators.fit_reward_model`).
    delta: the confidence level of the widths ``cnf = t_{1-delta, n-1} sd / sqrt(n)`` (obp's
        default 0.1; obp computes ``sd`` as ``sqrt(var / (n - 1)) * sqrt(n)`` with ``var`` the
        population variance, which is the same number).
    Returns a :class:`SlopeResult`. The chosen value equals obp's ``*Tuning(tuning_method="slope")``
    for ipw, dr, switch-dr and dr-os.
    """
    spec = get_spec(estimator)
    if hparam is None:
        if len(spec.hparams) != 1:
            raise ValueError(f"hparam: estimator {spec.name!r} has hyperparameters {list(spec.hparams)}; name the one "
                             "to tune")
        hparam = next(iter(spec.hparams))
    elif hparam not in spec.hparams:
        raise ValueError(f"hparam: estimator {spec.name!r} has no hyperparameter {hparam!r} (it has {list(spec.hparams)})")
    grid = DEFAULT_LAMBDAS if lambdas is None else lambdas
    if isinstance(grid, str) or len(grid) == 0:
        raise ValueError(f"lambdas: expected a non-empty list of numbers, got {grid!r}")
    if not (isinstance(delta, int | float) and 0.0 < float(delta) < 1.0):
        raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
    cands = [Estimator(spec.name, **{hparam: lam}) for lam in grid]
    lam_vals = [float(e.hparams[hparam]) for e in cands]
    with iv.one_blas_thread():  # vector work: a second BLAS thread only adds wake-ups
        cols = Columns(LoggedData.coerce(data), action_dist, estimated_rewards)
        check_requirements(cands, cols)
        n = cols.data.n_rounds
        if n < 2:
            raise ValueError(f"data: SLOPE needs at least 2 rows for its widths, got {n}")
        vals, cnfs = _widths(cols, cands, n, float(delta))
    chosen, order, kept = slope_select(vals, cnfs)
    rank = np.empty(len(cands), np.int64)
    rank[order] = np.arange(len(cands))
    table = pd.DataFrame({"lambda": lam_vals, "estimate": vals, "cnf": cnfs, "order": rank, "kept": kept})
    return SlopeResult(cands[chosen], vals[chosen], lam_vals[chosen], table)


# ------------------------------------------------------------------------------------------------
# which estimator to trust
# ------------------------------------------------------------------------------------------------


class Recommendation(NamedTuple):
    """What :func:`recommend_estimator` advises.

    estimator: the :class:`~bandits.estimators.Estimator` to report; value: its estimate.
    reasons: the rule's steps in words (what the log showed, what was chosen and why).
    table: the candidates on the bias-variance ladder, as in :class:`SlopeResult`.
    diagnostics: ``ess_ratio``, ``max_iw``, ``unsupported_mass`` of the log for the target.
    """

    estimator: Estimator
    value: float
    reasons: list[str]
    table: pd.DataFrame
    diagnostics: dict[str, float]


def recommend_estimator(data: LoggedData | Mapping, action_dist: Any, estimated_rewards: Any = None,
                        lambdas: Sequence[float] | None = None, delta: float = 0.1,
                        unsupported_limit: float = 0.01) -> Recommendation:
    """Which estimator to trust on this log, for this target (a documented, data-driven rule).

    The rule:

    1. Support. If the target puts more than ``unsupported_limit`` of its probability on
       (slot, item) pairs the logger never took, every importance-weighted estimate is biased
       downwards there and only a reward model can speak for them: the ladder below is restricted
       to its model-based rungs and the reasons say so.
    2. The bias-variance ladder. With a reward model (``estimated_rewards``, or a log with a
       context: one is cross-fitted), the candidates are DM (most biased, least variable),
       Switch-DR at increasing thresholds, and DR (unbiased with true propensities); without
       one, IPW clipped at increasing thresholds and unclipped IPW. SLOPE (:func:`slope_select`)
       picks the least variable rung whose estimate agrees with every less biased rung.
    3. Report the chosen rung; when it is DM (the reward model alone), say that its interval
       does not include the model's bias.

    data, action_dist, estimated_rewards: as in :func:`bandits.estimators.evaluate`.
    lambdas: the thresholds of the ladder (default :data:`DEFAULT_LAMBDAS` without ``inf``).
    Returns a :class:`Recommendation`.
    """
    from bandits.estimators.evaluate import evaluate

    log = LoggedData.coerce(data)
    grid = sorted(float(x) for x in (DEFAULT_LAMBDAS if lambdas is None else lambdas) if math.isfinite(float(x)))
    if not grid:
        raise ValueError(f"lambdas: expected at least one finite threshold, got {lambdas!r}")
    reasons: list[str] = []
    if estimated_rewards is None and log.dim_context > 0:
        from bandits.estimators.reward_model import fit_reward_model

        ad = np.asarray(action_dist)
        L = ad.shape[2] if ad.ndim == 3 else 1
        estimated_rewards = fit_reward_model(log, len_list=L)
        reasons.append("fitted a cross-fitted reward model on the log (3 folds)")
    diag_df = evaluate(log, action_dist, ["ipw"], interval=None)
    diag = {k: float(diag_df[k].iloc[0]) for k in ("ess_ratio", "max_iw", "unsupported_mass")}
    reasons.append(f"overlap: ess/n = {diag['ess_ratio']:.3g}, largest weight {diag['max_iw']:.3g}, "
                   f"unsupported target mass {diag['unsupported_mass']:.3g}")
    unsupported = diag["unsupported_mass"] > unsupported_limit
    if estimated_rewards is not None:
        ladder = [Estimator("dm")] + [Estimator("switch-dr", lambda_=lam) for lam in grid]
        if not unsupported:
            ladder.append(Estimator("dr"))
        kind = "DM -> Switch-DR -> DR"
    else:
        if unsupported:
            reasons.append("the target is not supported by the log and there is no context for a reward model: "
                           "no estimator here is unbiased; the IPW ladder is reported with that warning")
        ladder = [Estimator("ipw", lambda_=lam) for lam in grid] + [Estimator("ipw")]
        kind = "clipped IPW -> IPW"
    if unsupported:
        reasons.append(f"unsupported target mass {diag['unsupported_mass']:.3g} > {unsupported_limit}: importance "
                       "weights cannot see those actions; rungs that need full support are left out")
    with iv.one_blas_thread():
        cols = Columns(log, action_dist, estimated_rewards)
        check_requirements(ladder, cols)
        vals, cnfs = _widths(cols, ladder, log.n_rounds, float(delta))
    chosen, order, kept = slope_select(vals, cnfs)
    rank = np.empty(len(ladder), np.int64)
    rank[order] = np.arange(len(ladder))
    table = pd.DataFrame({"estimator": [e.label for e in ladder], "estimate": vals, "cnf": cnfs, "order": rank,
                          "kept": kept})
    pick = ladder[chosen]
    reasons.append(f"SLOPE over the ladder {kind} chose {pick.label} ({int(kept.sum())} of {len(ladder)} rungs agree)")
    if pick.name == "dm":
        reasons.append("the choice is DM: its interval reflects sampling noise only, not the reward model's bias")
    return Recommendation(pick, vals[chosen], reasons, table, diag)
