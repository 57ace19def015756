"""Reward models for DM and DR on logs: named candidates, any scikit-learn estimator, and a choice
by cross-validated log-loss.

The model-based estimators need ``q_hat(x, a)``, fitted on features ``[context, action features]``
(a one-hot of the action when the log has no ``action_context``; see
:mod:`bandits.estimators.reward_model`). A model that is additive in those features cannot say
"action 2 is good for these members and bad for those": with a one-hot action it predicts the same
ranking of actions for every member, so DM values any contextual policy close to random play. The
candidates here:

``logistic``
    standardised logistic regression on ``[x, a]``: additive, no context x action term (obp's
    default and this project's former default). ``ridge`` for non-binary rewards.
``logistic_interactions``
    the same plus every product ``x_j * a_k`` (:class:`ContextActionInteractions`): with a one-hot
    action this is one logistic model per action. ``ridge_interactions`` for non-binary rewards.
``gbm``
    scikit-learn's histogram gradient boosting (classifier or regressor), which learns
    interactions from trees.

:func:`choose_reward_model` fits each candidate with ``folds``-fold cross-validation on the rows
and keeps the one with the smallest out-of-fold log-loss (binary rewards) or squared error
(others); the table of scores, with the standard error of each mean over rows, is returned so the
choice can be reported. :func:`sklearn_model` turns a ``_target_`` config node into an estimator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone, is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bandits.data import LoggedData

#: candidates of the automatic choice, binary rewards / other rewards
AUTO_CANDIDATES = ("logistic", "logistic_interactions", "gbm")
AUTO_CANDIDATES_REAL = ("ridge", "ridge_interactions", "gbm")
#: above this many interaction features the interaction candidate is left out (and said so)
MAX_INTERACTION_FEATURES = 5000
_EPS = 1e-6


class ContextActionInteractions(TransformerMixin, BaseEstimator):
    """``[x, a] -> [x, a, x (x) a]``: appends every product of a context column (the first
    ``n_context`` columns) with an action-feature column (the rest). Stateless."""

    def __init__(self, n_context: int = 1):
        self.n_context = n_context

    def fit(self, X, y=None):  # noqa: D401 - sklearn API
        return self

    def transform(self, X):
        X = np.asarray(X, np.float64)
        d = int(self.n_context)
        x, a = X[:, :d], X[:, d:]
        return np.hstack([X, (x[:, :, None] * a[:, None, :]).reshape(X.shape[0], -1)])


def named_model(name: str, *, binary: bool, n_context: int, seed: int = 0) -> Any:
    """The scikit-learn pipeline of a named candidate (see the module docstring)."""
    inter = ContextActionInteractions(n_context)
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "logistic_interactions":
        return make_pipeline(inter, StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "ridge":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    if name == "ridge_interactions":
        return make_pipeline(inter, StandardScaler(), Ridge(alpha=1.0))
    if name == "gbm":
        if binary:
            return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False,
                                                  random_state=seed)
        return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.1, early_stopping=False, random_state=seed)
    raise ValueError(f"reward model {name!r}: expected one of {sorted(NAMED)}")


NAMED = ("logistic", "logistic_interactions", "ridge", "ridge_interactions", "gbm")


def sklearn_model(node: dict[str, Any]) -> Any:
    """A scikit-learn estimator from a ``{_target_: "sklearn....", **params}`` node; ``ValueError``
    naming ``reward_model._target_`` when the target cannot be imported or is no estimator."""
    from hydra.utils import instantiate

    target = node.get("_target_")
    try:
        model = instantiate(dict(node), _convert_="all")
    except Exception as e:  # Hydra wraps import and argument errors
        cause = e.__cause__ or e
        raise ValueError(f"reward_model._target_: cannot build {target!r}: {str(cause).splitlines()[0]}") from None
    if not (hasattr(model, "fit") and (hasattr(model, "predict") or hasattr(model, "predict_proba"))
            and hasattr(model, "get_params")):
        raise ValueError(f"reward_model._target_: expected a scikit-learn estimator (fit, predict, get_params), "
                         f"got {target!r} ({type(model).__name__})")
    return model


def features(data: LoggedData) -> tuple[np.ndarray, np.ndarray]:
    """``(X (n, d + p), action_features (K, p))``: the reward model's design, ``[context,
    action_features[action]]`` (one-hot actions without ``action_context``)."""
    af = np.eye(data.n_actions) if data.action_context is None else np.asarray(data.action_context, np.float64)
    return np.concatenate([data.context, af[data.action]], axis=1), af


def is_binary(data: LoggedData) -> bool:
    return bool(np.all((data.reward == 0.0) | (data.reward == 1.0)))


@dataclass(frozen=True)
class RewardModelChoice:
    """The chosen reward model and why.

    name: the chosen candidate (or the ``_target_`` given). model: the unfitted estimator.
    scores: one row per candidate: ``model, metric, cv_mean, cv_se, chosen`` (empty when no
    choice was made). note: one line for the report.
    """

    name: str
    model: Any
    scores: pd.DataFrame
    note: str


def one_openmp_thread():
    """Fit and predict with one OpenMP thread (gradient boosting): spinning OpenMP workers on a
    busy machine made one boosting fit 20x slower than a single thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _cv_losses(model: Any, X: np.ndarray, y: np.ndarray, splits, binary: bool) -> np.ndarray:
    """Per-row out-of-fold loss: log-loss (binary) or squared error."""
    loss = np.empty(y.shape[0])
    for train, test in splits:
        yt = y[train]
        if np.all(yt == yt[0]):
            pred = np.full(test.shape[0], float(yt[0]))
        else:
            m = clone(model).fit(X[train], yt)
            if binary and (is_classifier(m) or hasattr(m, "predict_proba")):
                pred = m.predict_proba(X[test])[:, 1]
            else:
                pred = m.predict(X[test])
        pred = np.asarray(pred, np.float64)
        if binary:
            p = np.clip(pred, _EPS, 1 - _EPS)
            loss[test] = -(y[test] * np.log(p) + (1 - y[test]) * np.log(1 - p))
        else:
            loss[test] = (y[test] - pred) ** 2
    return loss


def choose_reward_model(data: LoggedData, candidates: tuple[str, ...] | None = None, folds: int = 3,
                        seed: int = 0) -> RewardModelChoice:
    """Cross-validate the named ``candidates`` on ``data`` and keep the best.

    data: the rows the reward model will be cross-fitted on (``context (n, d)``, ``d >= 1``).
    candidates: names from :data:`NAMED` (default :data:`AUTO_CANDIDATES` for 0/1 rewards,
    :data:`AUTO_CANDIDATES_REAL` otherwise). folds: cross-validation folds (same folds for every
    candidate). Returns a :class:`RewardModelChoice` whose ``scores`` has the mean out-of-fold
    loss per row and its standard error.
    """
    binary = is_binary(data)
    names = list(candidates or (AUTO_CANDIDATES if binary else AUTO_CANDIDATES_REAL))
    X, af = features(data)
    d = data.dim_context
    notes = []
    if d * af.shape[1] > MAX_INTERACTION_FEATURES:
        dropped = [n for n in names if n.endswith("_interactions")]
        names = [n for n in names if not n.endswith("_interactions")]
        if dropped:
            notes.append(f"{dropped} left out: {d} x {af.shape[1]} interaction features exceed {MAX_INTERACTION_FEATURES}")
    if not names:
        raise ValueError("reward_model.candidates: no candidate left to choose from")
    y = np.asarray(data.reward, np.float64)
    k = int(min(folds, y.shape[0]))
    if k < 2:
        raise ValueError(f"reward_model.folds: expected an integer >= 2 (and <= rows), got {folds!r}")
    splits = list(KFold(k, shuffle=True, random_state=seed).split(X))
    rows = []
    for name in names:
        with one_openmp_thread():
            loss = _cv_losses(named_model(name, binary=binary, n_context=d, seed=seed), X, y, splits, binary)
        rows.append({"model": name, "metric": "log_loss" if binary else "squared_error",
                     "cv_mean": float(loss.mean()), "cv_se": float(loss.std(ddof=1) / np.sqrt(loss.size))})
    scores = pd.DataFrame(rows)
    best = int(scores["cv_mean"].idxmin())
    scores["chosen"] = scores.index == best
    name = str(scores.loc[best, "model"])
    metric = scores.loc[best, "metric"]
    note = (f"reward model {name!r} chosen by {k}-fold cross-validated {metric} among "
            + ", ".join(f"{r.model} {r.cv_mean:.5f} (se {r.cv_se:.5f})" for r in scores.itertuples()))
    if notes:
        note += "; " + "; ".join(notes)
    return RewardModelChoice(name, named_model(name, binary=binary, n_context=d, seed=seed), scores, note)


def resolve_reward_model(node: dict[str, Any] | str | None, data: LoggedData, seed: int = 0) -> RewardModelChoice:
    """The reward model a ``reward_model`` config node asks for, on ``data``.

    node: ``"auto"`` / ``{"choose": [names...], "folds": 3}`` (cross-validated choice), a name from
    :data:`NAMED`, or ``{"_target_": "sklearn....", **params}`` (any scikit-learn estimator).
    """
    if node is None or node == "auto":
        return choose_reward_model(data, seed=seed)
    if isinstance(node, str):
        model = named_model(node, binary=is_binary(data), n_context=data.dim_context, seed=seed)
        return RewardModelChoice(node, model, pd.DataFrame(), f"reward model {node!r} (given)")
    node = dict(node)
    if node.get("_target_"):
        return RewardModelChoice(str(node["_target_"]), sklearn_model(node), pd.DataFrame(),
                                 f"reward model {node['_target_']!r} (given)")
    if node.get("name"):
        return resolve_reward_model(str(node["name"]), data, seed)
    return choose_reward_model(data, tuple(node.get("choose") or ()) or None, int(node.get("folds", 3)), seed)
