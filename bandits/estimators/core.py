"""Off-policy estimators on obp's conventions, written as ratios of column means.

Every estimator here is a sum of *terms*; a term is either the mean of one per-row column or a
ratio of two column means::

    V_hat = sum_t  mean(num_t) / mean(den_t)          (den_t = 1 for a plain mean)

Columns are float64 arrays of shape ``(n_rounds,)`` built from the logged data and the evaluation
policy's ``action_dist`` (and, for the model-based estimators, ``estimated_rewards``). With
``w_i = pi_e(a_i | x_i, k_i) / pscore_i`` the importance weight at the logged position ``k_i``,
``q_hat(x_i, pi_e) = sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i)`` and
``q_hat_i = q_hat(x_i, a_i, k_i)``:

============  ================================================================  =================
name          estimate                                                          terms
============  ================================================================  =================
``dm``        mean(q_hat(x, pi_e))                                              1 mean
``ipw``       mean(min(w, lambda) r)                                            1 mean
``snipw``     sum(w r) / sum(w)                                                 1 ratio
``dr``        mean(q_hat(x, pi_e) + min(w, lambda)(r - q_hat))                  2 means
``sndr``      mean(q_hat(x, pi_e)) + sum(w (r - q_hat)) / sum(w)                mean + ratio
``switch-dr`` mean(q_hat(x, pi_e) + w 1{w <= lambda} (r - q_hat))               2 means
``dr-os``     mean(q_hat(x, pi_e) + lambda w / (w^2 + lambda) (r - q_hat))      2 means
``rm``        sum(pi_e(a_i|x_i) r) / sum(pi_e(a_i|x_i)) (replay, uniform logs)  1 ratio
============  ================================================================  =================

(DR-OS's shrunk weight ``lambda w / (w^2 + lambda)`` is Su et al. 2020's and obp's code; obp's
docstring shows an extra factor ``w``.)

Writing them this way is what makes intervals cheap: the normal interval is a delta-method
quadratic form in the column covariance, and a bootstrap replicate is a weighted column sum, so
all estimators share one ``(B, n) @ (n, m)`` product (see :mod:`bandits.estimators.intervals`).
The point estimates equal obp 0.5.7's ``estimate_policy_value`` for the same inputs (checked to
1e-9 relative by ``benchmarks/obp_parity.py`` and ``tests/bandits/estimators/test_estimators_parity.py``).

Position handling (as obp): ``action_dist[i, :, k_i]`` is the evaluation policy's distribution
over actions *for the slot the logged row was shown in*; every row is one (impression, slot)
pair, and ``len_list`` is the number of slots. Without ``position`` every row uses slot 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bandits.estimators import _checks as ck

# --------------------------------------------------------------------------------------------
# Logged data, duck-typed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedArrays:
    """Validated float64/int64 views of a log (obp's names).

    reward ``(n,)`` float64 finite; action ``(n,)`` int64 in ``[0, n_actions)``; pscore ``(n,)``
    float64 in ``(0, 1]``; position ``(n,)`` int64 in ``[0, len_list)`` (zeros when the log has no
    position); context ``(n, d)`` float64 or None; n_actions, len_list ints.
    """

    reward: np.ndarray
    action: np.ndarray
    pscore: np.ndarray
    position: np.ndarray
    context: np.ndarray | None
    n_actions: int
    len_list: int
    has_position: bool

    @property
    def n_rounds(self) -> int:
        return int(self.reward.shape[0])


def _get(data: Any, name: str) -> Any:
    if isinstance(data, Mapping):
        return data.get(name)
    return getattr(data, name, None)


def as_logged(data: Any, n_actions: int | None = None, len_list: int | None = None) -> LoggedArrays:
    """Read and validate a log: a :class:`bandits.data.LoggedData`, any object with the same
    attribute names, or obp's ``bandit_feedback`` dict.

    ``n_actions``/``len_list`` default to the log's own (``data.n_actions``, ``data.len_list``),
    then to ``max(action) + 1`` / ``max(position) + 1``.
    """
    if data is None:
        raise ValueError("data: expected a LoggedData (or obp bandit_feedback dict), got None")
    reward = ck.as_1d("reward", _get(data, "reward"), None, "float")
    n = reward.shape[0]
    if n == 0:
        raise ValueError("reward: expected at least one logged round, got an empty array")
    action = ck.as_1d("action", _get(data, "action"), n, "int")
    pscore = ck.as_1d("pscore", _get(data, "pscore"), n, "float", check_finite=False)
    ck.check_pscore(pscore)  # the (0, 1] check rejects NaN and infinities
    K = n_actions if n_actions is not None else _get(data, "n_actions")
    if K is None:
        K = int(action.max()) + 1
    K = int(K)
    if K < 1:
        raise ValueError(f"n_actions: expected an integer >= 1, got {K}")
    ck.check_range("action", action, K, "n_actions")
    pos_raw = _get(data, "position")
    if pos_raw is None:
        position = np.zeros(n, np.int64)
        has_position = False
    else:
        position = ck.as_1d("position", pos_raw, n, "int")
        has_position = True
    L = len_list if len_list is not None else _get(data, "len_list")
    if L is None:
        L = int(position.max()) + 1 if has_position else 1
    L = int(L)
    if L < 1:
        raise ValueError(f"len_list: expected an integer >= 1, got {L}")
    if has_position:
        ck.check_range("position", position, L, "len_list")
    ctx = _get(data, "context")
    if ctx is not None:
        ctx = np.asarray(ctx)
        if ctx.ndim == 1:
            ctx = ctx[:, None]
        if ctx.ndim != 2 or ctx.shape[0] != n:
            raise ValueError(f"context: expected shape (n_rounds={n}, dim_context), got {ck.describe(ctx)}")
    return LoggedArrays(reward, action, pscore, position, ctx, K, L, has_position)


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------

MODEL_BASED = frozenset({"dm", "dr", "sndr", "switch-dr", "dr-os"})
_ALIASES = {"ips": "ipw", "snips": "snipw", "replay": "rm", "switch_dr": "switch-dr", "dr_os": "dr-os",
            "dros": "dr-os", "switchdr": "switch-dr"}
# Default hyperparameters. obp's own defaults (switch-dr: inf, dr-os: 0) make those two
# estimators identical to DR and DM; ours default to a weight threshold / shrinkage of 100
# (weights above ~100 are where DR's variance blows up on typical logs). Pass lambda_ to change.
_DEFAULT_LAMBDA = {"ipw": np.inf, "dr": np.inf, "switch-dr": 100.0, "dr-os": 100.0}


@dataclass(frozen=True)
class Estimator:
    """One estimator, e.g. ``Estimator("switch-dr", lambda_=50.0)``.

    name: one of ``dm, ipw, snipw, dr, sndr, switch-dr, dr-os, rm`` (aliases: ips, snips, replay).
    lambda_: clipping threshold (ipw, dr: weights are ``min(w, lambda_)``), switching threshold
        (switch-dr) or shrinkage (dr-os); ignored by the others.
    label: the row name in :func:`evaluate`'s table (default: the name, plus the lambda when it
        differs from the default).
    """

    name: str
    lambda_: float | None = None
    label: str = field(default="")

    def __post_init__(self) -> None:
        nm = _ALIASES.get(self.name.lower(), self.name.lower())
        if nm not in ESTIMATOR_NAMES:
            raise ValueError(f"estimators: unknown estimator {self.name!r}; expected one of {list(ESTIMATOR_NAMES)}")
        object.__setattr__(self, "name", nm)
        lam = self.lambda_
        if lam is None:
            lam = _DEFAULT_LAMBDA.get(nm)
        elif nm not in _DEFAULT_LAMBDA:
            raise ValueError(f"lambda_: estimator {nm!r} takes no lambda_, got {lam!r}")
        if lam is not None:
            lam = float(lam)
            if not lam >= 0.0:
                raise ValueError(f"lambda_: expected a number >= 0 for {nm!r}, got {self.lambda_!r}")
        object.__setattr__(self, "lambda_", lam)
        if not self.label:
            lbl = nm
            if self.lambda_ is not None and nm in _DEFAULT_LAMBDA and lam != _DEFAULT_LAMBDA[nm]:
                lbl = f"{nm}(lambda={lam:g})"
            object.__setattr__(self, "label", lbl)

    @property
    def model_based(self) -> bool:
        """Whether the estimator needs ``estimated_rewards`` (a reward model)."""
        return self.name in MODEL_BASED

    def terms(self) -> tuple[tuple[str, str | None], ...]:
        """The estimate as ``sum(mean(num) / mean(den))`` over ``(num, den)`` column keys."""
        lam = self.lambda_
        if self.name == "dm":
            return (("q_pi", None),)
        if self.name == "ipw":
            return (("wr", None),) if lam == np.inf else ((f"wr_clip:{lam!r}", None),)
        if self.name == "snipw":
            return (("wr", "w"),)
        if self.name == "dr":
            return (("q_pi", None), ("w_res" if lam == np.inf else f"w_res_clip:{lam!r}", None))
        if self.name == "sndr":
            return (("q_pi", None), ("w_res", "w"))
        if self.name == "switch-dr":
            return (("q_pi", None), (f"w_res_switch:{lam!r}", None))
        if self.name == "dr-os":
            return (("q_pi", None), (f"w_res_os:{lam!r}", None))
        if self.name == "rm":
            return (("pi_r", "pi_f"),)
        raise AssertionError(self.name)  # pragma: no cover


ESTIMATOR_NAMES = ("dm", "ipw", "snipw", "dr", "sndr", "switch-dr", "dr-os", "rm")


def as_estimators(estimators: Any) -> list[Estimator]:
    """Normalise ``estimators`` (names, :class:`Estimator` objects, or ``(name, {kw})`` pairs)."""
    if isinstance(estimators, (str, Estimator)):
        estimators = [estimators]
    out = []
    for e in estimators:
        if isinstance(e, Estimator):
            out.append(e)
        elif isinstance(e, str):
            out.append(Estimator(e))
        elif isinstance(e, tuple) and len(e) == 2 and isinstance(e[1], Mapping):
            out.append(Estimator(e[0], **dict(e[1])))
        else:
            raise ValueError(
                f"estimators: expected names like 'ipw' or Estimator objects, got {ck.describe(e)}"
            )
    if not out:
        raise ValueError("estimators: expected at least one estimator, got an empty list")
    labels = [e.label for e in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"estimators: expected distinct estimators, got duplicates {dup}")
    return out


# --------------------------------------------------------------------------------------------
# Per-row columns
# --------------------------------------------------------------------------------------------


class Columns:
    """Validated inputs and the per-row columns the estimators are built from (computed lazily,
    each once).

    log: :class:`LoggedArrays`; action_dist ``(n, K, L)`` float64; estimated_rewards ``(n, K, L)``
    float64 or None.
    """

    def __init__(self, log: LoggedArrays, action_dist: Any, estimated_rewards: Any = None,
                 check: bool = True):
        n, K, L = log.n_rounds, log.n_actions, None
        ad = ck.as_action_array("action_dist", action_dist, n, K, L)
        if log.has_position and ad.shape[2] <= int(log.position.max()):
            raise ValueError(
                f"action_dist: expected len_list >= max(position) + 1 = {int(log.position.max()) + 1} "
                f"positions (axis 2), got shape {tuple(ad.shape)}"
            )
        self.log = log
        self.action_dist = ad
        self.len_list = ad.shape[2]
        self.rowsum = ck.check_action_dist(ad) if check else ad.sum(axis=1)
        self.estimated_rewards = None
        if estimated_rewards is not None:
            q = ck.as_action_array("estimated_rewards", estimated_rewards, n, K, self.len_list)
            # finiteness is checked on what the estimators read (q at the logged slot, through
            # q_hat(x, pi_e) and q_hat(x, a_i)): a NaN/inf there makes those columns non-finite
            # (0 * inf is NaN), and entries at other slots are never used
            self.estimated_rewards = q
        self._cache: dict[str, np.ndarray] = {}
        self._flat_idx: np.ndarray | None = None

    # ---- gathers -------------------------------------------------------------------------
    @property
    def flat_idx(self) -> np.ndarray:
        """Flat index of ``(i, a_i, k_i)`` into a C-ordered ``(n, K, L)`` array."""
        if self._flat_idx is None:
            log, L = self.log, self.len_list
            idx = np.arange(0, log.n_rounds * log.n_actions * L, log.n_actions * L, dtype=np.int64)
            idx += log.action * L if L > 1 else log.action
            if L > 1:
                idx += log.position
            self._flat_idx = idx
        return self._flat_idx

    def _factual(self, arr: np.ndarray) -> np.ndarray:
        return np.take(np.ascontiguousarray(arr).reshape(-1), self.flat_idx)

    def at_position(self, arr: np.ndarray) -> np.ndarray:
        """``arr[i, :, k_i]`` as an ``(n, K)`` array (a view when len_list == 1)."""
        if arr.shape[2] == 1:
            return arr[:, :, 0]
        n = arr.shape[0]
        return arr[np.arange(n), :, self.log.position]

    # ---- columns -------------------------------------------------------------------------
    def col(self, key: str) -> np.ndarray:
        """Per-row column ``(n,)`` float64 by key (see :meth:`Estimator.terms`)."""
        c = self._cache.get(key)
        if c is None:
            c = self._compute(key)
            self._cache[key] = c
        return c

    def _need_q(self, key: str) -> np.ndarray:
        if self.estimated_rewards is None:
            raise ValueError(
                f"estimated_rewards: the model-based estimators (dm, dr, sndr, switch-dr, dr-os) need "
                f"estimated_rewards of shape (n_rounds, n_actions, len_list), got None (column {key!r})"
            )
        return self.estimated_rewards

    def _compute(self, key: str) -> np.ndarray:
        log = self.log
        base, _, arg = key.partition(":")
        lam = float(arg) if arg else None
        if base == "pi_f":
            return self._factual(self.action_dist)
        if base == "w":
            return self.col("pi_f") / log.pscore
        if base == "wr":
            return self.col("w") * log.reward
        if base == "pi_r":
            return self.col("pi_f") * log.reward
        if base == "wr_clip":
            return np.minimum(self.col("w"), lam) * log.reward
        if base == "q_f":
            return self._checked_q(self._factual(self._need_q(key)))
        if base == "res":
            return log.reward - self.col("q_f")
        if base == "q_pi":
            q = self._need_q(key)
            qp = np.einsum("nk,nk->n", self.at_position(q), self.at_position(self.action_dist))
            rs = self.rowsum[:, 0] if self.len_list == 1 else self.rowsum[np.arange(log.n_rounds), log.position]
            qp /= rs  # obp normalises with np.average(weights=pi_e); identical for valid rows
            return self._checked_q(qp, pi_weighted=True)
        if base == "w_res":
            return self.col("w") * self.col("res")
        if base == "w_res_clip":
            return np.minimum(self.col("w"), lam) * self.col("res")
        if base == "w_res_switch":
            w = self.col("w")
            return np.where(w <= lam, w, 0.0) * self.col("res")
        if base == "w_res_os":
            w = self.col("w")
            if lam == np.inf:
                return self.col("w_res")
            with np.errstate(invalid="ignore", divide="ignore"):
                shrunk = np.where(w > 0, lam * w / (w * w + lam), 0.0) if lam > 0 else np.zeros_like(w)
            return shrunk * self.col("res")
        raise KeyError(key)  # pragma: no cover

    def _checked_q(self, col: np.ndarray, pi_weighted: bool = False) -> np.ndarray:
        if not np.isfinite(np.add.reduce(col)):
            bad = ~np.isfinite(col)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                what = "sum_a action_dist * estimated_rewards" if pi_weighted else "the logged action's entry"
                raise ValueError(
                    f"estimated_rewards: expected finite values, got a non-finite value in row {i} ({what} at "
                    f"the logged position is {float(col[i])!r})"
                )
        return col

    # ---- helpers used by estimators / diagnostics ----------------------------------------
    def check_uniform_logging(self) -> None:
        """Replay (Li et al. 2011) is unbiased only for uniformly logged data."""
        log = self.log
        for k in np.unique(log.position):
            ps = log.pscore[log.position == k]
            if ps.max() - ps.min() > 1e-12 * ps.max():
                raise ValueError(
                    "pscore: the replay estimator ('rm') needs uniformly logged data (one constant "
                    f"pscore per position), got values from {float(ps.min())!r} to {float(ps.max())!r} at position {int(k)}"
                )

    def matrix(self, keys: list[str], ones_row: bool = False) -> np.ndarray:
        """Stack columns into ``(len(keys), n)`` float64: row ``j`` is column ``keys[j]``
        (each column contiguous, which keeps the reductions over rows fast); ``ones_row`` appends
        a row of ones."""
        m = len(keys)
        out = np.empty((m + int(ones_row), self.log.n_rounds))
        for j, k in enumerate(keys):
            out[j] = self.col(k)
        if ones_row:
            out[m] = 1.0
        return out


def column_keys(estimators: list[Estimator]) -> list[str]:
    """Distinct column keys needed by ``estimators``, in first-use order."""
    keys: list[str] = []
    for e in estimators:
        for num, den in e.terms():
            for k in (num, den):
                if k is not None and k not in keys:
                    keys.append(k)
    return keys


def term_index(estimators: list[Estimator], keys: list[str]) -> list[list[tuple[int, int]]]:
    """For each estimator, its terms as ``(num_col, den_col)`` indices into ``keys`` (-1 = 1)."""
    return [[(keys.index(num), -1 if den is None else keys.index(den)) for num, den in e.terms()]
            for e in estimators]


def values_from_means(terms: list[list[tuple[int, int]]], means: np.ndarray) -> np.ndarray:
    """Estimates from column means. means ``(..., m)`` -> ``(..., n_estimators)``."""
    out = []
    for tl in terms:
        v = 0.0
        for num, den in tl:
            v = v + (means[..., num] if den < 0 else means[..., num] / means[..., den])
        out.append(v)
    return np.stack(out, axis=-1)


def gradients(terms: list[list[tuple[int, int]]], means: np.ndarray) -> np.ndarray:
    """Gradient of each estimate w.r.t. the column means, ``(n_estimators, m)`` (delta method)."""
    g = np.zeros((len(terms), means.shape[0]))
    for e, tl in enumerate(terms):
        for num, den in tl:
            if den < 0:
                g[e, num] += 1.0
            else:
                g[e, num] += 1.0 / means[den]
                g[e, den] -= means[num] / means[den] ** 2
    return g


def prepare(data: Any, action_dist: Any, estimators: Any = ("ipw",), estimated_rewards: Any = None
            ) -> tuple[Columns, list[Estimator]]:
    """Validate everything once; returns the column store and the normalised estimator list."""
    est = as_estimators(estimators)
    log = as_logged(data)
    cols = Columns(log, action_dist, estimated_rewards)
    if any(e.model_based for e in est) and cols.estimated_rewards is None:
        names = [e.label for e in est if e.model_based]
        raise ValueError(
            f"estimated_rewards: estimators {names} need estimated_rewards of shape (n_rounds, n_actions, "
            "len_list), got None (evaluate() fits a reward model for you; the bare estimators do not)"
        )
    if any(e.name == "rm" for e in est):
        cols.check_uniform_logging()
    return cols, est


def estimate(name: str | Estimator, data: Any, action_dist: Any, estimated_rewards: Any = None,
             **kw: Any) -> float:
    """Point estimate of one estimator (obp's ``estimate_policy_value``).

    data: LoggedData-like (reward, action, pscore, position, n_actions, len_list).
    action_dist: ``(n_rounds, n_actions, len_list)`` float, each ``[i, :, k]`` a distribution.
    estimated_rewards: ``(n_rounds, n_actions, len_list)`` float, needed by dm/dr/sndr/switch-dr/dr-os.
    kw: estimator options (``lambda_``).
    Returns a python float.
    """
    e = name if isinstance(name, Estimator) else Estimator(name, **kw)
    cols, est = prepare(data, action_dist, [e], estimated_rewards)
    keys = column_keys(est)
    means = np.array([cols.col(k).mean() for k in keys])
    return float(values_from_means(term_index(est, keys), means)[0])


def round_rewards(name: str | Estimator, data: Any, action_dist: Any, estimated_rewards: Any = None,
                  **kw: Any) -> np.ndarray:
    """Per-row contributions ``(n_rounds,)`` float64 whose mean is the estimate (obp's
    ``_estimate_round_rewards``); ratio terms contribute ``num_i / mean(den)``."""
    e = name if isinstance(name, Estimator) else Estimator(name, **kw)
    cols, _ = prepare(data, action_dist, [e], estimated_rewards)
    out = np.zeros(cols.log.n_rounds)
    for num, den in e.terms():
        out = out + (cols.col(num) if den is None else cols.col(num) / cols.col(den).mean())
    return out
