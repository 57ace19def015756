"""Off-policy estimators on obp's conventions, written as ratios of column means.

Every estimator here is a sum of *terms*; a term is either the mean of one per-row column or a
ratio of two column means::

    V_hat = sum_t  mean(num_t) / mean(den_t)          (den_t = 1 for a plain mean)

Columns are float64 arrays of shape ``(n_rounds,)`` built from the logged data
(:class:`bandits.data.LoggedData`) and the evaluation policy's ``action_dist`` (and, for the
model-based estimators, ``estimated_rewards``). Each estimator declares its terms and the columns
it introduces in :mod:`bandits.estimators.registry`; the built-in ones are in
:mod:`bandits.estimators.ipw` (``ipw``, ``snipw``), :mod:`bandits.estimators.dm` (``dm``),
:mod:`bandits.estimators.dr` (``dr``, ``sndr``, ``switch-dr``, ``dr-os``) and
:mod:`bandits.estimators.replay` (``rm``). This module holds what they share: the
:class:`Estimator` handle, the column store :class:`Columns` and its base columns, and the
algebra from column means to estimates and their gradients.

Base columns, with ``w_i = pi_e(a_i | x_i, k_i) / pscore_i`` the importance weight at the logged
position ``k_i``, ``q_hat(x_i, pi_e) = sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i)`` and
``q_hat_i = q_hat(x_i, a_i, k_i)``:

==========  ==========================================================
key         column
==========  ==========================================================
``pi_f``    ``pi_e(a_i | x_i, k_i)``, the target's probability of the logged action
``w``       ``w_i``
``r``       ``r_i``, the logged reward
``q_f``     ``q_hat_i`` (needs ``estimated_rewards``)
``res``     ``r_i - q_hat_i`` (needs ``estimated_rewards``)
``q_pi``    ``q_hat(x_i, pi_e)`` (needs ``estimated_rewards``)
==========  ==========================================================

Writing estimators this way is what makes intervals cheap: the normal interval is a delta-method
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
from types import MappingProxyType
from typing import Any

import numpy as np

from bandits.data import LoggedData
from bandits.estimators import _checks as ck

# HParam and register_estimator are re-exported for estimator modules: importing the declaration
# API from here also registers the base columns below, which their terms may use
from bandits.estimators.registry import (
    COLUMNS,
    ColumnKey,
    EstimatorSpec,
    Term,
    estimator_names,
    get_spec,
    label_for,
    register_column,
)
from bandits.estimators.registry import HParam as HParam
from bandits.estimators.registry import register_estimator as register_estimator

# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------


class Estimator:
    """One registered estimator with its hyperparameters, e.g. ``Estimator("switch-dr", lambda_=50.0)``.

    name: a registered name or alias (:func:`bandits.estimators.registry.estimator_names`).
    label: the row name in :func:`bandits.estimators.evaluate`'s table (default: the name, plus
        the hyperparameters that differ from their defaults, e.g. ``switch-dr(lambda=50)``).
    hparams: the estimator's hyperparameters by keyword (None = default), checked by its
        declaration; read back as ``est.hparams`` or as attributes (``est.lambda_``).
    """

    __slots__ = ("spec", "name", "hparams", "label")

    def __init__(self, name: str, /, *, label: str = "", **hparams: Any):
        spec = get_spec(name)
        if not isinstance(label, str):
            raise TypeError(f"label: expected a str, got {type(label).__name__} {label!r}")
        hp = spec.check_hparams({k: v for k, v in hparams.items() if v is not None})
        self.spec: EstimatorSpec = spec
        self.name: str = spec.name
        self.hparams: Mapping[str, Any] = MappingProxyType(hp)
        self.label: str = label or label_for(spec, hp)

    def __reduce__(self):
        # rebuilt from its name and values (the declaration holds functions, which do not pickle)
        return (_make_estimator, (self.name, self.label, dict(self.hparams)))

    def __getattr__(self, key: str) -> Any:
        if key in Estimator.__slots__:
            raise AttributeError(key)
        hp = self.hparams
        if key in hp:
            return hp[key]
        raise AttributeError(f"estimator {self.name!r} has no hyperparameter {key!r} (it has {list(hp)})")

    @property
    def needs_reward_model(self) -> bool:
        """Whether the estimator reads ``estimated_rewards`` (a reward model)."""
        return self.spec.needs_reward_model

    @property
    def uniform_logs(self) -> bool:
        """Whether the estimator is valid only on uniformly logged data."""
        return self.spec.uniform_logs

    def terms(self) -> tuple[Term, ...]:
        """The estimate as ``sum(mean(num) / mean(den))`` over :class:`Term` s of column keys."""
        return self.spec.term_list(self.hparams)

    def _key(self) -> tuple:
        return (self.name, tuple(sorted(self.hparams.items())), self.label)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Estimator) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.hparams.items())
        return f"Estimator({self.name!r}{args}, label={self.label!r})"


def _make_estimator(name: str, label: str, hparams: dict[str, Any]) -> Estimator:
    return Estimator(name, label=label, **hparams)


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
    each once, by the functions registered in :data:`bandits.estimators.registry.COLUMNS`).

    data: :class:`bandits.data.LoggedData` (validated at its construction). action_dist
    ``(n, K, L)``: checked here (shape, non-negative, rows summing to 1) unless ``check=False``.
    estimated_rewards ``(n, K, L)`` or None: shape checked here, finiteness where it is read.
    Attributes for column functions: ``data``, ``position`` ``(n,)`` int64 (zeros when the log
    has none), ``action_dist`` and ``estimated_rewards`` (float64), ``len_list``, ``rowsum``
    ``(n, L)``; methods :meth:`col`, :meth:`factual`, :meth:`at_position`, :meth:`q`.
    """

    def __init__(self, data: LoggedData, action_dist: Any, estimated_rewards: Any = None,
                 check: bool = True):
        if not isinstance(data, LoggedData):
            raise TypeError(f"data: expected a bandits.data.LoggedData, got {type(data).__name__}")
        n, K = data.n_rounds, data.n_actions
        ad = ck.as_action_array("action_dist", action_dist, n, K, None)
        if data.position is not None and ad.shape[2] <= int(data.position.max()):
            raise ValueError(
                f"action_dist: expected len_list >= max(position) + 1 = {int(data.position.max()) + 1} "
                f"positions (axis 2), got shape {tuple(ad.shape)}"
            )
        self.data = data
        self.position = data.position if data.position is not None else np.zeros(n, np.int64)
        self.action_dist = ad
        self.len_list = ad.shape[2]
        self.rowsum = ck.check_action_dist(ad) if check else ad.sum(axis=1)
        self.estimated_rewards = None
        if estimated_rewards is not None:
            # finiteness is checked on what the estimators read (q at the logged slot, through
            # q_hat(x, pi_e) and q_hat(x, a_i)): a NaN/inf there makes those columns non-finite
            # (0 * inf is NaN), and entries at other slots are never used
            self.estimated_rewards = ck.as_action_array("estimated_rewards", estimated_rewards, n, K, self.len_list)
        self._cache: dict[ColumnKey, np.ndarray] = {}
        self._flat_idx: np.ndarray | None = None

    # ---- gathers -------------------------------------------------------------------------
    @property
    def flat_idx(self) -> np.ndarray:
        """Flat index of ``(i, a_i, k_i)`` into a C-ordered ``(n, K, L)`` array."""
        if self._flat_idx is None:
            data, L = self.data, self.len_list
            idx = np.arange(0, data.n_rounds * data.n_actions * L, data.n_actions * L, dtype=np.int64)
            idx += data.action * L if L > 1 else data.action
            if L > 1:
                idx += self.position
            self._flat_idx = idx
        return self._flat_idx

    def factual(self, arr: np.ndarray) -> np.ndarray:
        """``arr[i, a_i, k_i]`` ``(n,)`` for an ``(n, K, L)`` array: the logged action at its slot."""
        return np.take(np.ascontiguousarray(arr).reshape(-1), self.flat_idx)

    def at_position(self, arr: np.ndarray) -> np.ndarray:
        """``arr[i, :, k_i]`` as an ``(n, K)`` array (a view when len_list == 1)."""
        if arr.shape[2] == 1:
            return arr[:, :, 0]
        n = arr.shape[0]
        return arr[np.arange(n), :, self.position]

    # ---- columns -------------------------------------------------------------------------
    def col(self, key: ColumnKey) -> np.ndarray:
        """Per-row column ``(n,)`` float64 by key: a registered column name (``"w"``) or a tuple
        of a name and its arguments (``("wr_clip", 5.0)``)."""
        c = self._cache.get(key)
        if c is None:
            name, args = (key, ()) if isinstance(key, str) else (key[0], tuple(key[1:]))
            fn = COLUMNS.get(name)
            if fn is None:
                raise KeyError(f"column {name!r} is not registered; registered columns: {sorted(COLUMNS)}")
            c = fn(self, *args)
            self._cache[key] = c
        return c

    def q(self) -> np.ndarray:
        """``estimated_rewards`` ``(n, K, L)``, or a ``ValueError`` naming it when absent."""
        if self.estimated_rewards is None:
            needs = [nm for nm in estimator_names() if get_spec(nm).needs_reward_model]
            raise ValueError(
                f"estimated_rewards: the model-based estimators ({', '.join(needs)}) need "
                "estimated_rewards of shape (n_rounds, n_actions, len_list), got None"
            )
        return self.estimated_rewards

    def checked_q(self, col: np.ndarray, what: str) -> np.ndarray:
        """``col`` (a column read from ``estimated_rewards``) after checking it is finite."""
        if not np.isfinite(np.add.reduce(col)):
            bad = ~np.isfinite(col)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"estimated_rewards: expected finite values, got a non-finite value in row {i} ({what} at "
                    f"the logged position is {float(col[i])!r})"
                )
        return col

    def matrix(self, keys: list[ColumnKey], ones_row: bool = False) -> np.ndarray:
        """Stack columns into ``(len(keys), n)`` float64: row ``j`` is column ``keys[j]``
        (each column contiguous, which keeps the reductions over rows fast); ``ones_row`` appends
        a row of ones."""
        m = len(keys)
        out = np.empty((m + int(ones_row), self.data.n_rounds))
        for j, k in enumerate(keys):
            out[j] = self.col(k)
        if ones_row:
            out[m] = 1.0
        return out


# ---- the base columns every estimator can use (see the module docstring) ---------------------


def _pi_f(c: Columns) -> np.ndarray:
    return c.factual(c.action_dist)


def _w(c: Columns) -> np.ndarray:
    return c.col("pi_f") / c.data.pscore


def _r(c: Columns) -> np.ndarray:
    return c.data.reward


def _q_f(c: Columns) -> np.ndarray:
    return c.checked_q(c.factual(c.q()), "the logged action's entry")


def _res(c: Columns) -> np.ndarray:
    return c.data.reward - c.col("q_f")


def _q_pi(c: Columns) -> np.ndarray:
    q = c.q()
    qp = np.einsum("nk,nk->n", c.at_position(q), c.at_position(c.action_dist))
    rs = c.rowsum[:, 0] if c.len_list == 1 else c.rowsum[np.arange(c.data.n_rounds), c.position]
    qp /= rs  # obp normalises with np.average(weights=pi_e); identical for valid rows
    return c.checked_q(qp, "sum_a action_dist * estimated_rewards")


for _name, _fn in (("pi_f", _pi_f), ("w", _w), ("r", _r), ("q_f", _q_f), ("res", _res), ("q_pi", _q_pi)):
    register_column(_name, _fn)


def check_uniform_logging(data: LoggedData, estimator: str) -> None:
    """For estimators valid only on uniformly logged data (replay, Li et al. 2011): one constant
    ``pscore`` per position, else a ``ValueError`` naming ``estimator``."""
    pos = data.position if data.position is not None else np.zeros(data.n_rounds, np.int64)
    for k in np.unique(pos):
        ps = data.pscore[pos == k]
        if ps.max() - ps.min() > 1e-12 * ps.max():
            raise ValueError(
                f"pscore: the {estimator!r} estimator needs uniformly logged data (one constant "
                f"pscore per position), got values from {float(ps.min())!r} to {float(ps.max())!r} at position {int(k)}"
            )


# --------------------------------------------------------------------------------------------
# From column means to estimates
# --------------------------------------------------------------------------------------------


def column_keys(estimators: list[Estimator]) -> list[ColumnKey]:
    """Distinct column keys needed by ``estimators``, in first-use order."""
    keys: list[ColumnKey] = []
    for e in estimators:
        for t in e.terms():
            for k in t:
                if k is not None and k not in keys:
                    keys.append(k)
    return keys


def term_index(estimators: list[Estimator], keys: list[ColumnKey]) -> list[list[tuple[int, int]]]:
    """For each estimator, its terms as ``(num_col, den_col)`` indices into ``keys`` (-1 = 1)."""
    return [[(keys.index(t.num), -1 if t.den is None else keys.index(t.den)) for t in e.terms()]
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


def check_requirements(est: list[Estimator], cols: Columns, from_evaluate: bool = False) -> None:
    """What the declarations ask of the inputs: ``estimated_rewards`` for model-based estimators,
    uniform logs for replay-type ones."""
    if cols.estimated_rewards is None and any(e.needs_reward_model for e in est):
        names = [e.label for e in est if e.needs_reward_model]
        hint = "" if from_evaluate else " (evaluate() fits a reward model for you; the bare estimators do not)"
        raise ValueError(
            f"estimated_rewards: estimators {names} need estimated_rewards of shape (n_rounds, n_actions, "
            f"len_list), got None{hint}"
        )
    for e in est:
        if e.uniform_logs:
            check_uniform_logging(cols.data, e.name)


def prepare(data: LoggedData | Mapping, action_dist: Any, estimators: Any = ("ipw",), estimated_rewards: Any = None
            ) -> tuple[Columns, list[Estimator]]:
    """Validate everything once; returns the column store and the normalised estimator list."""
    est = as_estimators(estimators)
    cols = Columns(LoggedData.coerce(data), action_dist, estimated_rewards)
    check_requirements(est, cols)
    return cols, est


def estimate(name: str | Estimator, data: LoggedData | Mapping, action_dist: Any, estimated_rewards: Any = None,
             **hparams: Any) -> float:
    """Point estimate of one estimator (obp's ``estimate_policy_value``).

    data: :class:`bandits.data.LoggedData` (or obp's ``bandit_feedback`` dict, read through
        :meth:`LoggedData.from_obp`).
    action_dist: ``(n_rounds, n_actions, len_list)`` float, each ``[i, :, k]`` a distribution.
    estimated_rewards: ``(n_rounds, n_actions, len_list)`` float, needed by the model-based
        estimators (``needs_reward_model`` in their declaration: dm, dr, sndr, switch-dr, dr-os).
    hparams: the estimator's hyperparameters (e.g. ``lambda_``).
    Returns a python float.
    """
    e = name if isinstance(name, Estimator) else Estimator(name, **hparams)
    cols, est = prepare(data, action_dist, [e], estimated_rewards)
    keys = column_keys(est)
    means = np.array([cols.col(k).mean() for k in keys])
    return float(values_from_means(term_index(est, keys), means)[0])


def round_rewards(name: str | Estimator, data: LoggedData | Mapping, action_dist: Any, estimated_rewards: Any = None,
                  **hparams: Any) -> np.ndarray:
    """Per-row contributions ``(n_rounds,)`` float64 whose mean is the estimate (obp's
    ``_estimate_round_rewards``); ratio terms contribute ``num_i / mean(den)``."""
    e = name if isinstance(name, Estimator) else Estimator(name, **hparams)
    cols, _ = prepare(data, action_dist, [e], estimated_rewards)
    out = np.zeros(cols.data.n_rounds)
    for t in e.terms():
        out = out + (cols.col(t.num) if t.den is None else cols.col(t.num) / cols.col(t.den).mean())
    return out
