"""Off-policy evaluation of candidate policies on your own logs: train each candidate on the first
part of the log, freeze it, and estimate its value on the rest.

This is the engine behind ``screentest ope`` (:mod:`experiments.ope_cli`) and
:func:`experiments.api.evaluate`:

1. :func:`check_catalog`: the item ids are ``0..K-1`` (refuses raw ids and 1-based ids with a way
   out) and warns about items the logs never show.
2. :func:`split_log`: the first ``train_frac`` of the rows, in time order when the log has a
   ``timestamp`` (logged order otherwise), train; the rest evaluate. ``train_frac=0`` evaluates
   every policy at its initial state (said so in the notes).
3. :func:`train_candidates`: every candidate (any registered policy, a
   :class:`~experiments.builders.PolicySpec`) is built for the log's sizes and trained by folding
   ``policy.update`` over the training rows in one ``lax.scan``, vmapped over its hyperparameter
   grid (one compiled call per candidate, whatever the grid). Slate policies that also serve one
   slot (Bernoulli TS, ``bts``) are trained row by row with the single-slot protocol, which for a
   per-item posterior is the same update; other slate policies are refused on slate logs.
4. :func:`evaluate_logs`: one reward model (chosen by cross-validated log-loss unless given,
   :mod:`experiments.reward_models`) cross-fitted on the evaluation rows and shared by every
   candidate; every estimator on every (candidate, grid point); a warning when DM's and DR's
   intervals do not overlap (the reward model is then misspecified for that policy, and DM
   cannot be trusted).

Context-free Thompson-sampling candidates get their action distribution from ``mc_samples``
Monte Carlo draws (computed once: it does not depend on the context); contextual ones (LinTS)
from their own ``num_samples`` draws per row. Each estimate's interval covers the logs' sampling
noise, not this Monte Carlo noise (per-entry standard error ``sqrt(p (1 - p) / draws)``).
"""

from __future__ import annotations

import json
import time
import warnings as _warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bandits.caching import IdentityLRU
from bandits.data import LoggedData
from experiments.builders import PolicySpec, World
from experiments.reward_models import RewardModelChoice, one_openmp_thread, resolve_reward_model

#: above this many entries (rows x items x slots) an action distribution is refused
MAX_ACTION_DIST_ENTRIES = 200_000_000
#: registered policies that learn nothing from logs (when every candidate is one, every row evaluates)
NON_LEARNING = frozenset({"random"})


def _noop(msg: str) -> None:
    return None


# ----------------------------------------------------------------------------- the catalogue


def check_catalog(data: LoggedData, n_actions: int | None = None, *, where: str = "data.") -> tuple[LoggedData, list[str]]:
    """The log with ``n_actions`` items, and warnings; ``ValueError`` (one line naming the argument)
    for ids that are not ``0..K-1``.

    data: a log read without ``n_actions`` (so ``data.n_actions = max id + 1``). n_actions: the
    number of items in the catalogue (``data.n_actions`` in the config), or None (the largest id
    + 1). where: prefix of the argument names in messages (``data.`` for the CLI, ``""`` for the API).
    Refused: what :func:`bandits.estimators.diagnostics.id_problems` finds (raw catalogue ids,
    1-based ids when ``n_actions`` is not given, 1-based slots), and ids beyond ``n_actions``
    (1-based ids get their own hint).
    Warned: items that never appear in the logs.
    """
    from bandits.estimators.diagnostics import id_problems

    acts = np.unique(data.action)
    lo, hi = int(acts[0]), int(acts[-1])
    given = n_actions is not None
    if given:
        K = int(n_actions)
        if K < 1:
            raise ValueError(f"{where}n_actions: expected an integer >= 1, got {n_actions!r}")
    else:
        K = hi + 1
    for problem in id_problems(data.action, K, data.position if data.len_list > 1 else None, n_actions_given=given):
        column, rest = problem.split(": ", 1)  # "action: ..." / "position: ..."
        raise ValueError(f"{where}{column}_col: {rest.replace('with n_actions', f'with {where}n_actions')}")
    if given and hi >= K:
        if lo >= 1 and hi == K:
            raise ValueError(f"{where}n_actions: the log's action ids run {lo}..{hi}, 1-based for {K} items; "
                             f"map them to 0..{K - 1} (e.g. df['action'] -= 1)")
        raise ValueError(f"{where}n_actions: expected more items than the largest action id {hi} "
                         f"(ids are 0..n_actions-1), got {K}")
    if K != data.n_actions:
        data = data.replace(n_actions=K)
    warnings = []
    missing = np.setdiff1d(np.arange(K), acts)
    if missing.size:
        shown = ", ".join(map(str, missing[:8])) + (", ..." if missing.size > 8 else "")
        warnings.append(f"{where}n_actions: {missing.size} of {K} items never appear in the logs ({shown}): nothing "
                        "is learned about them, and a policy's probability on them is unsupported (IPW counts it as "
                        "0 reward; see unsupported_mass)")
    return data, warnings


# ----------------------------------------------------------------------------- split and build


def split_log(data: LoggedData, train_frac: float) -> tuple[LoggedData | None, LoggedData, str]:
    """``(train, evaluation, note)``: the first ``train_frac`` of the rows in time order
    (``timestamp`` when present, logged order otherwise) and the rest. ``train_frac=0``: no
    training rows, every row evaluates."""
    f = float(train_frac)
    if not 0.0 <= f < 1.0:
        raise ValueError(f"train_frac: expected a number in [0, 1), got {train_frac!r}")
    n = data.n_rounds
    if f == 0.0:
        return None, data, f"train_frac=0: policies are evaluated at their initial state on all {n} rows"
    order = np.argsort(data.timestamp, kind="stable") if data.timestamp is not None else np.arange(n)
    cut = int(round(f * n))
    if cut < 1 or cut > n - 1:
        raise ValueError(f"train_frac: {train_frac!r} of {n} rows leaves no rows to train on or to evaluate")
    by = "timestamp" if data.timestamp is not None else "logged order"
    return (data.subset(np.sort(order[:cut])), data.subset(np.sort(order[cut:])),
            f"candidates trained on the first {cut} rows ({by}), evaluated on the last {n - cut}")


def logs_world(data: LoggedData) -> World:
    """The :class:`~experiments.builders.World` of a log: its items, context width, slots and item
    features (``action_context``)."""
    provides = {} if data.action_context is None else {"item_features": np.asarray(data.action_context)}
    return World("logs", data.n_actions, max(data.dim_context, 1), data.len_list, provides=provides)


def _mc_overrides(spec: PolicySpec, mc_samples: int) -> dict[str, Any]:
    """Monte Carlo draws of a context-free Thompson candidate: its distribution is computed once,
    so ``mc_samples`` replaces its own count (the bake-off's ``num_samples=1``, say)."""
    decl = spec.declaration()
    traits, _ = decl.effective(spec.static)
    if "context_free" not in traits:
        return {}
    return {k: int(mc_samples) for k in ("num_samples", "n_mc") if decl.takes(k)}


def world_for(spec: PolicySpec, world: World) -> World:
    """The world a candidate is built against on a log: the log's slots for a slate policy, one
    slot otherwise (a single-slot policy's distribution is then used for every slot)."""
    traits, _ = spec.declaration().effective(spec.static)
    if world.len_list > 1 and "slate" not in traits:
        return World(world.name, world.num_actions, world.context_dim, 1, world.provides)
    return world


def build_for_logs(spec: PolicySpec, world: World, mc_samples: int = 10_000):
    """``(policy to evaluate, policy to train)`` for a candidate on a log's ``world``.

    They are the same policy, except for slate policies on slate logs, which are trained with
    their single-slot build (same state); ``ValueError`` naming the candidate when the log cannot
    train it (a slate policy that cannot serve one slot)."""
    over = _mc_overrides(spec, mc_samples)
    world = world_for(spec, world)
    policy = spec.build(world, **over)
    if policy.len_list == 1:
        return policy, policy
    decl = spec.declaration()
    who = f"policy {spec.label!r} ({spec.name})"
    if not decl.supports_len_list(1, spec.static):
        raise ValueError(f"{who}: training a slate policy on logs needs impressions grouped into slates, which "
                         "screentest ope does not do; choose a single-slot policy (its distribution is used for "
                         "every slot) or bts")
    import jax

    single = spec.build(World(world.name, world.num_actions, world.context_dim, 1, world.provides), **over)
    a = jax.eval_shape(lambda: policy.init(jax.random.key(0), policy.default_hparams))
    b = jax.eval_shape(lambda: single.init(jax.random.key(0), single.default_hparams))
    if jax.tree.structure(a) != jax.tree.structure(b) or jax.tree.leaves(a) != jax.tree.leaves(b):
        raise ValueError(f"{who}: its single-slot state differs from its slate state, so it cannot be trained row by row")
    return policy, single


_FIT_CACHE: IdentityLRU = IdentityLRU(maxsize=32)


def _fit_grid(policy):
    """jit(vmap over hyperparameter points (fold ``update`` over rows))."""
    import jax

    def build():
        def fit(key, hp, X, A, R):
            def body(s, row):
                return policy.update(s, row[0], row[1], row[2], hp), None

            state, _ = jax.lax.scan(body, policy.init(key, hp), (X, A, R))
            return state

        # keys (G,) (one key repeated) give the vmap an axis even when the policy has no hyperparameter
        return jax.jit(jax.vmap(fit, in_axes=(0, 0, None, None, None)))

    return _FIT_CACHE.get(build, policy)


def _contexts_for(policy, context: np.ndarray) -> np.ndarray:
    """A policy built with ``context_dim=1`` against a wider or empty log context (a context-free
    one: contextual policies are built at the log's width) sees zeros."""
    if policy.context_dim == 1 and context.shape[1] != 1:
        return np.zeros((context.shape[0], 1))
    return context


@dataclass
class TrainedCandidate:
    """One frozen candidate at one hyperparameter point.

    label: the candidate's name in results; name: its registry name; point: the grid point (its
    hyperparameters by field name); policy, state, hparams: what serves it; static: its
    constructor options; trained_rows: rows its state has seen (0: initial state); context_free:
    whether it ignores the context (its distribution is computed once).
    """

    label: str
    name: str
    point: dict[str, float]
    policy: Any
    state: Any
    hparams: Any
    static: dict[str, Any]
    trained_rows: int
    context_free: bool = False

    @property
    def hparams_json(self) -> str:
        return json.dumps({k: float(v) for k, v in self.hparams._asdict().items()}, sort_keys=True)

    def save(self, path, metadata: dict[str, Any] | None = None):
        """Write it with :func:`bandits.serving.save_policy` (manifest + arrays, no pickle)."""
        from bandits.serving import save_policy

        meta = {"label": self.label, "trained_rows": self.trained_rows, **(metadata or {})}
        static = {k: v for k, v in self.static.items() if k != "dtype"}
        return save_policy(path, self.policy, self.state, self.hparams, static=static, metadata=meta)


def train_candidates(specs: Sequence[PolicySpec], train: LoggedData | None, world: World, *, seed: int = 0,
                     mc_samples: int = 10_000, progress: Callable[[str], None] = _noop) -> list[TrainedCandidate]:
    """Build and train every candidate at every point of its grid (see the module docstring).

    specs: the candidates. train: the training rows (None: initial states). world: the log's
    sizes (:func:`logs_world`). seed: the policies' init key. Returns one :class:`TrainedCandidate`
    per (candidate, grid point), in order.
    """
    import jax
    import jax.numpy as jnp

    out = []
    dt = jnp.result_type(float)
    for spec in specs:
        t0 = time.perf_counter()
        policy, trainer = build_for_logs(spec, world, mc_samples)
        static, _ = spec.check(world_for(spec, world))
        context_free = "context_free" in spec.declaration().effective(spec.static)[0]
        static.update(_mc_overrides(spec, mc_samples))
        points = spec.points()
        hps = [policy.hparams(**p) for p in points]
        if train is None:
            states = [trainer.init(jax.random.key(seed), hp) for hp in hps]
            rows = 0
        else:
            stacked = type(hps[0])(*[jnp.asarray([float(getattr(h, f)) for h in hps], dt) for f in hps[0]._fields])
            X = jnp.asarray(_contexts_for(trainer, train.context), dt)
            keys = jnp.stack([jax.random.key(seed)] * len(hps))
            batch = _fit_grid(trainer)(keys, stacked, X, jnp.asarray(train.action, jnp.int32),
                                       jnp.asarray(train.reward, dt))
            states = [jax.tree.map(lambda leaf, i=i: leaf[i], batch) for i in range(len(hps))]
            rows = train.n_rounds
        for p, hp, st in zip(points, hps, states, strict=True):
            out.append(TrainedCandidate(spec.label, spec.name, {k: float(v) for k, v in p.items()}, policy, st, hp,
                                        static, rows, context_free))
        what = f"trained on {rows:,} rows" if rows else "not trained (initial state)"
        progress(f"  {spec.label} ({spec.name}): {len(points)} hyperparameter point(s) {what} in "
                 f"{time.perf_counter() - t0:.1f} s")
    return out


def action_dist(cand: TrainedCandidate, context: np.ndarray, len_list: int, seed: int = 0) -> np.ndarray:
    """``(n, K, len_list)`` action distribution of a frozen candidate on ``context (n, d)``; a
    single-slot policy's distribution is used for every slot (obp's position-wise convention)."""
    import jax
    import jax.numpy as jnp

    from bandits.estimators import policy_action_dist

    pol = cand.policy
    dt = jnp.result_type(float)
    hp = jax.tree.map(lambda v: jnp.asarray(v, dt), cand.hparams)
    ctx = _contexts_for(pol, np.asarray(context, np.float64))
    key = jax.random.key(seed)
    if cand.context_free:
        ad = policy_action_dist(pol, cand.state, hp, ctx[:1], key, block_size=1)
        ad = np.broadcast_to(ad, (ctx.shape[0],) + ad.shape[1:])
    else:
        ad = policy_action_dist(pol, cand.state, hp, ctx, key)
    if ad.shape[2] == 1 and len_list > 1:
        ad = np.broadcast_to(ad, ad.shape[:2] + (len_list,))
    return ad


# ----------------------------------------------------------------------------- evaluation


@dataclass
class OfflineResult:
    """What :func:`evaluate_logs` returns.

    table: one row per (candidate, grid point, estimator): ``policy`` (label), ``policy_name``,
    ``hparams`` (JSON), the columns of :func:`bandits.estimators.evaluate` (``estimator,
    estimate, ci_low, ci_high, std_err, relative, n_rounds, ess, ess_ratio, max_iw,
    unsupported_mass, interval, alpha``), ``trained_rows``, ``dm_dr_disagree``, and on the
    ``rank_by`` rows (when it is a mean of per-row terms: DM, IPW, DR) ``vs_best, vs_best_low,
    vs_best_high``: the paired difference to the best point on the same rows, with its interval.
    best: per candidate, its grid point with the highest ``rank_by`` estimate.
    reward_model: the reward model used (None without a model-based estimator).
    warnings, notes: lines for the user. candidates: the frozen candidates (to save or serve).
    """

    table: pd.DataFrame
    best: pd.DataFrame
    reward_model: RewardModelChoice | None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    candidates: list[TrainedCandidate] = field(default_factory=list)
    n_train: int = 0
    n_eval: int = 0
    logged_mean_reward: float = float("nan")


def _disagreement(rows: pd.DataFrame) -> bool:
    """True when DM's and DR's intervals (both present and finite) do not overlap."""
    by = rows.set_index("estimator")
    if not {"dm", "dr"} <= set(by.index):
        return False
    dm, dr = by.loc["dm"], by.loc["dr"]
    lims = [dm.ci_low, dm.ci_high, dr.ci_low, dr.ci_high]
    if not np.all(np.isfinite(lims)):
        return False
    return bool(dm.ci_high < dr.ci_low or dr.ci_high < dm.ci_low)


def best_points(table: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """Per candidate label, the grid point with the highest ``rank_by`` estimate (the first
    estimator of the table when ``rank_by`` is absent), best candidate first, with its paired
    difference to the best point (``vs_best``, ``vs_best_low``, ``vs_best_high``) when the table has it."""
    est = rank_by if rank_by in set(table["estimator"]) else str(table["estimator"].iloc[0])
    t = table[table["estimator"] == est]
    idx = t.groupby("policy", sort=False)["estimate"].idxmax()
    cols = ["policy", "policy_name", "hparams", "estimator", "estimate", "ci_low", "ci_high"]
    cols += [c for c in ("vs_best", "vs_best_low", "vs_best_high") if c in t]
    return t.loc[idx, cols].sort_values("estimate", ascending=False, kind="stable").reset_index(drop=True)


def paired_differences(rows: list[np.ndarray], alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(diff, low, high)`` of every point against the one with the largest mean, from per-row
    contributions on the same rows (paired: the shared rows' noise cancels). Normal intervals of
    the mean per-row difference, level ``1 - alpha``; the best point gets 0 and a zero-width interval."""
    from scipy import stats

    R = np.stack(rows)  # (points, n)
    best = int(np.argmax(R.mean(axis=1)))
    D = R - R[best]
    n = D.shape[1]
    mean = D.mean(axis=1)
    half = stats.norm.ppf(1 - alpha / 2) * D.std(axis=1, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def evaluate_logs(data: LoggedData, specs: Sequence[PolicySpec], *, estimators: Any = ("ipw", "snipw", "dm", "dr"),
                  train_frac: float = 0.5, reward_model: Any = "auto", reward_model_folds: int = 3,
                  interval: str = "normal", alpha: float = 0.05, n_bootstrap: int = 200, seed: int = 0,
                  mc_samples: int = 10_000, rank_by: str = "dr",
                  progress: Callable[[str], None] = _noop) -> OfflineResult:
    """Train every candidate on the first part of ``data`` and estimate its value on the rest.

    data: a :class:`~bandits.data.LoggedData` (item ids already checked, see :func:`check_catalog`).
    specs: the candidates (:class:`~experiments.builders.PolicySpec`, with grids).
    estimators: registered estimator names or :class:`bandits.estimators.Estimator` objects.
    reward_model: ``"auto"`` (cross-validated choice), a name of
    :data:`experiments.reward_models.NAMED`, or ``{"_target_": "sklearn...", ...}``.
    interval / alpha / n_bootstrap: as :func:`bandits.estimators.evaluate`. seed: every random
    choice (policy keys, folds, bootstrap). mc_samples: draws of context-free Thompson candidates.
    rank_by: the estimator that picks each candidate's best grid point.
    progress: called with one line per stage.
    """
    from bandits.estimators import evaluate, fit_reward_model, round_rewards
    from bandits.estimators.core import as_estimators

    est = as_estimators(list(estimators))
    t0 = time.perf_counter()
    if all(s.name in NON_LEARNING for s in specs):
        train, evalset = None, data
        note = f"no candidate learns from logs: every candidate evaluated on all {data.n_rounds} rows"
    else:
        train, evalset, note = split_log(data, train_frac)
    notes = [note]
    progress(f"split: {note}")
    world = logs_world(data)
    progress(f"training {len(specs)} candidate(s) ...")
    cands = train_candidates(specs, train, world, seed=seed, mc_samples=mc_samples, progress=progress)

    choice = None
    q = None
    if any(e.needs_reward_model for e in est):
        if evalset.dim_context == 0:
            raise ValueError("estimators: dm/dr need a reward model, which needs context columns; the log has none "
                             "(use ipw/snipw, or add context columns)")
        t1 = time.perf_counter()
        choosing = reward_model in (None, "auto") or (isinstance(reward_model, dict) and not reward_model.get("_target_")
                                                      and not reward_model.get("name"))
        progress("reward model: " + ("choosing by cross-validated loss ..." if choosing else "fitting the one given ..."))
        choice = resolve_reward_model(reward_model, evalset, seed=seed)
        progress(f"  {choice.note}")
        with one_openmp_thread():
            q = fit_reward_model(evalset, model=choice.model, n_folds=int(reward_model_folds), random_state=seed,
                                 len_list=evalset.len_list)
        progress(f"  cross-fitted on {evalset.n_rounds:,} evaluation rows ({reward_model_folds} folds) in "
                 f"{time.perf_counter() - t1:.1f} s")
        notes.append(choice.note)

    K, L, n = evalset.n_actions, evalset.len_list, evalset.n_rounds
    if n * K * L > MAX_ACTION_DIST_ENTRIES:
        raise ValueError(f"data.n_actions: {n} evaluation rows x {K} items x {L} slots is more than "
                         f"{MAX_ACTION_DIST_ENTRIES:,} action-distribution entries; evaluate on fewer rows or items")
    frames = []
    warnings: list[str] = []
    rank_est = next((e for e in est if e.label == rank_by), est[0])
    paired = all(t.den is None for t in rank_est.terms())  # a mean of per-row terms (dm, ipw, dr, ...)
    per_row = []
    progress(f"estimating {len(cands)} policy value(s) with {[e.label for e in est]} ...")
    for i, c in enumerate(cands):
        ad = action_dist(c, evalset.context, L, seed=seed)
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always")
            res = evaluate(evalset, ad, estimators=est, estimated_rewards=q, interval=interval, alpha=alpha,
                           n_bootstrap=n_bootstrap, random_state=seed)
        who = f"{c.label}{' ' + _short(c.point) if c.point else ''}"
        for w in caught:  # the estimators' own diagnostics (support, zero variance), per candidate
            text = str(w.message).strip().splitlines()[0]
            if f"{who}: {text}" not in warnings:
                warnings.append(f"{who}: {text}")
        res.insert(0, "policy", c.label)
        res.insert(1, "policy_name", c.name)
        res.insert(2, "hparams", c.hparams_json)
        res["trained_rows"] = c.trained_rows
        disagree = _disagreement(res)
        res["dm_dr_disagree"] = disagree
        if paired:
            per_row.append(round_rewards(rank_est, evalset, ad, q if rank_est.needs_reward_model else None))
        if disagree:
            d = res.set_index("estimator")
            warnings.append(
                f"{c.label}{' ' + _short(c.point) if c.point else ''}: DM {d.loc['dm', 'estimate']:.4g} [{d.loc['dm', 'ci_low']:.4g}, "
                f"{d.loc['dm', 'ci_high']:.4g}] and DR {d.loc['dr', 'estimate']:.4g} [{d.loc['dr', 'ci_low']:.4g}, "
                f"{d.loc['dr', 'ci_high']:.4g}] disagree beyond their intervals: the reward model "
                f"({choice.name if choice else '?'}) does not fit this policy's choices; trust DR/IPW, or try "
                "another reward_model")
        frames.append(res)
        progress(f"  [{i + 1}/{len(cands)}] {c.label} {_short(c.point)}")
    table = pd.concat(frames, ignore_index=True)
    if paired:
        diff, lo, hi = paired_differences(per_row, alpha)
        for col in ("vs_best", "vs_best_low", "vs_best_high"):
            table[col] = np.nan
        sel = np.flatnonzero(table["estimator"].to_numpy() == rank_est.label)
        table.loc[sel, "vs_best"], table.loc[sel, "vs_best_low"], table.loc[sel, "vs_best_high"] = diff, lo, hi
    best = best_points(table, rank_est.label)
    progress(f"off-policy evaluation done in {time.perf_counter() - t0:.1f} s")
    return OfflineResult(table=table, best=best, reward_model=choice, warnings=warnings, notes=notes,
                         candidates=cands, n_train=0 if train is None else train.n_rounds, n_eval=n,
                         logged_mean_reward=float(np.mean(evalset.reward)))


def _short(point: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k}={v:g}" for k, v in sorted(point.items())) + ")" if point else ""
