"""``screentest fidelity``: can the pipeline's verdicts be trusted? A parametric bootstrap in a known world.

The question a team asks before a live test is "will this offline ranking of policies hold
live?". This module answers it in a world whose truth is known exactly (:mod:`envs.known`), shaped
like the user's own setting, by running the whole offline pipeline on logs drawn from that world:

1. **log** ``n`` rows from the world with a logging policy (uniform random by default:
   :func:`bandits.engine.logs.generate_logs`, streamed to parquet);
2. **refit the member simulator** on the logs exactly as the main job does
   (:func:`experiments.builders.build_simulator`: single-slot simulator with an intercept, the
   same item prior and penalty search), plus its slate version from the same fitted model;
3. **train** every policy of a panel on the first ``train_frac`` of the logged impressions (each
   policy's own ``update`` fed the logged rounds: :func:`bandits.engine.logs.train_on_logs`) and
   **freeze** it;
4. **value** each frozen policy three ways: its exact value in the world (the truth), its exact
   value in the refitted simulator, and each off-policy estimate (``bandits.estimators``) from the
   held-out impressions (rows the policy never trained on);
5. **compare**: Kendall's tau between the truth's ranking of the panel and each method's ranking,
   median and max |relative error|, decision regret (truth lost by picking the method's best
   policy, as a share of the best truth), coverage of the estimators' 95% intervals, and all of it
   over ``n`` (a learning curve).

What "a policy's value" means here. It is the expected clicks per slot-impression of the policy
as it would be deployed: trained on the logs, then frozen. This is the number a live A/B test of
that policy estimates (on the scale of the logs: a single-slot policy fills the top slot, a slate
policy all ``L`` slots). We chose it over "average reward of online learning from scratch over a
horizon" because (a) all three methods can value it, and the same object: the off-policy estimators
can only value a fixed policy, while the simulator and the world value it exactly, so differences
are errors of the method and not Monte Carlo noise of rollouts; (b) with click rates near 0.4%
online learning from scratch barely moves within any affordable horizon, so its ranking is mostly
seed noise, while policies trained on ``10^4``-``10^6`` logged rows differ by a factor of several;
(c) the simulator's online bake-off is a function of its click model, which is exactly what the
frozen values test, item by item and member by member, where each policy puts its mass.

Policies are evaluated on the world's member contexts (:attr:`envs.known.KnownWorld.contexts`):
one action-distribution table per policy, shared by the truth, the simulator and the estimators,
so all three value the very same stochastic policy (Thompson-sampling policies included, whose
probabilities are Monte Carlo estimates with a static number of draws).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FidelityError",
    "PanelPolicy",
    "DEFAULT_PANEL",
    "DEFAULT_ESTIMATORS",
    "LOGGERS",
    "FidelityResult",
    "fidelity",
    "logs_verdict",
    "plot_fidelity",
    "main",
]

DEFAULT_ESTIMATORS = ("dm", "ipw", "snipw", "dr")
LOGGERS = ("uniform", "epsilon_greedy", "bts")
TAU_TARGET = 0.9


class FidelityError(ValueError):
    """An input that cannot support a fidelity study (names the argument; the CLI exits 2)."""


# --------------------------------------------------------------------------------------- panel
@dataclass(frozen=True)
class PanelPolicy:
    """One policy of the panel.

    label: its name in results. name: a registry name (:func:`bandits.policies.make`), or
    ``"uniform_slate"`` (uniform random slates) or ``"top_site"`` (a fixed ranker: the items with
    the largest site-prior click rate, best first). len_list: slots it fills (1 = the top slot,
    None = every slot of the world). ``"bts"`` starts from the world's site prior
    (:attr:`envs.known.KnownWorld.site_prior_counts`) unless ``static`` gives its prior.
    static: constructor options. hparams: hyperparameter overrides. trains: fed the training
    logs before it is frozen (False: a fixed policy). max_train: train on at most this many
    logged impressions (the earliest; None = all), for policies whose update is costly.
    """

    label: str
    name: str
    len_list: int | None = 1
    static: dict = field(default_factory=dict)
    hparams: dict = field(default_factory=dict)
    trains: bool = True
    max_train: int | None = None


def _p(label, name, L=1, trains=True, max_train=None, **hp):
    static = hp.pop("static", {})
    return PanelPolicy(label, name, L, static, hp, trains, max_train)


# Exploration scales are small because rewards are clicks at ~0.4%: an optimism or posterior
# scale of 1 would swamp the estimated differences between items (docs/simulator.md). Hybrid
# LinUCB updates a shared (d p x d p) system per row; it trains on at most 2,000 logged rows so
# that the panel stays runnable on a laptop; raise ``max_train`` as it gets faster.
DEFAULT_PANEL: tuple[PanelPolicy, ...] = (
    _p("random", "random", 1, trains=False),
    _p("top_site", "top_site", 1, trains=False),
    _p("epsilon_greedy", "epsilon_greedy", 1, epsilon=0.1),
    _p("bernoulli_ts", "bernoulli_ts", 1, static={"num_samples": 1000}),
    _p("linucb", "linucb", 1, alpha=0.1),
    _p("lints", "lints", 1, v=0.1, static={"num_samples": 256}),
    _p("logistic_ts", "logistic_ts", 1),
    _p("hybrid_linucb", "hybrid_linucb", 1, max_train=2000, alpha=0.1),
    _p("random_slate", "uniform_slate", None, trains=False),
    _p("top_site_slate", "top_site", None, trains=False),
    _p("bts_site_prior", "bts", None, static={"n_mc": 10000}),
    _p("slate_linucb", "slate_linucb", None, alpha=0.1),
    _p("slate_lints", "slate_lints", None, nu=0.1, static={"n_mc": 64}),
    _p("slate_epsilon_greedy", "slate_epsilon_greedy", None, epsilon=0.1),
)


def panel_from_labels(labels: Sequence[str]) -> list[PanelPolicy]:
    """Panel entries by label: a label of :data:`DEFAULT_PANEL`, or ``NAME@L`` for a registry
    policy ``NAME`` filling ``L`` slots with default hyperparameters (e.g. ``linucb@1``)."""
    by_label = {p.label: p for p in DEFAULT_PANEL}
    out = []
    for lab in labels:
        lab = lab.strip()
        if not lab:
            continue
        if lab in by_label:
            out.append(by_label[lab])
            continue
        name, _, slots = lab.partition("@")
        try:
            L = int(slots) if slots else 1
        except ValueError:
            raise FidelityError(f"panel: expected LABEL or NAME@SLOTS, got {lab!r}") from None
        if L < 1:
            raise FidelityError(f"panel: expected NAME@SLOTS with SLOTS >= 1, got {lab!r}")
        out.append(PanelPolicy(lab, name, L))
    if len(out) < 2:
        raise FidelityError(f"panel: expected at least 2 policies to rank, got {len(out)}")
    if len({p.label for p in out}) != len(out):
        raise FidelityError("panel: expected distinct labels, got duplicates")
    return out


def _fixed_ranker(num_actions: int, len_list: int, scores: np.ndarray):
    """A context-free policy that always shows the ``len_list`` best items by ``scores``, exact probs."""
    import jax.numpy as jnp

    from bandits.contracts import Decision, Policy
    from bandits.policies.random import RandomHParams

    K, L = int(num_actions), int(len_list)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:L].astype(np.int32)
    probs = np.zeros((K, L), np.float32)
    probs[order, np.arange(L)] = 1.0
    act = jnp.asarray(order)
    pr = jnp.asarray(probs)

    def init(key, hparams):
        return jnp.zeros((), jnp.int32)

    def select(key, state, context, mask, hparams):
        if L == 1:
            return Decision(act[0], pr[:, 0])
        return Decision(act, pr)

    def update(state, context, action, reward, hparams):
        return state + 1

    return Policy(f"top{L}", K, 1, RandomHParams(), init, select, update, L)


def build_policy(entry: PanelPolicy, world) -> tuple[Any, Any]:
    """``(Policy, hparams)`` of a panel entry for ``world`` (a :class:`envs.known.KnownWorld`).

    Raises :class:`FidelityError` naming ``panel`` when the policy does not fit the world's shape
    (its slots, its number of items) or cannot be built.
    """
    from bandits.policies import REGISTRY, make
    from bandits.policies.random import uniform_slate_policy

    K, Lw, d = world.n_actions, world.len_list, world.context_dim
    L = Lw if entry.len_list is None else entry.len_list
    if L not in (1, Lw):
        raise FidelityError(f"panel: policy {entry.label!r} fills {L} slots; world {world.name!r} shows "
                            f"1 (top slot) or {Lw} slots")
    if entry.name == "uniform_slate":
        return uniform_slate_policy(K, L, 1), None
    if entry.name == "top_site":
        prior = world.site_prior
        if prior is None:
            raise FidelityError(f"panel: policy {entry.label!r} ranks by a site prior; world {world.name!r} has none")
        return _fixed_ranker(K, L, np.asarray(prior)), None
    if entry.name not in REGISTRY:
        raise FidelityError(f"panel: unknown policy {entry.name!r} (in {entry.label!r}); registered: {sorted(REGISTRY)}"
                            f"; panel labels: {[p.label for p in DEFAULT_PANEL]}")
    import inspect

    params = inspect.signature(REGISTRY[entry.name].build).parameters
    static = dict(entry.static)
    if entry.name == "bts" and not {"alpha", "beta", "campaign"} & set(static):
        if world.site_prior_counts is None:
            raise FidelityError(f"panel: policy {entry.label!r} starts from a site prior; world {world.name!r} has none")
        static["alpha"], static["beta"] = world.site_prior_counts
    if "len_list" in params:
        static.setdefault("len_list", L)
    elif L != 1:
        raise FidelityError(f"panel: policy {entry.label!r} ({entry.name}) fills one slot, not {L}")
    if "item_features" in params and static.get("item_features") is None and world.action_context is not None:
        # a constant and the standardised item features (p = 1 + item feature columns)
        ac = np.asarray(world.action_context, np.float64)
        sd = ac.std(axis=0)
        static["item_features"] = np.c_[np.ones(K), (ac - ac.mean(axis=0)) / np.where(sd > 0, sd, 1.0)]
    cf = REGISTRY[entry.name].context_free
    try:
        pol = make(entry.name, num_actions=K, context_dim=1 if cf else d, **static)
        hp = pol.hparams(**entry.hparams)
    except (TypeError, ValueError, KeyError) as e:
        raise FidelityError(f"panel: policy {entry.label!r} ({entry.name}) cannot be built for world "
                            f"{world.name!r} ({K} items, {Lw} slots, context dim {d}): {e}") from None
    if pol.len_list != L or pol.num_actions != K:
        raise FidelityError(f"panel: policy {entry.label!r} has {pol.len_list} slots and {pol.num_actions} items; "
                            f"expected {L} and {K}")
    return pol, hp


# --------------------------------------------------------------------------------------- helpers
class _ContextIndex:
    """Rows of a context table looked up by value (bit for bit)."""

    def __init__(self, table: np.ndarray):
        self.table = np.ascontiguousarray(np.asarray(table, np.float64))
        self.index = {r.tobytes(): i for i, r in enumerate(self.table)}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from envs.known import unique_rows

        rows, _, inv = unique_rows(x)
        try:
            ids = np.array([self.index[r.tobytes()] for r in rows], np.int64)
        except KeyError:
            raise FidelityError("logs: a logged context is not one of the world's member contexts") from None
        return ids[inv]


def _action_table(policy, state, hparams, contexts: np.ndarray, key, context_free: bool) -> np.ndarray:
    """``(m, K, L)`` float64 action distribution of a frozen policy on every member context."""
    from bandits.estimators import policy_action_dist

    m = contexts.shape[0]
    if context_free:
        return np.array(policy_action_dist(policy, state, hparams, np.ones((m, policy.context_dim)), key,
                                           per_row=False))
    bs = 256
    pad = (-m) % bs
    c = np.concatenate([contexts, np.zeros((pad, contexts.shape[1]))]) if pad else contexts
    return policy_action_dist(policy, state, hparams, c, key, block_size=bs)[:m]


def _kendall(a, b) -> float:
    from scipy.stats import kendalltau

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    t = kendalltau(a[ok], b[ok]).statistic
    return float(t) if np.isfinite(t) else float("nan")


def _metrics(truth: np.ndarray, est: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> dict:
    truth, est = np.asarray(truth, float), np.asarray(est, float)
    rel = np.abs(est - truth) / np.abs(truth)
    ok = np.isfinite(est)
    out = {
        "kendall_tau": _kendall(truth, est),
        "median_abs_rel_error": float(np.median(rel[ok])) if ok.any() else float("nan"),
        "max_abs_rel_error": float(np.max(rel[ok])) if ok.any() else float("nan"),
        "decision_regret": float((truth.max() - truth[int(np.nanargmax(est))]) / truth.max()) if ok.any() else float("nan"),
        "picked": int(np.nanargmax(est)) if ok.any() else -1,
    }
    if lo is not None and hi is not None:
        cov = (np.asarray(lo) <= truth) & (truth <= np.asarray(hi))
        out["coverage"] = float(np.mean(cov[ok])) if ok.any() else float("nan")
    return out


def _logger(name: str, world):
    from bandits.policies import make
    from bandits.policies.random import uniform_slate_policy

    K, L, d = world.n_actions, world.len_list, world.context_dim
    if name == "uniform":
        return uniform_slate_policy(K, L, d), True
    if name == "epsilon_greedy":
        if L == 1:
            return make("epsilon_greedy", num_actions=K), True
        return make("slate_epsilon_greedy", num_actions=K, context_dim=d, len_list=L), True
    if name == "bts":
        if world.site_prior_counts is None:
            raise FidelityError(f"logger: 'bts' starts from a site prior; world {world.name!r} has none")
        a, b = world.site_prior_counts
        return make("bts", num_actions=K, len_list=L, alpha=a, beta=b, n_mc=256), False
    raise FidelityError(f"logger: expected one of {list(LOGGERS)}, got {name!r}")


# --------------------------------------------------------------------------------------- result
@dataclass
class FidelityResult:
    """Everything a fidelity study measured.

    values: DataFrame, one row per (rows, replicate, policy): ``truth``, ``simulator`` and per
        estimator ``<est>``, ``<est>_lo``, ``<est>_hi``.
    summary: DataFrame, one row per (rows, replicate, method) with ``kendall_tau``,
        ``median_abs_rel_error``, ``max_abs_rel_error``, ``decision_regret``, ``coverage``
        (estimators), ``picked``; plus the log's ``clicks`` and the simulator's held-out ``auc``.
    settings: the world's settings and the study's options. policies: panel labels.
    """

    values: Any
    summary: Any
    settings: dict
    policies: list[str]
    estimators: list[str]
    failures: list[str] = field(default_factory=list)

    @property
    def rows(self) -> list[int]:
        return sorted({int(r) for r in self.summary["rows"]})

    def curve(self, method: str, metric: str) -> list[float]:
        """Mean over replicates of ``metric`` for ``method`` at each log size (NaN if none)."""
        s = self.summary[self.summary["method"] == method]
        out = []
        for n in self.rows:
            v = s.loc[s["rows"] == n, metric].to_numpy(float)
            out.append(float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"))
        return out

    def to_json(self) -> dict:
        """The JSON document of ``--json`` (keys documented in docs/fidelity.md)."""
        def clean(v):
            return [None if not np.isfinite(x) else float(x) for x in v]

        doc: dict[str, Any] = {
            "rows": self.rows,
            "policies": list(self.policies),
            "kendall_tau_simulator": clean(self.curve("simulator", "kendall_tau")),
            "kendall_tau_ope": {e: clean(self.curve(e, "kendall_tau")) for e in self.estimators},
            "median_abs_rel_error_simulator": clean(self.curve("simulator", "median_abs_rel_error")),
            "max_abs_rel_error_simulator": clean(self.curve("simulator", "max_abs_rel_error")),
            "decision_regret_simulator": clean(self.curve("simulator", "decision_regret")),
            "estimators": {
                e: {k: clean(self.curve(e, k)) for k in ("kendall_tau", "median_abs_rel_error", "max_abs_rel_error",
                                                          "decision_regret", "coverage")}
                for e in self.estimators
            },
            "per_replicate": {
                m: {k: [clean(self.summary.loc[(self.summary["method"] == m) & (self.summary["rows"] == n), k])
                        for n in self.rows]
                    for k in ("kendall_tau", "median_abs_rel_error", "decision_regret")}
                for m in ["simulator", *self.estimators]
            },
            "clicks": clean(self.curve("simulator", "clicks")),
            "simulator_auc": clean(self.curve("simulator", "auc")),
            "replicates": int(self.summary["replicate"].nunique()),
            "settings": self.settings,
            "failures": list(self.failures),
        }
        vals = {}
        for n in self.rows:
            v = self.values[(self.values["rows"] == n) & (self.values["replicate"] == 0)].set_index("policy")
            v = v.reindex(self.policies)
            vals[str(n)] = {"truth": clean(v["truth"]), "simulator": clean(v["simulator"]),
                            **{e: clean(v[e]) for e in self.estimators}}
        doc["values"] = vals
        doc["verdict"], doc["rows_needed_for_tau_0.9"] = logs_verdict(self)
        return doc


def logs_verdict(result: FidelityResult, n_user: int | None = None) -> tuple[str, int | None]:
    """One line on how far the simulator's ranking can be trusted, and the rows needed for tau >= 0.9.

    n_user: the size of the user's logs (default the smallest size studied). Returns ``(line,
    rows_needed)``; ``rows_needed`` is the smallest studied size whose mean simulator tau is at
    least 0.9, or None when no studied size reaches it (the line then says so: no extrapolation).
    """
    rows = result.rows
    taus = result.curve("simulator", "kendall_tau")
    if not rows:
        return "no log size could be studied", None
    n0 = rows[0] if n_user is None else int(n_user)
    t0 = dict(zip(rows, taus, strict=True)).get(n0, float("nan"))
    need = next((n for n, t in zip(rows, taus, strict=True) if np.isfinite(t) and t >= TAU_TARGET), None)
    reg = dict(zip(rows, result.curve("simulator", "decision_regret"), strict=True)).get(n0, float("nan"))
    head = (f"at {n0:,} logged rows the simulator ranks the {len(result.policies)} policies with Kendall tau "
            f"{t0:.2f} against the truth (decision regret {100 * reg:.1f}% of the best value)")
    if need is None:
        tail = f"; tau >= {TAU_TARGET} was not reached at any size studied (up to {rows[-1]:,} rows)"
    elif need <= n0:
        tail = f"; tau >= {TAU_TARGET} holds from {need:,} rows"
    else:
        tail = f"; tau >= {TAU_TARGET} needs about {need:,} rows (the smallest studied size that reaches it)"
    return head + tail, need


# --------------------------------------------------------------------------------------- the study
def _seed_for(seed: int, n: int, rep: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(n), int(rep)]).generate_state(1)[0] & 0x7FFFFFFF)


def fidelity(
    world,
    rows: Sequence[int],
    *,
    logger: str = "uniform",
    replicates: int = 1,
    train_frac: float = 0.5,
    estimators: Sequence[str] = DEFAULT_ESTIMATORS,
    panel: Sequence[PanelPolicy] | None = None,
    item_prior: str = "site",
    penalties: Sequence[float] | None = None,
    seed: int = 0,
    workdir: str | Path | None = None,
    members: int = 1024,
    batch_rows: int = 50_000,
    progress: Callable[[str, float], None] | None = None,
) -> FidelityResult:
    """Run the fidelity study (module docstring) in ``world`` at each log size of ``rows``.

    world: a :class:`envs.known.KnownWorld`. rows: log sizes (rows = impressions x slots), each >= 1.
    logger: ``"uniform"`` (uniform random slates, exact pscore), ``"epsilon_greedy"`` (learning,
        exact pscore) or ``"bts"`` (Bernoulli TS with the site prior, frozen; its pscore is a Monte
        Carlo estimate from 256 draws per round, as in the Open Bandit Dataset's BTS logs).
    replicates: independent log draws per size. train_frac: share of impressions (the earliest)
        the panel trains on; the estimators use the rest.
    estimators: names for :func:`bandits.estimators.evaluate_batches` (model-based ones use a reward
        model fitted on the training impressions). panel: :class:`PanelPolicy` entries (default
        :data:`DEFAULT_PANEL`). item_prior, penalties: passed to
        :func:`experiments.builders.build_simulator` (``"site"`` is what the main job uses on OBD data).
    workdir: folder for the parquet logs (default a temporary folder, removed afterwards).
    members, batch_rows: parallel logging streams; rows per estimator batch (memory bound).
    progress: ``progress(message, fraction_done)``.
    """
    import jax
    import pandas as pd

    from bandits.engine.logs import generate_logs, read_logs, train_on_logs
    from bandits.estimators import evaluate_batches, fit_reward_model_on
    from bandits.estimators.core import as_estimators
    from bandits.policies import REGISTRY
    from envs.logged import make_member_env
    from envs.logged.simulator import expected_reward_matrix, member_distribution
    from experiments.builders import ConfigError, build_simulator

    rows = [_check_rows(r) for r in rows]
    if not rows:
        raise FidelityError("rows: expected at least one log size, got none")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise FidelityError(f"replicates: expected an integer >= 1, got {replicates!r}")
    if item_prior not in ("site", "none"):
        raise FidelityError(f"item_prior: expected 'site' or 'none', got {item_prior!r}")
    if item_prior == "site" and world.settings.get("world") != "obd":
        raise FidelityError(f"item_prior: 'site' is the OBD site prior; world {world.name!r} has other items")
    if not (isinstance(train_frac, int | float) and 0.0 < train_frac < 1.0):
        raise FidelityError(f"train_frac: expected a fraction in (0, 1), got {train_frac!r}")
    try:
        est = as_estimators(list(estimators))
    except (ValueError, KeyError, TypeError) as e:
        raise FidelityError(f"estimators: {e}") from None
    est_names = [e.label for e in est]
    panel = list(DEFAULT_PANEL if panel is None else panel)
    built = [(p, *build_policy(p, world)) for p in panel]  # validates shapes before anything runs
    log_policy, learn = _logger(logger, world)
    Lw = world.len_list
    C_raw = world.contexts
    C_obs = world.observed_contexts()
    lookup = _ContextIndex(C_raw)
    d_raw = C_raw.shape[1]
    env_log = world.env(Lw)

    recs, summ, failures = [], [], []
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="screentest-fidelity-")
        workdir = tmp.name
    workdir = Path(workdir)
    steps = len(rows) * replicates * (3 + len(built))
    done = 0

    def tick(msg):
        nonlocal done
        done += 1
        if progress is not None:
            progress(msg, done / steps)

    try:
        for n in rows:
            for rep in range(replicates):
                s = _seed_for(seed, n, rep)
                path = workdir / f"logs_{n}_{rep}.parquet"
                summary = generate_logs(env_log, log_policy, n, path, seed=s, members=members, learn=learn,
                                        context_cols=d_raw, action_context=world.action_context)
                data = read_logs(path)
                tick(f"{n:,} rows: logged ({int(summary.clicks)} clicks)")
                clicks = float(data.reward.sum())
                try:
                    sim = build_simulator(data, len_list=1, slot=0, add_intercept=world.add_intercept,
                                          item_prior=item_prior, campaign=world.settings.get("campaign", "all"),
                                          penalties=None if penalties is None else list(penalties), seed=0)
                except ConfigError as e:
                    failures.append(f"{n:,} rows (replicate {rep}): {e}")
                    done += 2 + len(built)
                    continue
                tick(f"{n:,} rows: simulator refitted (held-out AUC {sim.report.auc:.3f})")
                sim_envs = {1: sim.env}
                if Lw > 1:
                    se = make_member_env(sim.model, sim.contexts, len_list=Lw, add_intercept=world.add_intercept)
                    sim_envs[Lw] = se._replace(default_params=se.default_params._replace(
                        temperature=sim.env.default_params.temperature, noise=sim.env.default_params.noise))
                # simulator's member distribution mapped onto the world's contexts
                pool_ids = lookup(sim.contexts)
                w_sim = np.bincount(pool_ids, weights=member_distribution(sim.env.default_params), minlength=len(C_raw))
                Q_sim = {L: np.asarray(expected_reward_matrix(e, contexts=C_obs if world.add_intercept else C_raw),
                                       np.float64) for L, e in sim_envs.items()}

                n_imp = data.n_rounds // Lw
                n_tr = max(1, int(round(train_frac * n_imp)))
                if n_tr >= n_imp:
                    failures.append(f"{n:,} rows (replicate {rep}): too few impressions ({n_imp}) to split "
                                    f"into training and held-out parts")
                    done += 1 + len(built)
                    continue
                tr_rows = np.arange(n_tr * Lw)
                ev_rows = np.arange(n_tr * Lw, n_imp * Lw)
                train = data.subset(tr_rows)
                evald = data.subset(ev_rows)
                X_tr = train.context
                if world.add_intercept:
                    X_tr = np.concatenate([X_tr, np.ones((X_tr.shape[0], 1))], axis=1)
                Q_hat = None
                if any(e.needs_reward_model for e in est):
                    rm = fit_reward_model_on(train, len_list=Lw)
                    Q_hat = rm.predict(C_raw)  # (m, K, Lw)
                tick(f"{n:,} rows: reward model fitted")

                for entry, pol, hp in built:
                    L = pol.len_list
                    cf = pol.context_dim == 1 and (entry.name in ("uniform_slate", "top_site")
                                                   or REGISTRY[entry.name].context_free)
                    hp_ = pol.default_hparams if hp is None else hp
                    if entry.trains:
                        cap = None if entry.max_train is None else int(entry.max_train)
                        if L == 1:  # every logged slot is a (context, item, click) example
                            state = train_on_logs(pol, X_tr[:cap], train.action[:cap], train.reward[:cap],
                                                  hparams=hp_, seed=s)
                        else:  # slate policies learn from whole impressions
                            state = train_on_logs(pol, X_tr[::Lw][:cap], train.action.reshape(-1, Lw)[:cap],
                                                  train.reward.reshape(-1, Lw)[:cap], hparams=hp_, seed=s)
                    else:
                        state = pol.init(jax.random.key(s), jax.tree.map(np.asarray, hp_))
                    A = _action_table(pol, state, hp_, C_obs, jax.random.key(s), cf)  # (m, K, L)
                    truth = world.value(A, L)  # the truth, the simulator and the estimators share table A
                    v_sim = float(np.einsum("i,ikl,ikl->", w_sim, A, Q_sim[L][:, :, :L]) / L)
                    rec = {"rows": n, "replicate": rep, "policy": entry.label, "len_list": L,
                           "truth": truth, "simulator": v_sim}
                    # off-policy estimates on held-out impressions (single-slot policies: the top slot)
                    if L == 1 and Lw > 1:
                        sel = np.flatnonzero(evald.position == 0)
                    else:
                        sel = np.arange(evald.n_rounds)
                    ev = evald.subset(sel)
                    if L == 1 and Lw > 1:
                        ev = _single_slot(ev)

                    def batches(ev=ev):
                        for i0 in range(0, ev.n_rounds, batch_rows):
                            yield ev.subset(slice(i0, min(ev.n_rounds, i0 + batch_rows)))

                    # a batch's action distribution and reward-model predictions: rows of the
                    # per-member tables, looked up by the logged context
                    ad_fn = lambda b, A=A: A[lookup(b.context)]  # noqa: E731
                    q_fn = None if Q_hat is None else (lambda b, L=L, Q=Q_hat: Q[lookup(b.context)][:, :, :L])
                    tab = evaluate_batches(batches(), ad_fn, est, estimated_rewards=q_fn, interval="normal",
                                           random_state=s)
                    for _, r in tab.iterrows():
                        rec[r["estimator"]] = float(r["estimate"])
                        rec[r["estimator"] + "_lo"] = float(r["ci_low"])
                        rec[r["estimator"] + "_hi"] = float(r["ci_high"])
                    rec["ess_ratio"] = float(tab["ess_ratio"].iloc[0])
                    recs.append(rec)
                    tick(f"{n:,} rows: {entry.label}")

                v = pd.DataFrame([r for r in recs if r["rows"] == n and r["replicate"] == rep])
                base = {"rows": n, "replicate": rep, "clicks": clicks, "auc": float(sim.report.auc),
                        "penalties": json.dumps(sim.report.penalties)}
                summ.append({**base, "method": "simulator", **_metrics(v["truth"], v["simulator"])})
                for e in est_names:
                    summ.append({**base, "method": e, **_metrics(v["truth"], v[e], v[e + "_lo"], v[e + "_hi"])})
    finally:
        if tmp is not None:
            tmp.cleanup()
    if not summ:
        raise FidelityError("rows: no log size could support a simulator fit: " + "; ".join(failures))
    settings = {**world.settings, "logger": logger,
                "replicates": replicates, "train_frac": train_frac, "item_prior": item_prior,
                "penalties": None if penalties is None else list(penalties), "seed": seed}
    return FidelityResult(values=pd.DataFrame(recs), summary=pd.DataFrame(summ), settings=settings,
                          policies=[p.label for p in panel], estimators=est_names, failures=failures)


def _single_slot(ev):
    """Top-slot rows of slate logs as single-slot logs (no position)."""
    from bandits.data import LoggedData

    return LoggedData(context=ev.context, action=ev.action, reward=ev.reward, pscore=ev.pscore,
                      action_context=ev.action_context, n_actions=ev.n_actions)


def _check_rows(r) -> int:
    if isinstance(r, bool) or not isinstance(r, int | np.integer) or int(r) < 1:
        raise FidelityError(f"rows: expected integers >= 1, got {r!r}")
    return int(r)


# --------------------------------------------------------------------------------------- report
def to_table(result: FidelityResult):
    """A rich Table: one row per (log size, method), means over replicates."""
    from rich.table import Table

    t = Table(title=f"fidelity in world {result.settings.get('world')!r}: {len(result.policies)} policies, "
                    f"{result.settings.get('logger')} logging, {result.settings.get('replicates')} replicate(s)")
    for c in ("rows", "clicks", "method", "Kendall tau", "median |rel err|", "max |rel err|", "decision regret",
              "coverage"):
        t.add_column(c, justify="right")
    clicks = result.curve("simulator", "clicks")
    for i, n in enumerate(result.rows):
        for m in ["simulator", *result.estimators]:
            vals = [result.curve(m, k)[i] for k in ("kendall_tau", "median_abs_rel_error", "max_abs_rel_error",
                                                    "decision_regret")]
            cov = result.curve(m, "coverage")[i] if m != "simulator" else float("nan")
            t.add_row(f"{n:,}" if m == "simulator" else "", f"{clicks[i]:,.0f}" if m == "simulator" else "", m,
                      f"{vals[0]:.2f}", f"{100 * vals[1]:.1f}%", f"{100 * vals[2]:.1f}%", f"{100 * vals[3]:.2f}%",
                      "" if not np.isfinite(cov) else f"{100 * cov:.0f}%")
    return t


def plot_fidelity(result: FidelityResult, path: str | Path) -> Path:
    """Three panels: Kendall tau over log size, median |relative error| over log size, and truth vs
    simulator value of every policy at the largest size. Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.rows
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.3))
    for m, style in [("simulator", "-o"), *[(e, "--s") for e in result.estimators]]:
        ax[0].plot(rows, result.curve(m, "kendall_tau"), style, label=m)
        ax[1].plot(rows, [100 * v for v in result.curve(m, "median_abs_rel_error")], style, label=m)
    ax[0].axhline(TAU_TARGET, color="grey", lw=0.8, ls=":")
    for a, lab in ((ax[0], "Kendall tau vs truth"), (ax[1], "median |relative error| (%)")):
        a.set_xscale("log")
        a.set_xlabel("logged rows")
        a.set_title(lab)
        a.grid(alpha=0.3)
    ax[1].set_yscale("log")
    ax[0].legend(fontsize=8)
    n = rows[-1]
    v = result.values[(result.values["rows"] == n) & (result.values["replicate"] == 0)]
    ax[2].scatter(v["truth"], v["simulator"], c=np.where(v["len_list"] > 1, "tab:orange", "tab:blue"), s=25)
    for _, r in v.iterrows():
        ax[2].annotate(r["policy"], (r["truth"], r["simulator"]), fontsize=6)
    lo, hi = float(v[["truth", "simulator"]].min().min()), float(v[["truth", "simulator"]].max().max())
    ax[2].plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax[2].set_xlabel("truth (expected clicks per slot-impression)")
    ax[2].set_ylabel("refitted simulator")
    ax[2].set_title(f"{n:,} rows (blue: top slot, orange: slates)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------- CLI
def _rows_arg(s: str) -> list[int]:
    out = []
    for part in s.split(","):
        part = part.strip().replace("_", "")
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--rows: expected integers >= 1 (e.g. 10000,100000), got {s!r}") from None
        if not (math.isfinite(v) and v == int(v) and v >= 1):
            raise argparse.ArgumentTypeError(f"--rows: expected integers >= 1, got {part!r}")
        out.append(int(v))
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        print(f"screentest fidelity: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="screentest fidelity",
                 description="Run the offline pipeline (logs -> refitted simulator, logs -> OPE) in a known "
                             "world shaped like your setting and measure how well it ranks policies.")
    ap.add_argument("--world", default="obd", help="known world (envs.known.WORLDS; default obd)")
    ap.add_argument("--rows", type=_rows_arg, default=None,
                    help="log sizes, comma separated (default: your logs' size, x10, x100)")
    ap.add_argument("--user-rows", type=int, default=10_000,
                    help="size of your logs (default 10000: the bundled OBD sample)")
    ap.add_argument("--logger", default="uniform", help=f"logging policy: {', '.join(LOGGERS)}")
    ap.add_argument("--replicates", type=int, default=1, help="independent log draws per size")
    ap.add_argument("--panel", default=None, help="comma-separated panel labels or NAME@SLOTS (default: 14 policies)")
    ap.add_argument("--estimators", default=",".join(DEFAULT_ESTIMATORS))
    ap.add_argument("--item-prior", default="auto", help="simulator item prior: auto (site for obd), site, none")
    ap.add_argument("--penalties", default=None,
                    help="fix the simulator's L2 strengths MAIN,INTERACTION (skips the cross-validated search)")
    ap.add_argument("--interaction", type=float, default=0.5, help="member x item interaction sd (logit scale)")
    ap.add_argument("--item-noise", type=float, default=0.3, help="sd of item effects around the site prior")
    ap.add_argument("--train-frac", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="write the results as JSON to this path")
    ap.add_argument("--out", default="screentest-results/fidelity", help="folder for the plot and tables")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    ap = _parser()
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    err = Console(stderr=True, highlight=False)
    console = Console(quiet=a.quiet, highlight=False)

    def fail(msg: str) -> int:
        err.print(f"screentest fidelity: {msg}", markup=False, soft_wrap=True)
        return 2

    from envs.known import WORLDS, make_world

    if a.world not in WORLDS:
        return fail(f"--world: expected one of {sorted(WORLDS)}, got {a.world!r}")
    if a.user_rows < 1:
        return fail(f"--user-rows: expected an integer >= 1, got {a.user_rows}")
    if a.replicates < 1:
        return fail(f"--replicates: expected an integer >= 1, got {a.replicates}")
    if a.logger not in LOGGERS:
        return fail(f"--logger: expected one of {list(LOGGERS)}, got {a.logger!r}")
    item_prior = ("site" if a.world == "obd" else "none") if a.item_prior == "auto" else a.item_prior
    if item_prior not in ("site", "none"):
        return fail(f"--item-prior: expected auto, site or none, got {a.item_prior!r}")
    if item_prior == "site" and a.world != "obd":
        return fail(f"--item-prior: 'site' is the OBD site prior; world {a.world!r} has other items")
    penalties = None
    if a.penalties is not None:
        try:
            penalties = [float(v) for v in a.penalties.split(",")]
        except ValueError:
            penalties = []
        if len(penalties) != 2 or not all(math.isfinite(v) and v > 0 for v in penalties):
            return fail(f"--penalties: expected two positive numbers MAIN,INTERACTION, got {a.penalties!r}")
    if not 0.0 < a.train_frac < 1.0:
        return fail(f"--train-frac: expected a fraction in (0, 1), got {a.train_frac}")
    rows = a.rows or [a.user_rows, 10 * a.user_rows, 100 * a.user_rows]
    try:
        world = make_world(a.world, interaction=a.interaction, item_noise=a.item_noise, seed=a.seed)
        if world.site_prior is None and a.logger == "bts":
            return fail(f"--logger: 'bts' starts from a site prior; world {a.world!r} has none")
        panel = None if a.panel is None else panel_from_labels(a.panel.split(","))
        if panel is not None:
            for p in panel:
                build_policy(p, world)
        est = [e.strip() for e in a.estimators.split(",") if e.strip()]
        from bandits.estimators.core import as_estimators

        try:
            as_estimators(est)
        except (ValueError, KeyError, TypeError) as e:
            return fail(f"--estimators: {e}")
    except FidelityError as e:
        return fail(str(e).replace("panel:", "--panel:", 1))
    except (ValueError, KeyError) as e:
        return fail(f"--world {a.world}: {e}")

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    t0 = time.perf_counter()
    console.print(f"fidelity: world {a.world!r} ({world.n_actions} items, {world.len_list} slots, "
                  f"interaction {a.interaction}), log sizes {', '.join(f'{r:,}' for r in rows)}, "
                  f"{len(panel or DEFAULT_PANEL)} policies")
    prog = Progress(TextColumn("[bold]fidelity"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TextColumn("{task.fields[msg]}"), TimeElapsedColumn(), console=console, transient=False,
                    disable=a.quiet)
    try:
        with prog:
            task = prog.add_task("fidelity", total=1.0, msg="")
            res = fidelity(world, rows, logger=a.logger, replicates=a.replicates, panel=panel, estimators=est,
                           item_prior=item_prior, penalties=penalties, train_frac=a.train_frac, seed=a.seed,
                           progress=lambda m, f: prog.update(task, completed=f, msg=m))
    except FidelityError as e:
        return fail(str(e))
    console.print(to_table(res))
    line, _ = logs_verdict(res, a.user_rows if a.user_rows in res.rows else None)
    console.print(line)
    for f in res.failures:
        console.print(f"[yellow]not studied:[/yellow] {f}")
    out = Path(a.out)
    written = []
    if not a.no_plot:
        written.append(plot_fidelity(res, out / "fidelity.png"))
        res.values.to_csv(out / "fidelity_values.csv", index=False)
        res.summary.to_csv(out / "fidelity_summary.csv", index=False)
        written += [out / "fidelity_values.csv", out / "fidelity_summary.csv"]
    if a.json:
        p = Path(a.json)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = res.to_json()
        doc["elapsed_s"] = time.perf_counter() - t0
        p.write_text(json.dumps(doc, indent=1))
        written.append(p)
    if written:
        console.print("wrote " + ", ".join(str(w) for w in written) + f" ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
