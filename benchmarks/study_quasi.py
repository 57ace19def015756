"""Study: how far to trust quasi-experiments, rehearsed in the member simulator with a known effect.

A regional rollout of the personalised ranker (replacing the popularity ranker) in a population of
regions built from the member simulator fitted on the bundled OBD sample
(:mod:`experiments.quasi.rehearsal`): 40 regions x 30 weeks, 10 treated regions from week 20,
common seasonality, region-specific trends, AR(1) local shocks and the sampling noise of ~20,000
sessions per region-week. Each scenario is rehearsed ``--reps`` times (default 500) and every
applicable estimator reports bias, RMSE and interval coverage against the true average effect on
the treated region-weeks:

- ``holds``: random assignment, one adoption week: the identifying assumptions of every estimator
  hold (with 10 treated regions, the large-sample approximations of some intervals are strained);
- ``holds_half``: the same with 20 treated regions;
- ``one_treated``: a single treated region (synthetic control's home ground);
- ``staggered``: 30 treated regions in three waves four weeks apart, effects growing over ten weeks
  (TWFE's weighting problem);
- ``trends``: the treated regions were chosen because they were growing (parallel trends broken);
- ``spillover``: half of the effect leaks into the control regions.

Then the minimum detectable effect (TWFE, alpha 0.05, power 0.8) over a grid of regions x weeks
from null rehearsals, and the Proposition 99 estimates (ADH 2010 synthetic control with placebos
refitted as ADH did, SDID, SC, DiD, and TWFE with randomisation inference).

Prints one JSON line; ``--figure`` writes the coverage/bias/MDE figure.

    python -m benchmarks.study_quasi --figure docs/figures/quasi_rehearsal.png
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from experiments.quasi.rehearsal import (
    SCENARIOS,
    Design,
    minimum_detectable_effect,
    region_world,
    rehearse,
    toy_world,
)

RUN = {
    "holds": ("twfe", "twfe_ri", "cs", "cs_ri", "sdid"),
    "holds_half": ("twfe", "cs", "sdid"),
    "one_treated": ("sc", "twfe_ri", "sdid"),
    "staggered": ("twfe", "twfe_ri", "cs", "cs_ri"),
    "trends": ("twfe", "twfe_ri", "cs", "sdid"),
    "spillover": ("twfe", "cs", "sdid"),
}
KEYS = ("bias", "bias_se", "rmse", "coverage", "coverage_se", "width", "unbounded", "empty", "reject")


def study(world, base: Design, reps: int, seed: int, scenarios=tuple(RUN)) -> dict:
    out = {}
    for k, name in enumerate(scenarios):
        d = replace(base, **SCENARIOS[name])
        r = rehearse(world, d, estimators=RUN[name], reps=reps, seed=seed + 1000 * k)
        out[name] = dict(true_att=round(r["true_att"], 5), baseline=round(r["baseline"], 4),
                         design={f: getattr(d, f) for f in ("regions", "weeks", "treated", "start", "cohorts",
                                                            "trend_gap", "spillover", "ramp_weeks")},
                         results={e: ({kk: round(float(v[kk]), 5) for kk in KEYS} if "skipped" not in v else v)
                                  for e, v in r["results"].items()})
    return out


def mde_grid(world, base: Design, regions=(20, 40, 80), weeks=(12, 26, 52), reps: int = 500, seed: int = 0) -> list:
    rows = []
    for R in regions:
        for T in weeks:
            d = replace(base, regions=R, weeks=T, treated=R // 4, start=(2 * T) // 3)
            m = minimum_detectable_effect(world, d, reps=reps, seed=seed + R * 100 + T)
            rows.append(dict(regions=R, weeks=T, treated=R // 4, start=d.start, mde=round(m["mde"], 5),
                             mde_relative=round(m["mde_relative"], 5), sd0_se=round(m["sd0_se"], 5),
                             size=m["size"]))
    return rows


def prop99() -> dict:
    from experiments.quasi import Predictor, prop99_panel, sdid, synthetic_control, twfe

    p = prop99_panel()
    R = range(1980, 1989)
    preds = [Predictor("lnincome", R), Predictor("retprice", R), Predictor("age15to24", R),
             Predictor("beer", range(1984, 1989)), Predictor("outcome", [1988]), Predictor("outcome", [1980]),
             Predictor("outcome", [1975])]
    sc = synthetic_control(p, predictors=preds)  # placebos refit their own V, as ADH
    w = sc.weights[sc.weights > 1e-3].round(3)
    out = dict(synth_weights=w.to_dict(), synth_pre_rmspe=round(sc.pre_rmspe, 3), synth_att=round(sc.estimate.estimate, 3),
               synth_p=round(sc.estimate.p_value, 4), synth_ci=[round(sc.estimate.ci_low, 2), round(sc.estimate.ci_high, 2)])
    for est in ("sdid", "sc", "did"):
        e = sdid(p, estimator=est, reps=200)
        out[est] = dict(estimate=round(e.estimate, 3), se_placebo=round(e.std_error, 3))
    r = twfe(p, inference="permutation")
    out["twfe_permutation"] = dict(estimate=round(r.estimate, 3), p=round(r.p_value, 4),
                                   ci=[round(r.ci_low, 2), round(r.ci_high, 2)])
    return out


def figure(path: str, res: dict, mde: list, reps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    names = list(res)
    ests = ["twfe", "twfe_ri", "cs", "cs_ri", "sdid", "sc"]
    width = 0.13
    for i, e in enumerate(ests):
        xs, cov, err, bias, berr = [], [], [], [], []
        for k, s in enumerate(names):
            r = res[s]["results"].get(e)
            if r is None or "skipped" in r:
                continue
            xs.append(k + (i - 2.5) * width)
            cov.append(r["coverage"])
            err.append(2 * r["coverage_se"])
            bias.append(r["bias"] / res[s]["true_att"])
            berr.append(2 * r["bias_se"] / res[s]["true_att"])
        ax[0].errorbar(xs, cov, yerr=err, fmt="o", capsize=2, label=e, color=f"C{i}")
        ax[1].errorbar(xs, bias, yerr=berr, fmt="o", capsize=2, label=e, color=f"C{i}")
    ax[0].axhspan(0.93, 0.97, color="grey", alpha=0.2)
    ax[0].axhline(0.95, color="k", lw=0.8)
    ax[0].set_ylabel(f"95% interval coverage ({reps} rehearsals)")
    ax[1].axhline(0, color="k", lw=0.8)
    ax[1].set_ylabel("bias / true effect")
    for a in ax[:2]:
        a.set_xticks(range(len(names)))
        a.set_xticklabels(names, rotation=20, fontsize=8)
    ax[0].legend(fontsize=7, ncol=2)
    for T in sorted({m["weeks"] for m in mde}):
        rows = [m for m in mde if m["weeks"] == T]
        ax[2].plot([m["regions"] for m in rows], [100 * m["mde_relative"] for m in rows], marker="o", label=f"{T} weeks")
    ax[2].set_xscale("log")
    ax[2].set_xticks([m["regions"] for m in mde if m["weeks"] == mde[0]["weeks"]])
    ax[2].get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax[2].minorticks_off()
    ax[2].set_xlabel("regions (a quarter treated, from 2/3 of the weeks)")
    ax[2].set_ylabel("minimum detectable effect (% of baseline)")
    ax[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument("--mde-reps", type=int, default=500)
    ap.add_argument("--world", choices=["simulator", "toy"], default="simulator")
    ap.add_argument("--scenarios", nargs="+", default=list(RUN), choices=list(RUN))
    ap.add_argument("--regions", type=int, nargs="+", default=[20, 40, 80])
    ap.add_argument("--weeks", type=int, nargs="+", default=[12, 26, 52])
    ap.add_argument("--no-prop99", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", default=None)
    a = ap.parse_args(argv)
    t0 = time.time()
    world = region_world() if a.world == "simulator" else toy_world()
    base = Design()
    out = dict(study="quasi", reps=a.reps, world=world.source, base_design=base.to_dict())
    out["scenarios"] = study(world, base, a.reps, a.seed, a.scenarios)
    out["mde"] = mde_grid(world, base, a.regions, a.weeks, a.mde_reps, a.seed)
    if not a.no_prop99:
        out["prop99"] = prop99()
    out["seconds"] = round(time.time() - t0, 1)
    if a.figure:
        figure(a.figure, out["scenarios"], out["mde"], a.reps)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
