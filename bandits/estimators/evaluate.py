"""``evaluate``: every estimator, its interval and overlap diagnostics in one table.

In memory (:func:`evaluate`) or streamed over row batches of a log too big for memory
(:func:`evaluate_batches`, e.g. over :func:`bandits.data.iter_parquet_batches`); both share one
accumulator, so a streamed evaluation gives the same estimates and normal intervals as an
in-memory one (bootstraps differ only by their random draws).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bandits.data import LoggedData
from bandits.estimators import intervals as iv
from bandits.estimators import slate as sl
from bandits.estimators.core import (
    Columns,
    Estimator,
    as_estimators,
    check_requirements,
    column_keys,
    gradients,
    term_index,
    values_from_means,
)
from bandits.estimators.diagnostics import SmallSampleWarning, SupportWarning, id_problems, support_report

DEFAULT_ESTIMATORS = ("dm", "ipw", "snipw", "dr")
_INTERVALS = ("normal", "bootstrap", "bca", "none")
_ON_UNSUPPORTED = ("warn", "raise", "ignore")
#: rows below which no interval is computed (a variance needs two)
MIN_ROWS = 2
#: a standard error this small next to the estimate's scale (relative) counts as zero
_REL_ZERO_SE = 1e-12

RESULT_COLUMNS = [
    "estimator", "estimate", "ci_low", "ci_high", "std_err", "relative", "n_rounds", "ess",
    "ess_ratio", "max_iw", "unsupported_mass", "interval", "alpha",
]


def _check_options(interval: str | None, alpha: float, n_bootstrap: int, bootstrap_method: str,
                   on_unsupported: str = "warn") -> str:
    if on_unsupported not in _ON_UNSUPPORTED:
        raise ValueError(f"on_unsupported: expected one of {list(_ON_UNSUPPORTED)}, got {on_unsupported!r}")
    interval = "none" if interval is None else str(interval).lower()
    if interval not in _INTERVALS:
        raise ValueError(f"interval: expected one of {list(_INTERVALS)}, got {interval!r}")
    if not (isinstance(alpha, (int, float)) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    if interval in ("bootstrap", "bca"):
        if not (isinstance(n_bootstrap, (int, np.integer)) and n_bootstrap >= 2):
            raise ValueError(f"n_bootstrap: expected an integer >= 2, got {n_bootstrap!r}")
        if bootstrap_method not in ("poisson", "multinomial"):
            raise ValueError(f"bootstrap_method: expected 'poisson' or 'multinomial', got {bootstrap_method!r}")
    return interval


class _Accumulator:
    """Sufficient statistics of one evaluation, fed batch by batch."""

    def __init__(self, est: list[Estimator], interval: str, n_bootstrap: int, bootstrap_method: str,
                 rng: np.random.Generator):
        self.est = est
        self.keys = column_keys(est)
        self.terms = term_index(est, self.keys)
        self.interval = interval
        self.B = n_bootstrap
        self.method = bootstrap_method
        self.rng = rng
        self.mom = iv.Moments(len(self.keys))
        self.boot: np.ndarray | None = None
        self.shift: np.ndarray | None = None
        self.sum_w = 0.0
        self.sum_w2 = 0.0
        self.max_w = 0.0
        self.sum_r = 0.0
        self.logged: np.ndarray | None = None  # (L, K) counts of logged (position, action)
        self.target: np.ndarray | None = None  # (L, K) summed target probability at the row's position
        self.kept: list[np.ndarray] = []  # the column matrices, for the BCa jackknife

    def add(self, cols: Columns) -> None:
        if getattr(cols, "is_slate", False):
            return self._add_slate(cols)
        log = cols.data
        with iv.one_blas_thread():  # matrix-vector work: a second BLAS thread only adds wake-ups
            C = cols.matrix(self.keys, ones_row=True)  # (m + 1, n), last row ones
            self.mom.add_with_ones(C)
            w = cols.col("w")
            self.sum_w += float(w.sum())
            self.sum_w2 += float(np.dot(w, w))
            self.max_w = max(self.max_w, float(w.max()))
            self.sum_r += float(log.reward.sum())
            K, L = log.n_actions, cols.len_list
            cnt = np.bincount(cols.position * K + log.action if L > 1 else log.action,
                              minlength=L * K).reshape(L, K)
            # target mass is only needed on (slot, action) pairs this batch never logged (a pair
            # logged anywhere is supported); usually there are none and action_dist is not touched
            tgt = np.zeros((L, K))
            A = cols.action_dist
            for p, a in zip(*np.nonzero(cnt == 0), strict=True):
                sel = slice(None) if L == 1 else (cols.position == p)
                tgt[p, a] = A[sel, a, p].sum()
        self._merge(C, cnt, tgt)

    def _add_slate(self, cols: sl.SlateColumns) -> None:
        """A slate log: units are slates, diagnostics from :meth:`SlateColumns.diagnostics`."""
        with iv.one_blas_thread():
            C = cols.matrix(self.keys, ones_row=True)
            self.mom.add_with_ones(C)
            w, r_sum, cnt, tgt = cols.diagnostics()
            self.sum_w += float(w.sum())
            self.sum_w2 += float(np.dot(w, w))
            self.max_w = max(self.max_w, float(w.max()))
        self.sum_r += r_sum
        self._merge(C, cnt, tgt)

    def _merge(self, C: np.ndarray, cnt: np.ndarray, tgt: np.ndarray) -> None:
        if self.interval == "bca":
            self.kept.append(C)
        if self.interval in ("bootstrap", "bca"):
            if self.shift is None:
                self.shift = self.mom.mean.copy()  # after the first batch: its column means
            S = iv.bootstrap_sums(C, self.B, self.rng, self.shift, self.method)
            self.boot = S if self.boot is None else self.boot + S
        if self.logged is None:
            self.logged, self.target = cnt, tgt
        else:
            if self.logged.shape != cnt.shape:
                raise ValueError(
                    f"action_dist: expected the same (len_list, n_actions)={self.logged.shape} in every batch, "
                    f"got {cnt.shape}"
                )
            self.logged = self.logged + cnt
            self.target = self.target + tgt

    def result(self, alpha: float, on_unsupported: str = "warn", ids_hint: list[str] | None = None) -> pd.DataFrame:
        n = self.mom.n
        means = self.mom.mean
        with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 of a ratio estimator is NaN, said below
            values = values_from_means(self.terms, means)
        E = len(self.est)
        labels = [e.label for e in self.est]
        support = support_report(self.logged, self.target, n)
        if support.unsupported_mass > 0 and on_unsupported != "ignore":
            msg = support.message(int(self.logged.shape[1])) + "".join(f"; {h}" for h in (ids_hint or []))
            if on_unsupported == "raise":
                raise ValueError(msg)
            warnings.warn(msg, SupportWarning, stacklevel=3)
        if self.interval != "none" and n < MIN_ROWS:
            warnings.warn(f"data: {n} logged row(s): an interval needs at least {MIN_ROWS} rows (a variance); "
                          f"reporting (-inf, inf)", SmallSampleWarning, stacklevel=3)
            lo, hi, se = np.full(E, -np.inf), np.full(E, np.inf), np.full(E, np.nan)
        elif self.interval == "normal":
            with np.errstate(divide="ignore", invalid="ignore"):
                lo, hi, se = iv.normal_interval(values, gradients(self.terms, means), self.mom.cov, n, alpha)
            flat = np.isfinite(values) & ~(se > _REL_ZERO_SE * np.maximum(np.abs(values), 1e-300))
            if flat.any():
                warnings.warn(f"{', '.join(np.asarray(labels)[flat])}: every row contributes the same value (zero "
                              f"sample variance over {n} rows), so the sample says nothing about the spread; "
                              f"reporting (-inf, inf) instead of a zero-width interval", SmallSampleWarning,
                              stacklevel=3)
                lo, hi, se = np.where(flat, -np.inf, lo), np.where(flat, np.inf, hi), np.where(flat, np.nan, se)
        elif self.interval == "bootstrap":
            with np.errstate(divide="ignore", invalid="ignore"):
                reps = values_from_means(self.terms, iv.means_from_sums(self.boot, self.shift))
            bad = np.isnan(reps).mean(axis=0) * np.isfinite(values)
            if np.any(bad > 0):
                worst = int(np.argmax(bad))
                warnings.warn(f"{labels[worst]}: {bad[worst]:.1%} of the {reps.shape[0]} bootstrap replicates are "
                              f"undefined (no weight on a supported row); they count as extreme, which widens the "
                              f"interval (to infinity beyond alpha/2 of them)", SmallSampleWarning, stacklevel=3)
            lo, hi, se = iv.percentile_interval(reps, alpha)
            flat = np.isfinite(values) & ~(hi - lo > _REL_ZERO_SE * np.maximum(np.abs(values), 1e-300))
            if flat.any():
                warnings.warn(f"{', '.join(np.asarray(labels)[flat])}: every bootstrap replicate is the same value "
                              f"(zero sample variance over {n} rows); reporting (-inf, inf) instead of a zero-width "
                              f"interval", SmallSampleWarning, stacklevel=3)
                lo, hi, se = np.where(flat, -np.inf, lo), np.where(flat, np.inf, hi), np.where(flat, np.nan, se)
        elif self.interval == "bca":
            reps = values_from_means(self.terms, iv.means_from_sums(self.boot, self.shift))
            jack = values_from_means(self.terms, iv.jackknife_means(np.concatenate(self.kept, axis=1)))
            lo, hi, se = iv.bca_interval(reps, values, jack, alpha)
        else:
            lo = hi = se = np.full(E, np.nan)
        ess = self.sum_w**2 / self.sum_w2 if self.sum_w2 > 0 else 0.0
        unsupported = support.unsupported_mass
        logged_mean = self.sum_r / n
        rows = []
        for e in range(E):
            rows.append({
                "estimator": self.est[e].label,
                "estimate": float(values[e]),
                "ci_low": float(lo[e]),
                "ci_high": float(hi[e]),
                "std_err": float(se[e]),
                "relative": float(values[e] / logged_mean) if logged_mean != 0 else np.nan,
                "n_rounds": int(n),
                "ess": float(ess),
                "ess_ratio": float(ess / n),
                "max_iw": float(self.max_w),
                "unsupported_mass": unsupported,
                "interval": self.interval,
                "alpha": float(alpha),
            })
        df = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        df.attrs["logged_mean_reward"] = logged_mean
        return df


def evaluate(
    data: LoggedData | Mapping,
    action_dist: Any,
    estimators: Any = DEFAULT_ESTIMATORS,
    estimated_rewards: Any = None,
    interval: str | None = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    bootstrap_method: str = "poisson",
    reward_model: Any = None,
    n_folds: int = 3,
    on_unsupported: str = "warn",
) -> pd.DataFrame:
    """Estimate an evaluation policy's value with several estimators at once.

    data: :class:`bandits.data.LoggedData` (or obp's ``bandit_feedback`` dict, read through
        :meth:`LoggedData.from_obp`: ``reward, action, pscore``, optional ``position`` 0-based,
        ``context (n, d)``, ``action_context (K, p)``, ``n_actions``, ``len_list``).
    action_dist: ``(n, n_actions, len_list)`` float: ``action_dist[i, :, k]`` is the evaluation
        policy's distribution over actions for slot ``k`` given context ``i`` (obp's layout; a
        2-D ``(n, K)`` array means len_list 1). Make one from a screentest policy with
        :func:`bandits.estimators.policy_action_dist`.
    estimators: registered names or aliases (:func:`bandits.estimators.estimator_names`: ``dm,
        ipw, snipw, dr, sndr, switch-dr, dr-os, rm`` and any estimator registered since) or
        :class:`Estimator` objects (``Estimator("switch-dr", lambda_=20)``).
    estimated_rewards: ``(n, n_actions, len_list)`` float reward-model predictions
        ``q_hat(x_i, a, k)`` for the model-based estimators. When None and a model-based
        estimator is asked for, a reward model is cross-fitted on ``data`` with
        :func:`bandits.estimators.fit_reward_model` (``reward_model``, ``n_folds``).
    interval: ``"normal"`` (delta method), ``"bootstrap"`` (percentile, vectorised Poisson
        bootstrap with ``n_bootstrap`` replicates; ``bootstrap_method="multinomial"`` for the
        classic resample), ``"bca"`` (bias-corrected and accelerated, from the same replicates
        and a jackknife over the rows: :func:`bandits.estimators.intervals.bca_interval`), or None.
    alpha: the interval is a ``1 - alpha`` interval.
    random_state: seed or ``numpy.random.Generator`` for the bootstrap and the reward model folds.
    on_unsupported: what to do when the target puts probability on (slot, item) pairs the log
        never shows (importance weighting cannot see that mass): ``"warn"`` (a
        :class:`~bandits.estimators.diagnostics.SupportWarning` with the share), ``"raise"``
        (``ValueError`` with the share) or ``"ignore"``.

    What the sample cannot support is said, not hidden: with fewer than 2 rows, or when an
    estimator's per-row terms have zero variance, its interval is ``(-inf, inf)``; undefined
    bootstrap replicates widen the percentile interval instead of being dropped; each with a
    :class:`~bandits.estimators.diagnostics.SmallSampleWarning`.

    Slates: with ``data`` a :class:`bandits.estimators.slate.SlateLog`, ``action_dist`` is the
    evaluation policy's :class:`~bandits.estimators.slate.SlateTarget` (or its item-in-slot
    distribution ``(n, K, len_list)``), ``estimators`` slate estimators (``sips, iips, rips,
    snsips, sniips, snrips, cascade-dr, sn-cascade-dr``), ``estimated_rewards`` a slate reward
    model ``(n, K)`` for cascade DR (cross-fitted by
    :func:`~bandits.estimators.slate.fit_slate_reward_model` when None); the units of the
    estimates, intervals and diagnostics are slates (see that module).

    Returns a DataFrame, one row per estimator, columns ``estimator, estimate, ci_low, ci_high,
    std_err, relative`` (estimate / mean logged reward), ``n_rounds, ess`` (Kish effective sample
    size of the importance weights, ``(sum w)^2 / sum w^2``), ``ess_ratio`` (ess / n), ``max_iw``,
    ``unsupported_mass`` (share of the target's probability on (position, action) pairs the
    logger never took in this log), ``interval, alpha``. ``df.attrs["logged_mean_reward"]`` holds
    the on-policy mean reward of the log.
    """
    interval = _check_options(interval, alpha, n_bootstrap, bootstrap_method, on_unsupported)
    est = as_estimators(estimators)
    if isinstance(data, sl.SlateLog):
        rng = np.random.default_rng(random_state)
        cols, est = _slate_columns(data, action_dist, est, estimated_rewards, rng, reward_model, n_folds)
        acc = _Accumulator(est, interval, n_bootstrap, bootstrap_method, rng)
        acc.add(cols)
        return acc.result(alpha, on_unsupported)
    _refuse_slate_estimators(est)
    log = LoggedData.coerce(data)
    rng = np.random.default_rng(random_state)
    fits_model = estimated_rewards is None and any(e.needs_reward_model for e in est)
    if fits_model:
        from bandits.estimators.reward_model import fit_reward_model

        seed = int(rng.integers(2**31 - 1))
        ad = np.asarray(action_dist)
        L = ad.shape[2] if ad.ndim == 3 else 1
        estimated_rewards = fit_reward_model(log, model=reward_model, n_folds=n_folds, random_state=seed,
                                             len_list=L)
    with iv.one_blas_thread():
        cols = Columns(log, action_dist, estimated_rewards)
    check_requirements(est, cols, from_evaluate=True)
    acc = _Accumulator(est, interval, n_bootstrap, bootstrap_method, rng)
    acc.add(cols)
    hints = id_problems(log.action, log.n_actions, log.position, n_actions_given=False)  # appended to a support warning
    return acc.result(alpha, on_unsupported, hints)


def evaluate_batches(
    batches: Iterable[LoggedData | Mapping],
    action_dist: Callable[[Any], Any],
    estimators: Any = DEFAULT_ESTIMATORS,
    estimated_rewards: Callable[[Any], Any] | None = None,
    interval: str | None = "normal",
    alpha: float = 0.05,
    n_bootstrap: int = 1000,
    random_state: int | np.random.Generator | None = 0,
    on_unsupported: str = "warn",
) -> pd.DataFrame:
    """:func:`evaluate` over a stream of log batches in bounded memory.

    batches: iterable of :class:`bandits.data.LoggedData` batches (e.g.
        ``bandits.data.iter_parquet_batches(path)``; obp dicts are read with ``from_obp``).
    action_dist: callable ``batch -> (n_batch, K, len_list)`` (e.g. a policy through
        :func:`bandits.estimators.policy_action_dist`).
    estimated_rewards: callable ``batch -> (n_batch, K, len_list)`` (a reward model fitted
        beforehand, e.g. :meth:`RewardModel.predict` of :func:`fit_reward_model_on`), needed by
        model-based estimators.
    Only per-estimator sums, a column covariance and ``(n_bootstrap, m)`` bootstrap sums are kept
    between batches (Poisson weights are independent across rows, so bootstrap sums add up).
    Returns the same table as :func:`evaluate` (with the same support and small-sample checks).
    """
    interval = _check_options(interval, alpha, n_bootstrap, "poisson", on_unsupported)
    if interval == "bca":
        raise ValueError("interval: 'bca' needs the whole log in memory (its jackknife); use evaluate(), or 'normal' "
                         "or 'bootstrap' for a streamed log")
    est = as_estimators(estimators)
    if any(e.needs_reward_model for e in est) and estimated_rewards is None:
        raise ValueError(
            "estimated_rewards: model-based estimators need a callable batch -> (n, K, len_list), got None"
        )
    if not callable(action_dist):
        raise ValueError(f"action_dist: expected a callable batch -> (n, K, len_list), got {type(action_dist).__name__}")
    rng = np.random.default_rng(random_state)
    it = iter(batches)
    first = next(it, None)
    if first is None:
        raise ValueError("batches: expected at least one batch, got an empty iterable")
    slates = isinstance(first, sl.SlateLog)
    if slates:
        est = _bind_slates(est, first.len_list)
    else:
        _refuse_slate_estimators(est)
    acc = _Accumulator(est, interval, n_bootstrap, "poisson", rng)
    for batch in itertools.chain([first], it):
        q = estimated_rewards(batch) if estimated_rewards is not None else None
        ad = action_dist(batch)
        if slates:
            if not isinstance(batch, sl.SlateLog):
                raise TypeError(f"batches[i]: expected every batch to be a SlateLog like the first, got {type(batch).__name__}")
            cols = sl.SlateColumns(batch, ad, q)
        else:
            log = LoggedData.coerce(batch, "batches[i]")
            with iv.one_blas_thread():
                cols = Columns(log, ad, q)
            check_requirements(est, cols)
        acc.add(cols)
    return acc.result(alpha, on_unsupported)


def _refuse_slate_estimators(est: list[Estimator]) -> None:
    names = [e.label for e in est if sl.is_slate_estimator(e.name)]
    if names:
        raise ValueError(f"data: estimators {names} are slate estimators, evaluated on a bandits.estimators.slate.SlateLog "
                         "(SlateLog.from_logged(data) for a LoggedData with positions), got a row log")


def _bind_slates(est: list[Estimator], len_list: int) -> list[Estimator]:
    rows = [e.label for e in est if not sl.is_slate_estimator(e.name)]
    if rows:
        raise ValueError(f"estimators: a SlateLog is evaluated with the slate estimators "
                         f"({', '.join(sorted(sl.SLATE_ESTIMATORS))}), got row estimators {rows}")
    return sl.bind_len_list(est, len_list)


def _slate_columns(log: sl.SlateLog, target: Any, est: list[Estimator], estimated_rewards: Any,
                   rng: np.random.Generator, reward_model: Any, n_folds: int
                   ) -> tuple[sl.SlateColumns, list[Estimator]]:
    """Slate estimators on a SlateLog: bound to its len_list, a slate reward model cross-fitted
    (:func:`bandits.estimators.slate.fit_slate_reward_model`) when cascade DR asks for one."""
    est = _bind_slates(est, log.len_list)
    cols = sl.SlateColumns(log, target, estimated_rewards)
    if estimated_rewards is None and any(e.needs_reward_model for e in est):
        seed = int(rng.integers(2**31 - 1))
        q = sl.fit_slate_reward_model(log, cols.target, model=reward_model, n_folds=max(int(n_folds), 2),
                                      random_state=seed)
        cols = sl.SlateColumns(log, cols.target, q)
    return cols, est
