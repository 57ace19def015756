"""Rehearse quasi-experiments in the member simulator: a regional rollout with a known effect.

The world. The member simulator is fitted on the bundled Open Bandit Dataset sample as
:func:`experiments.builders.build_simulator` does (three slots, a preference-sharpness
``temperature``). The incumbent ranker shows every member the three most popular items; the new
ranker shows each member the three items the simulator expects them to click most. From the
simulator's exact click probabilities every member has an expected number of clicks per session
under each ranker, and a per-session variance (independent slot clicks). Members are grouped into
``archetypes`` by their incumbent click rate (weighted quantiles); a region is a Dirichlet mixture of
archetypes around the population shares, so regions differ in level and in the size of the effect.

A panel of ``regions x weeks``. The weekly outcome is clicks per 100 sessions:

    mu0_rt = 100 m_inc(r) L_rt,   L_rt = (1 + season_amp sin(2 pi t / season_period + phase))
                                         (1 + trend_r t / T + trend_gap 1{r treated} t / T)
    y_rt   = mu0_rt + D_rt effect_rt + spill_rt + mu0_rt shock_rt + sampling noise

with ``trend_r ~ N(0, trend_sd)`` region growth, ``shock`` an AR(1) (``ar``, ``shock_sd``) local
disturbance, sampling noise of the mean over ``n_rt`` sessions (lognormal region sizes around
``sessions`` per week; its variance is the simulator's exact per-session variance over ``n_rt``; the
normal approximation of a mean of thousands of sessions), ``effect_rt = 100 (m_new(r) - m_inc(r))
L_rt ramp(t - A_r) effect_scale`` (or a fixed ``effect`` in outcome units), ramping up linearly
over ``ramp_weeks``, and ``spill_rt = spillover x`` the treated regions' mean effect that week,
added to regions not yet treated (leakage that biases every comparison). Treated regions are chosen
at random; with ``cohorts > 1`` they adopt in waves ``spacing`` weeks apart (staggered adoption).
``trend_gap > 0`` breaks parallel trends: the treated regions were chosen because they were growing.

The estimand is the average effect over treated region-weeks (known exactly per rehearsal).
:func:`rehearse` runs every estimator on ``reps`` independent rehearsals and reports bias, RMSE,
interval coverage (with its binomial standard error) and mean interval width;
:func:`minimum_detectable_effect` turns null rehearsals into the smallest effect a design detects.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

from experiments.abtest.validation import check_alpha, check_positive

__all__ = ["RegionWorld", "Design", "region_world", "toy_world", "simulate", "rehearse", "ESTIMATORS",
           "minimum_detectable_effect", "SCENARIOS"]


@dataclass(frozen=True)
class RegionWorld:
    """Archetypes of members: expected clicks per session under the incumbent (``base``) and the new
    ranker (``new``), the per-session variances (within the archetype, members and clicks), and the
    population ``share`` of each archetype; all ``(K,)`` float64."""

    base: np.ndarray
    new: np.ndarray
    var_base: np.ndarray
    var_new: np.ndarray
    share: np.ndarray
    source: str


def _archetypes(mu_a, mu_b, s2_a, s2_b, w, k):
    order = np.argsort(mu_a, kind="stable")
    cw = np.cumsum(w[order])
    lab = np.empty(mu_a.size, np.int64)
    lab[order] = np.minimum((cw * k / cw[-1] - 1e-12).astype(np.int64), k - 1)
    out = dict(base=[], new=[], var_base=[], var_new=[], share=[])
    for a in range(k):
        m = lab == a
        ww = w[m] / w[m].sum()
        for key, mu, s2 in (("base", mu_a, s2_a), ("new", mu_b, s2_b)):
            mean = float(ww @ mu[m])
            out[key].append(mean)
            out["var_" + key].append(float(ww @ (s2[m] + mu[m] ** 2) - mean**2))
        out["share"].append(float(w[m].sum()))
    return {k_: np.asarray(v, np.float64) for k_, v in out.items()}


@functools.lru_cache(maxsize=8)
def region_world(campaign: str = "all", temperature: float = 0.1, archetypes: int = 6, seed: int = 0,
                 penalties: tuple[float, float] | None = None) -> RegionWorld:
    """Archetypes from the member simulator fitted on the bundled OBD sample (``campaign``,
    ``temperature``, ``penalties``: see :func:`experiments.builders.build_simulator`; None
    cross-validates the penalties). Cached per arguments."""
    from bandits.datasets import load_obd
    from envs.logged.simulator import expected_reward_matrix, member_distribution
    from experiments.builders import build_simulator

    k = int(check_positive("archetypes", archetypes, integer=True))
    sim = build_simulator(load_obd("random", campaign), len_list=3, temperature=temperature, seed=seed,
                          penalties=None if penalties is None else list(penalties))
    Q = np.asarray(expected_reward_matrix(sim.env), np.float64)  # (n, K, L)
    w = member_distribution(sim.env.default_params)
    n, _, L = Q.shape
    score = Q.mean(2)
    personal = np.argsort(-score, axis=1, kind="stable")[:, :L]
    popular = np.argsort(-(w @ score), kind="stable")[:L]
    rows, slots = np.arange(n)[:, None], np.arange(L)[None, :]
    qa = Q[rows, popular[None, :], slots]
    qb = Q[rows, personal, slots]
    arch = _archetypes(qa.sum(1), qb.sum(1), (qa * (1 - qa)).sum(1), (qb * (1 - qb)).sum(1), w, k)
    return RegionWorld(**arch, source=f"member simulator on OBD ({campaign}), temperature {temperature}: "
                                      f"incumbent = popularity, new = personalised")


def toy_world(base: float = 0.05, lift: float = 0.2, archetypes: int = 4) -> RegionWorld:
    """A hand-made world (no simulator): archetypes with click rates spread around ``base`` per
    session and a relative ``lift`` of the new ranker; Bernoulli per-session variances. For fast tests."""
    b = base * np.linspace(0.6, 1.4, archetypes)
    nw = b * (1 + lift)
    return RegionWorld(b, nw, b * (1 - b), nw * (1 - nw), np.full(archetypes, 1.0 / archetypes), "toy")


@dataclass(frozen=True)
class Design:
    """A regional rollout (see module doc for every knob)."""

    regions: int = 40
    weeks: int = 30
    treated: int = 10
    start: int = 20
    cohorts: int = 1
    spacing: int = 2
    sessions: float = 20_000.0
    size_sigma: float = 0.5
    concentration: float = 2.0
    season_amp: float = 0.1
    season_period: float = 52.0
    trend_sd: float = 0.02
    shock_sd: float = 0.01
    ar: float = 0.5
    spillover: float = 0.0
    trend_gap: float = 0.0
    effect_scale: float = 1.0
    effect: float | None = None
    ramp_weeks: int = 1

    def check(self) -> Design:
        for name in ("regions", "weeks", "treated", "start", "cohorts", "spacing", "ramp_weeks"):
            check_positive(name, getattr(self, name), integer=True)
        if self.treated >= self.regions:
            raise ValueError(f"treated: expected fewer treated regions than regions ({self.regions}), got {self.treated}")
        last = self.start + (self.cohorts - 1) * self.spacing
        if not (1 <= self.start and last < self.weeks):
            raise ValueError(f"start: expected the first adoption week in [1, weeks) and the last "
                             f"(start + (cohorts-1) spacing = {last}) before week {self.weeks}, got start {self.start}")
        if self.cohorts > self.treated:
            raise ValueError(f"cohorts: expected at most one wave per treated region ({self.treated}), got {self.cohorts}")
        if not 0 <= self.ar < 1:
            raise ValueError(f"ar: expected a value in [0, 1), got {self.ar}")
        check_positive("sessions", self.sessions)
        check_positive("concentration", self.concentration)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


SCENARIOS: dict[str, dict] = {
    "holds": {},
    "holds_half": dict(treated=20),
    "staggered": dict(treated=30, cohorts=3, start=10, spacing=4, ramp_weeks=10),
    "trends": dict(trend_gap=0.06),
    "spillover": dict(spillover=0.5),
    "one_treated": dict(treated=1),
}


def simulate(world: RegionWorld, design: Design, reps: int, seed: int = 0) -> dict:
    """Draw ``reps`` rehearsal panels. Returns ``y (reps, R, T)`` float64, ``d (reps, R, T)`` bool,
    ``att (reps,)`` (the true average effect on treated region-weeks), ``baseline (reps,)`` (mean
    untreated outcome of the treated regions before adoption) and ``adoption (reps, R)`` int."""
    design.check()
    reps = int(check_positive("reps", reps, integer=True))
    R, T = design.regions, design.weeks
    rng = np.random.default_rng(seed)
    K = world.share.size
    pi = rng.dirichlet(design.concentration * K * world.share, size=(reps, R))  # (reps, R, K)
    m0, m1 = pi @ world.base, pi @ world.new
    v0 = pi @ (world.var_base + world.base**2) - m0**2
    v1 = pi @ (world.var_new + world.new**2) - m1**2
    # assignment: a random subset, split into waves
    adopt = np.full((reps, R), T, np.int64)
    waves = design.start + design.spacing * (np.arange(design.treated) * design.cohorts // design.treated)
    for r in range(reps):
        adopt[r, rng.permutation(R)[: design.treated]] = waves
    tt = np.arange(T)
    d = tt[None, None, :] >= adopt[..., None]
    ever = adopt < T
    phase = rng.uniform(0, 2 * np.pi, size=(reps, 1, 1))
    season = 1 + design.season_amp * np.sin(2 * np.pi * tt / design.season_period + phase)
    trend = rng.normal(0, design.trend_sd, (reps, R, 1)) + design.trend_gap * ever[..., None]
    L = season * (1 + trend * tt / T)
    mu0 = 100 * m0[..., None] * L
    mu1 = 100 * m1[..., None] * L
    ramp = np.clip((tt[None, None, :] - adopt[..., None] + 1) / design.ramp_weeks, 0, 1)
    eff = (design.effect * L if design.effect is not None else (mu1 - mu0) * design.effect_scale) * ramp
    eff = np.where(d, eff, 0.0)
    spill = np.zeros_like(mu0)
    if design.spillover:
        n_tr = np.maximum(d.sum(1, keepdims=True), 1)
        spill = np.where(~d, design.spillover * eff.sum(1, keepdims=True) / n_tr, 0.0)
    shock = np.empty((reps, R, T))
    z = rng.standard_normal((reps, R, T))
    shock[..., 0] = z[..., 0]
    for t in range(1, T):
        shock[..., t] = design.ar * shock[..., t - 1] + np.sqrt(1 - design.ar**2) * z[..., t]
    size = design.sessions * np.exp(design.size_sigma * rng.standard_normal((reps, R, 1)) - design.size_sigma**2 / 2)
    var = np.where(d, v1[..., None], v0[..., None]) * 100**2 / size
    y = mu0 + eff + spill + mu0 * design.shock_sd * shock + np.sqrt(var) * rng.standard_normal((reps, R, T))
    att = (eff * d).sum((1, 2)) / d.sum((1, 2))
    pre = ~d & ever[..., None]
    baseline = (mu0 * pre).sum((1, 2)) / np.maximum(pre.sum((1, 2)), 1)
    return dict(y=y, d=d, att=att, baseline=baseline, adoption=adopt)


# ----------------------------------------------------------------------------- estimators
def _panel(y, d):
    from experiments.quasi.panel import Panel

    return Panel.from_arrays(y, d)


def _est_twfe(y, d, alpha, seed):
    from experiments.quasi.did import twfe

    return twfe(_panel(y, d), alpha=alpha)


def _est_twfe_ri(y, d, alpha, seed):
    from experiments.quasi.did import twfe

    return twfe(_panel(y, d), inference="permutation", permutations=199, alpha=alpha, seed=seed)


def _est_cs(y, d, alpha, seed):
    from experiments.quasi.did import callaway_santanna

    return callaway_santanna(_panel(y, d), alpha=alpha, band_draws=1, seed=seed).overall


def _est_cs_ri(y, d, alpha, seed):
    from experiments.quasi.did import callaway_santanna

    return callaway_santanna(_panel(y, d), alpha=alpha, inference="permutation", permutations=199, band_draws=1,
                             seed=seed).overall


def _est_sdid(y, d, alpha, seed):
    from experiments.quasi.sdid import sdid

    p = _panel(y, d)
    inference = "jackknife" if p.ever_treated.sum() >= 2 else "placebo"
    return sdid(p, alpha=alpha, inference=inference, reps=100, seed=seed)


def _est_sc(y, d, alpha, seed):
    from experiments.quasi.synth import synthetic_control

    return synthetic_control(_panel(y, d), alpha=alpha).estimate


# name -> (function(y, d, alpha, seed) -> Estimate, requirement)
ESTIMATORS = {
    "twfe": (_est_twfe, "2+ treated, one adoption period for an unbiased effect"),
    "twfe_ri": (_est_twfe_ri, "randomised assignment"),
    "cs": (_est_cs, "2+ regions per adoption wave"),
    "cs_ri": (_est_cs_ri, "randomised assignment"),
    "sdid": (_est_sdid, "one adoption period"),
    "sc": (_est_sc, "exactly one treated region"),
}


def _applicable(name: str, design: Design) -> str | None:
    if name == "sc" and design.treated != 1:
        return "needs exactly one treated region"
    if name in ("twfe", "cs") and design.treated < 2:
        return "cluster-robust / influence-function intervals need 2+ treated regions"
    if name == "cs" and design.treated // design.cohorts < 2:
        return "needs 2+ regions per adoption wave"
    if name == "sdid" and design.cohorts > 1:
        return "needs one adoption period"
    return None


def rehearse(world: RegionWorld, design: Design, *, estimators=("twfe", "twfe_ri", "cs", "cs_ri", "sdid", "sc"),
             reps: int = 500,
             alpha: float = 0.05, seed: int = 0) -> dict:
    """Run each estimator on ``reps`` simulated rollouts. Returns ``design``, ``reps``, ``alpha``,
    ``true_att`` (mean over rehearsals), ``baseline`` and per estimator (``results[name]``):
    ``bias``, ``rmse``, ``coverage``, ``coverage_se``, ``width`` (median width of the bounded
    intervals), ``unbounded`` and ``empty`` (shares of intervals that are), ``reject`` (share of
    intervals excluding 0) and the raw ``estimates``, ``std_errors`` (NaN for permutation
    intervals) and ``ci`` arrays; or
    ``skipped`` with the reason where the design does not meet the estimator's needs."""
    alpha = check_alpha(alpha)
    for e in estimators:
        if e not in ESTIMATORS:
            raise ValueError(f"estimators: expected names among {list(ESTIMATORS)}, got {e!r}")
    sim = simulate(world, design, reps, seed)
    out = dict(design=design.to_dict(), reps=reps, alpha=alpha, true_att=float(sim["att"].mean()),
               baseline=float(sim["baseline"].mean()), world=world.source, results={})
    for name in estimators:
        why = _applicable(name, design)
        if why:
            out["results"][name] = dict(skipped=why)
            continue
        if name == "twfe":  # batched closed form (the same numbers as experiments.quasi.did.twfe)
            from experiments.quasi.did import twfe_arrays
            from experiments.quasi.inference import t_interval

            b, se = twfe_arrays(sim["y"], sim["d"].astype(np.float64))
            lo, hi, _ = t_interval(b, se, alpha, design.regions - 1)
        else:
            fn = ESTIMATORS[name][0]
            res = [fn(sim["y"][r], sim["d"][r], alpha, seed + r) for r in range(reps)]
            b = np.array([x.estimate for x in res])
            se = np.array([x.std_error for x in res])
            lo = np.array([x.ci_low for x in res])
            hi = np.array([x.ci_high for x in res])
        err = b - sim["att"]
        cov = (lo <= sim["att"]) & (sim["att"] <= hi)  # an empty (NaN) interval covers nothing
        bounded = np.isfinite(lo) & np.isfinite(hi)
        c = float(cov.mean())
        out["results"][name] = dict(bias=float(err.mean()), bias_se=float(err.std(ddof=1) / np.sqrt(reps)),
                                    rmse=float(np.sqrt(np.mean(err**2))), coverage=c,
                                    coverage_se=float(np.sqrt(max(c * (1 - c), 1e-12) / reps)),
                                    width=float(np.median((hi - lo)[bounded])) if bounded.any() else np.inf,
                                    unbounded=float(np.mean(np.isinf(lo) | np.isinf(hi))),
                                    empty=float(np.mean(np.isnan(lo) | np.isnan(hi))),
                                    reject=float(np.mean((lo > 0) | (hi < 0))),
                                    estimates=b, std_errors=se, ci=np.stack([lo, hi], 1), truth=sim["att"])
    return out


def minimum_detectable_effect(world: RegionWorld, design: Design, *, estimator: str = "twfe", alpha: float = 0.05,
                              power: float = 0.8, reps: int = 400, seed: int = 0) -> dict:
    """Minimum detectable effect (outcome units and relative to the baseline) of a design.

    Null rehearsals (no effect) give the estimator's standard deviation ``sd0``;
    ``mde = (z_{1-alpha/2} + z_power) sd0`` (two-sided test, normal approximation). Returns
    ``mde``, ``mde_relative``, ``sd0`` with its Monte Carlo standard error, the null rejection
    rate of the estimator's own intervals (``size``; should be near ``alpha``), and the mean reported
    standard error (``mean_se``; near ``sd0`` when the intervals are honest; NaN for permutation
    intervals, which report none).
    """
    alpha = check_alpha(alpha)
    power = check_alpha(power, "power")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator: expected one of {list(ESTIMATORS)}, got {estimator!r}")
    why = _applicable(estimator, design)
    if why:
        raise ValueError(f"estimator: {estimator!r} {why} (design has {design.treated} treated regions, "
                         f"{design.cohorts} wave(s))")
    null = replace(design, effect=0.0, spillover=0.0)
    r = rehearse(world, null, estimators=(estimator,), reps=reps, alpha=alpha, seed=seed)
    res = r["results"][estimator]
    est = res["estimates"]
    sd0 = float(est.std(ddof=1))
    mde = float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * sd0)
    se = res["std_errors"]
    mean_se = float(np.mean(se)) if np.isfinite(se).all() else np.nan
    return dict(estimator=estimator, mde=mde, mde_relative=mde / r["baseline"], sd0=sd0,
                sd0_se=sd0 / np.sqrt(2 * (reps - 1)), size=res["reject"], size_se=float(np.sqrt(alpha * (1 - alpha) / reps)),
                mean_se=mean_se, baseline=r["baseline"], regions=design.regions, weeks=design.weeks,
                treated=design.treated, start=design.start, alpha=alpha, power=power, reps=reps)
