"""Reward models ``q_hat(x, a, k)`` for the model-based estimators (DM, DR and friends).

Following obp's ``RegressionModel``: one scikit-learn model per position (slot), trained on
features ``[context, action_features[action]]`` where ``action_features`` is ``action_context``
``(K, p)`` when the log has one (or when given) and a one-hot encoding of the action otherwise.
:func:`fit_reward_model` *cross-fits*: rows are split into ``n_folds`` folds and each fold's
predictions come from models trained on the other folds, so the reward model never predicts a
row it was trained on (the DR bias from overfitting vanishes; Chernozhukov et al. 2018).

Defaults: ``StandardScaler + LogisticRegression`` when every reward is 0 or 1, otherwise
``StandardScaler + Ridge``. Any scikit-learn regressor or classifier can be passed as ``model``
(classifiers are used through ``predict_proba[:, 1]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bandits.data import LoggedData

_PREDICT_ROWS = 100_000  # rows per prediction block (each expands to rows * K feature rows)


def default_model(binary: bool) -> Any:
    """The default scikit-learn pipeline for binary (logistic) or real (ridge) rewards."""
    if binary:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0))


class _Constant:
    """Fallback when a training subset has one reward value (e.g. no clicks in a fold)."""

    def __init__(self, value: float):
        self.value = float(value)


class RewardModel:
    """Fitted per-position reward models.

    ``predict(context) -> (n, n_actions, len_list)`` float64 for a context ``(n, d)``.
    """

    def __init__(self, models: list[Any], action_features: np.ndarray, len_list: int, binary: bool):
        self.models = models
        self.action_features = action_features
        self.n_actions = action_features.shape[0]
        self.len_list = len_list
        self.binary = binary

    def predict(self, context: Any) -> np.ndarray:
        context = np.asarray(context, dtype=np.float64)
        if context.ndim == 1:
            context = context[:, None]
        n = context.shape[0]
        out = np.empty((n, self.n_actions, self.len_list))
        for p in range(self.len_list):
            out[:, :, p] = _predict_all(self.models[p], context, self.action_features, self.binary)
        return out

    __call__ = predict


def _features(context: np.ndarray, action: np.ndarray, action_features: np.ndarray) -> np.ndarray:
    return np.concatenate([context, action_features[action]], axis=1)


def _fit_one(model: Any, X: np.ndarray, y: np.ndarray, binary: bool) -> Any:
    if y.size == 0:
        return _Constant(0.0)
    if np.all(y == y[0]):
        return _Constant(y[0])
    m = clone(model)
    m.fit(X, y)
    return m


def _predict_all(m: Any, context: np.ndarray, action_features: np.ndarray, binary: bool) -> np.ndarray:
    """Predictions for every action: ``(n, K)``."""
    n, K = context.shape[0], action_features.shape[0]
    if isinstance(m, _Constant):
        return np.full((n, K), m.value)
    out = np.empty((n, K))
    for i0 in range(0, n, _PREDICT_ROWS):
        ctx = context[i0:i0 + _PREDICT_ROWS]
        r = ctx.shape[0]
        X = np.concatenate([np.repeat(ctx, K, axis=0), np.tile(action_features, (r, 1))], axis=1)
        if is_classifier(m) or (binary and hasattr(m, "predict_proba")):
            pred = m.predict_proba(X)[:, 1]
        else:
            pred = m.predict(X)
        out[i0:i0 + r] = np.asarray(pred, dtype=np.float64).reshape(r, K)
    return out


def _setup(data: LoggedData | Mapping, action_context: Any, len_list: int | None):
    log = LoggedData.coerce(data)
    if log.dim_context == 0:
        raise ValueError(
            f"data.context: a reward model needs contexts of shape (n_rounds, d) with d >= 1, got shape "
            f"{log.context.shape} (pass estimated_rewards yourself for context-free logs)"
        )
    context = log.context
    ac = action_context if action_context is not None else log.action_context
    if ac is None:
        af = np.eye(log.n_actions)
    else:
        af = np.asarray(ac, dtype=np.float64)
        if af.ndim != 2 or af.shape[0] != log.n_actions:
            raise ValueError(
                f"action_context: expected shape (n_actions={log.n_actions}, p), got shape {af.shape}"
            )
    L = int(len_list) if len_list is not None else log.len_list
    binary = bool(np.all((log.reward == 0.0) | (log.reward == 1.0)))
    return log, context, af, L, binary


def _positions(log: LoggedData, L: int) -> list[np.ndarray | None]:
    """Row selector per slot (None = all rows: the log has no position, or len_list 1)."""
    if log.position is None or L == 1:
        return [None] * L
    return [log.position == p for p in range(L)]


def fit_reward_model_on(data: LoggedData | Mapping, model: Any = None, action_context: Any = None,
                        len_list: int | None = None) -> RewardModel:
    """Fit per-position reward models on all of ``data`` (no cross-fitting).

    Use it to score other rows, e.g. a held-out log or a stream of batches in
    :func:`bandits.estimators.evaluate_batches` (``estimated_rewards=lambda b: rm.predict(b.context)``).
    """
    log, context, af, L, binary = _setup(data, action_context, len_list)
    base = model if model is not None else default_model(binary)
    X = _features(context, log.action, af)
    models = []
    for sel in _positions(log, L):
        idx = slice(None) if sel is None else sel
        models.append(_fit_one(base, X[idx], log.reward[idx], binary))
    return RewardModel(models, af, L, binary)


def fit_reward_model(data: LoggedData | Mapping, model: Any = None, n_folds: int = 3, random_state: int | None = 0,
                     action_context: Any = None, len_list: int | None = None) -> np.ndarray:
    """Cross-fitted ``estimated_rewards`` ``(n_rounds, n_actions, len_list)`` float64.

    data: :class:`bandits.data.LoggedData` (or obp's dict) with ``context (n, d)``, ``d >= 1``;
        ``position`` and ``action_context`` are used when present.
    model: scikit-learn estimator (cloned per fold and position); default :func:`default_model`.
    n_folds: number of cross-fitting folds (1 = fit and predict on all rows, obp's default).
    """
    if not (isinstance(n_folds, (int, np.integer)) and n_folds >= 1):
        raise ValueError(f"n_folds: expected an integer >= 1, got {n_folds!r}")
    log, context, af, L, binary = _setup(data, action_context, len_list)
    n = log.n_rounds
    if n_folds > n:
        raise ValueError(f"n_folds: expected at most n_rounds={n} folds, got {n_folds}")
    base = model if model is not None else default_model(binary)
    X = _features(context, log.action, af)
    q = np.empty((n, log.n_actions, L))
    if n_folds == 1:
        splits = [(np.arange(n), np.arange(n))]
    else:
        splits = list(KFold(n_folds, shuffle=True, random_state=random_state).split(X))
    sels = _positions(log, L)
    for train, test in splits:
        for p, sel in enumerate(sels):
            tr = train if sel is None else train[sel[train]]
            m = _fit_one(base, X[tr], log.reward[tr], binary)
            q[test, :, p] = _predict_all(m, context[test], af, binary)
    return q
