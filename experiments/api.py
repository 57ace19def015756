"""screentest from Python, in one import: ``from experiments import api as st``.

The design card fixes the top-level packages (``bandits``, ``envs``, ``experiments``), so the
notebook entry point lives here, at the top layer, where it may use every other layer. Each
function is a thin, documented door onto the same code the ``screentest`` command runs:

==========================  ======================================================  ==========================
function                    what it does                                            same as
==========================  ======================================================  ==========================
:func:`load_logs`           a parquet/CSV file, DataFrame or obp dict -> LoggedData  ``data=parquet ...``
:func:`evaluate`            train candidates on the first part of the logs and      ``screentest ope``
                            estimate them off-policy on the rest
:func:`train`               one policy trained on logs (save it, serve it)           ``save_policies=DIR``
:func:`world`               a registered synthetic world                             ``env=linear ...``
:func:`simulator`           the member simulator calibrated on logs                  ``env=simulator``
:func:`sweep`               seeds x hyperparameter grid x policies in a world       ``screentest policy=...``
:func:`save_policy`,        the portable policy format and numpy serving            :mod:`bandits.serving`
:func:`load_policy`
==========================  ======================================================  ==========================

Policies are named as in the registry (``"linucb"``) or given with hyperparameters as
``("linucb", {"alpha": 0.3})``; a list of values is a grid (``("linucb", {"alpha": [0.1, 0.3, 1]})``,
vmapped in one compiled call). A dict gives labels: ``{"ucb_wide": ("linucb", {"alpha": 2.0})}``.
Errors name the argument, as the command's do.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bandits.data import LoggedData
from bandits.serving import load_policy, save_policy
from experiments.builders import PolicySpec, World, policy_spec
from experiments.offline import OfflineResult, TrainedCandidate

__all__ = ["load_logs", "evaluate", "train", "world", "simulator", "sweep", "candidates", "save_policy",
           "load_policy", "LoggedData", "OfflineResult", "TrainedCandidate"]


def _progress(on: bool):
    return (lambda msg: print(msg, file=sys.stderr)) if on else (lambda msg: None)


def candidates(policies: Any) -> list[PolicySpec]:
    """Candidate specs from names, ``(name, {hparam: value or [grid values]})`` pairs, a dict
    ``{label: name or (name, {...})}`` or :class:`~experiments.builders.PolicySpec` objects.
    ``static`` constructor options go in the dict under ``"static"``. Checked against the
    policies' declarations (``ValueError`` naming the policy and hyperparameter)."""
    from experiments.builders import ConfigError

    if isinstance(policies, (str, PolicySpec)) or (isinstance(policies, tuple) and len(policies) == 2
                                                   and isinstance(policies[1], Mapping)):
        policies = [policies]
    items = list(policies.items()) if isinstance(policies, Mapping) else [(None, p) for p in policies]
    if not items:
        raise ValueError("policies: expected at least one policy, got none")
    out = []
    for label, p in items:
        if isinstance(p, PolicySpec):
            spec = p if label is None else PolicySpec(label, p.name, p.static, p.hparams, p.grid, p.keys)
        else:
            name, opts = (p, {}) if isinstance(p, str) else p
            if not isinstance(name, str) or not isinstance(opts, Mapping):
                raise ValueError(f"policies: expected 'name' or ('name', {{hparam: value}}), got {p!r}")
            opts = dict(opts)
            static = opts.pop("static", {})
            grid = {k: list(v) for k, v in opts.items() if isinstance(v, (list, tuple, np.ndarray))}
            hp = {k: v for k, v in opts.items() if k not in grid}
            try:
                spec = policy_spec(name, label=label, static=static, grid=grid, hparams=hp)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        try:
            spec.validate(f"policies[{spec.label!r}].")
        except ConfigError as e:
            raise ValueError(str(e)) from None
        out.append(spec)
    labels = [s.label for s in out]
    if len(set(labels)) != len(labels):
        raise ValueError(f"policies: labels must be distinct, got {labels} (use a dict to name them)")
    return out


def load_logs(source: Any, *, n_actions: int | None = None, **columns: Any) -> LoggedData:
    """Logs as a validated :class:`~bandits.data.LoggedData`.

    source: a ``.parquet`` / ``.csv`` path, a pandas DataFrame, a LoggedData, obp's
        ``bandit_feedback`` dict, or ``"obd"`` (the bundled Open Bandit Dataset sample; ``columns``
        then are :func:`bandits.datasets.load_obd`'s arguments).
    n_actions: the number of items in the catalogue (ids must be ``0..n_actions-1``); default:
        the largest logged id + 1. Raw catalogue ids and 1-based ids are refused with a hint;
        items never logged are warned about (``UserWarning``).
    columns: the column mapping of :class:`bandits.data.ColumnMap` (``context_cols=[...]``,
        ``action_col``, ``reward_col``, ``pscore_col``, ``position_col``, ``timestamp_col``, ...).
    """
    from experiments.offline import check_catalog

    if isinstance(source, str) and source == "obd":
        from bandits.datasets import load_obd

        data = load_obd(**columns)
    elif isinstance(source, LoggedData):
        data = source
    elif isinstance(source, Mapping):
        data = LoggedData.from_obp(source)
    elif isinstance(source, (str, Path)):
        p = Path(source)
        if not p.is_file():
            raise FileNotFoundError(f"source: no such file {str(p)!r}")
        reader = LoggedData.from_parquet if p.suffix == ".parquet" else LoggedData.from_csv
        data = reader(p, **columns)
    else:
        import pandas as pd

        if not isinstance(source, pd.DataFrame):
            raise TypeError(f"source: expected a path, a DataFrame, a LoggedData, obp's dict or 'obd', "
                            f"got {type(source).__name__}")
        data = LoggedData.from_dataframe(source, **columns)
    if n_actions is None and (isinstance(source, LoggedData) or data.action_context is not None):
        n_actions = data.n_actions  # a size the logs already state (e.g. one row of item features per item)
    data, warns = check_catalog(data, n_actions, where="")
    for w in warns:
        warnings.warn(w, UserWarning, stacklevel=2)
    return data


def evaluate(logs: Any, policies: Any, *, estimators: Sequence[Any] = ("ipw", "snipw", "dm", "dr"),
             train_frac: float = 0.5, reward_model: Any = "auto", reward_model_folds: int = 3,
             interval: str = "normal", alpha: float = 0.05, n_bootstrap: int = 200, seed: int = 0,
             mc_samples: int = 10_000, rank_by: str = "dr", progress: bool = False) -> OfflineResult:
    """Off-policy comparison of candidate policies on logs (what ``screentest ope`` runs).

    logs: anything :func:`load_logs` reads. policies: see :func:`candidates`. The first
    ``train_frac`` of the rows (time order when the logs have a timestamp) trains every candidate
    (at every grid point), the rest estimates its value with ``estimators``; ``reward_model``:
    ``"auto"`` (chosen by cross-validated log-loss), a name of
    :data:`experiments.reward_models.NAMED`, or any scikit-learn estimator as
    ``{"_target_": "sklearn.ensemble.RandomForestClassifier", "n_estimators": 200}``.
    interval: ``"normal"``, ``"bootstrap"`` (percentile), ``"bca"`` (bias-corrected and
    accelerated bootstrap) or ``"none"``, at level ``1 - alpha`` (``n_bootstrap`` resamples).

    Returns :class:`~experiments.offline.OfflineResult`: ``.table`` (one row per candidate, grid
    point and estimator), ``.best`` (each candidate's best grid point, paired difference to the
    best), ``.reward_model`` (the choice and its cross-validation scores), ``.warnings`` (DM/DR
    disagreements and the estimators' warnings, per candidate), ``.candidates`` (the trained policies: ``.save(path)``).
    """
    from experiments.offline import evaluate_logs

    data = logs if isinstance(logs, LoggedData) else load_logs(logs)
    return evaluate_logs(data, candidates(policies), estimators=estimators, train_frac=train_frac,
                         reward_model=reward_model, reward_model_folds=reward_model_folds, interval=interval,
                         alpha=alpha, n_bootstrap=n_bootstrap, seed=seed, mc_samples=mc_samples, rank_by=rank_by,
                         progress=_progress(progress))


def train(policy: Any, logs: Any, *, seed: int = 0, static: Mapping[str, Any] | None = None,
          **hparams: float) -> TrainedCandidate:
    """One policy trained on every row of ``logs`` (fold ``policy.update`` over the rows, one
    ``lax.scan``). policy: a registered name; hparams: its hyperparameters (``alpha=0.3``);
    static: constructor options. Returns a :class:`~experiments.offline.TrainedCandidate`
    (``.policy``, ``.state``, ``.hparams``; ``.save(path)`` writes the portable format)."""
    from experiments.offline import logs_world, train_candidates

    data = logs if isinstance(logs, LoggedData) else load_logs(logs)
    if not isinstance(policy, str):
        raise TypeError(f"policy: expected a registered policy name, got {type(policy).__name__}")
    grids = sorted(k for k, v in hparams.items() if isinstance(v, (list, tuple, np.ndarray)))
    if grids:
        raise ValueError(f"hparams: train() trains one point; {grids} are lists (use evaluate() for a grid)")
    (spec,) = candidates([(policy, {**hparams, "static": dict(static or {})})])
    (cand,) = train_candidates([spec], data, logs_world(data), seed=seed)
    return cand


def world(name: str, **kwargs: Any):
    """A registered world (:mod:`envs.registry`) by registry name (``linear_gaussian``) or config
    option (``linear``, ``logistic``, ``bernoulli``), built with its constructor's ``kwargs``.
    Returns a :class:`bandits.contracts.Env`. For the member simulator use :func:`simulator`."""
    from envs.registry import by_cli_name
    from experiments.builders import ConfigError, synthetic_env

    family = by_cli_name()[name].name if name in by_cli_name() else name
    try:
        return synthetic_env(family, **kwargs)
    except ConfigError as e:
        raise ValueError(str(e)) from None


def simulator(logs: Any, **knobs: Any):
    """The member simulator calibrated on ``logs`` (:func:`experiments.builders.build_simulator`:
    ``len_list``, ``item_prior``, ``penalties``, ``temperature``, ``noise``, ``seed``, ...).
    Returns the fitted ``MemberSimulator``: ``.env`` is the world, ``.report`` its held-out
    calibration."""
    from experiments.builders import ConfigError, build_simulator

    data = logs if isinstance(logs, LoggedData) else load_logs(logs)
    try:
        return build_simulator(data, **knobs)
    except ConfigError as e:
        raise ValueError(str(e)) from None


def sweep(env: Any, policies: Any, seeds: Any = 30, *, horizon: int = 1000, **kwargs: Any):
    """Simulate every candidate (every grid point) x ``seeds`` for ``horizon`` rounds in ``env``
    (a :class:`bandits.contracts.Env` or a world name for :func:`world`), common random numbers.

    policies: see :func:`candidates` (grids are vmapped: one compiled call per candidate).
    kwargs: :func:`bandits.engine.sweep.sweep`'s options (``chunk_size``, ``checkpoints``, ...).
    Returns its tidy DataFrame: one row per (policy, grid point, seed) with ``cum_regret``,
    ``cum_reward`` and the regret at checkpoints.
    """
    from bandits.engine.sweep import sweep as engine_sweep

    e = world(env) if isinstance(env, str) else env
    specs = candidates(policies)
    w = World(getattr(e, "name", "env"), e.num_actions, e.context_dim, e.len_list)
    built = {}
    grid = {}
    for s in specs:
        from experiments.builders import ConfigError

        try:
            built[s.label] = s.build(w)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        points = s.points()
        if s.grid or s.hparams:
            grid[s.label] = points
    return engine_sweep(e, built, seeds, grid=grid, horizon=horizon, **kwargs)
