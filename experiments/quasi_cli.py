"""``screentest quasi``: quasi-experiments on region panels (see docs/quasi.md).

    screentest quasi did --data prop99 --inference permutation                # TWFE DiD, randomisation inference
    screentest quasi did panel.csv --unit-col region --time-col week --outcome-col y --treatment-col d
                         [--method twfe|event|cs] [--inference cluster|permutation] [--leads 4 --lags 4]
    screentest quasi synth --data prop99 --predictor lnincome:1980-1988 --predictor cigsale:1988 ... [--plot sc.png]
    screentest quasi sdid --data prop99 [--estimator sdid|sc|did] [--inference placebo|jackknife]
    screentest quasi rehearse [--scenario holds|staggered|trends|spillover|one_treated] [--reps 200]
    screentest quasi mde --regions 40 --weeks 30 --treated 10 [--estimator twfe] [--power 0.8]

A panel comes from ``--data prop99`` (California's Proposition 99, bundled) or a CSV/parquet file
with one row per unit and period; treatment is a 0/1 column (``--treatment-col``) or
``--treated-units A,B --start PERIOD``. Every subcommand prints a short table and, with
``--json``, one JSON line; ``--plot PATH`` writes a figure.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from experiments.abtest_cli import _plot_path, _read_table


def _emit(result: dict, as_json: bool, lines: list[str]) -> None:
    def enc(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.integer | np.floating):
            return o.item()
        return str(o)

    if as_json:
        print(json.dumps(result, default=enc))
    else:
        print("\n".join(lines))


def _cast_like(value: str, series):
    """Parse a period label given on the command line with the type of the time column."""
    kind = series.dtype.kind
    try:
        return int(value) if kind in "iu" else float(value) if kind == "f" else value
    except ValueError:
        raise ValueError(f"--start: expected a period like those in the time column ({series.iloc[0]!r}), "
                         f"got {value!r}") from None


def _load_panel(a, covariates=()):
    from experiments.quasi.panel import load_prop99, panel_from_frame

    if a.data == "prop99":
        if a.path:
            raise ValueError("path: give either a file or --data prop99, not both")
        df = load_prop99()
        unit, time_, outcome = "state", "year", "cigsale"
        if a.treatment_col is None and a.treated_units is None:
            a.treated_units, a.start = "California", "1989"
    else:
        if not a.path:
            raise ValueError("path: expected a CSV/parquet panel file or --data prop99")
        df = _read_table(a.path)
        unit, time_, outcome = a.unit_col, a.time_col, a.outcome_col
    tu = None if a.treated_units is None else [u for u in a.treated_units.split(",") if u]
    if tu is not None and a.start is None:
        raise ValueError("--start: expected the first treated period with --treated-units")
    if tu is not None and a.treatment_col is not None:
        raise ValueError("--treatment-col: give either a treatment column or --treated-units, not both")
    if tu is None and a.treatment_col is None:
        raise ValueError("--treatment-col: expected a 0/1 treatment column, or --treated-units with --start")
    if unit not in df.columns:
        raise KeyError(f"--unit-col: column {unit!r} not found; columns are {list(df.columns)[:20]}")
    if time_ not in df.columns:
        raise KeyError(f"--time-col: column {time_!r} not found; columns are {list(df.columns)[:20]}")
    if outcome not in df.columns:
        raise KeyError(f"--outcome-col: column {outcome!r} not found; columns are {list(df.columns)[:20]}")
    if tu is not None:
        ut = df[unit].dtype.kind
        if ut in "iu":
            tu = [int(u) for u in tu]
        start = _cast_like(a.start, df[time_])
        return panel_from_frame(df, unit=unit, time=time_, outcome=outcome, treated_units=tu, start=start,
                                covariates=covariates), outcome
    return panel_from_frame(df, unit=unit, time=time_, outcome=outcome, treatment=a.treatment_col,
                            covariates=covariates), outcome


def _fmt_est(e) -> str:
    ci = f"[{e.ci_low:.4g}, {e.ci_high:.4g}]"
    se = "" if not np.isfinite(e.std_error) else f" +- {e.std_error:.4g}"
    return (f"{e.method}: {e.estimate:.4g}{se}; {100 * (1 - e.alpha):.0f}% interval {ci}; p {e.p_value:.3g} "
            f"({e.inference}); {e.n_treated} treated of {e.n_units} units, {e.n_periods} periods")


def cmd_did(a) -> int:
    from experiments.quasi.did import callaway_santanna, event_study, twfe

    panel, outcome = _load_panel(a)
    lines, res = [], {}
    if a.method == "twfe":
        inf = a.inference or "cluster"
        e = twfe(panel, inference=inf, alpha=a.alpha, permutations=a.permutations, seed=a.seed)
        res = e.to_dict()
        lines.append(_fmt_est(e))
        lines += [f"  note: {n}" for n in e.notes]
    elif a.method == "event":
        if a.inference not in (None, "cluster"):
            raise ValueError(f"--inference: the event study uses cluster-robust errors, got {a.inference!r}")
        es = event_study(panel, leads=a.leads, lags=a.lags, alpha=a.alpha)
        tab = es.table
        res = dict(table=tab.reset_index().to_dict(orient="list"), pretrend_F=es.pretrend_F, pretrend_p=es.pretrend_p,
                   pretrend_df=es.pretrend_df, post_mean=es.post_mean.to_dict())
        lines.append(f"event study of {outcome} (reference e = {es.reference}; cluster-robust by unit):")
        lines.append(f"{'e':>4} {'estimate':>10} {'se':>8} {'ci_low':>10} {'ci_high':>10}")
        for e_, r in tab.iterrows():
            lines.append(f"{e_:>4} {r.estimate:>10.4g} {r.std_error:>8.3g} {r.ci_low:>10.4g} {r.ci_high:>10.4g}")
        lines.append(f"pre-trend test (all leads 0): F = {es.pretrend_F:.3g} on {es.pretrend_df}, p = {es.pretrend_p:.3g}")
        lines.append("average of lags: " + _fmt_est(es.post_mean))
    else:
        inf = a.inference or "analytic"
        if inf == "cluster":
            inf = "analytic"
        gt = callaway_santanna(panel, control=a.control, aggregation=a.aggregation, alpha=a.alpha, inference=inf,
                               permutations=a.permutations, seed=a.seed)
        e = gt.overall
        res = dict(overall=e.to_dict(), dynamic=gt.dynamic.reset_index().to_dict(orient="list"),
                   att_gt=gt.att_gt.to_dict(orient="list"), dropped=[str(u) for u in gt.dropped])
        lines.append(_fmt_est(e))
        lines += [f"  note: {n}" for n in e.notes]
        lines.append(f"{'e':>4} {'att':>10} {'se':>8} {'band_low':>10} {'band_high':>10}   (uniform band)")
        for e_, r in gt.dynamic.iterrows():
            lines.append(f"{e_:>4} {r.att:>10.4g} {r.std_error:>8.3g} {r.band_low:>10.4g} {r.band_high:>10.4g}")
    if _plot_path(a.plot) and a.method in ("event", "cs"):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        if a.method == "event":
            x, y_, lo, hi = tab.index, tab.estimate, tab.ci_low, tab.ci_high
        else:
            d = gt.dynamic
            x, y_, lo, hi = d.index, d.att, d.band_low, d.band_high
        ax.errorbar(x, y_, yerr=[y_ - lo, hi - y_], fmt="o", capsize=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(-0.5, color="grey", ls=":", lw=1)
        ax.set_xlabel("periods since adoption")
        ax.set_ylabel(f"effect on {outcome}")
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(res, a.json, lines)
    return 0


def _parse_predictor(spec: str, outcome: str):
    """``VAR`` | ``VAR:YEAR`` | ``VAR:FROM-TO`` (inclusive integer periods)."""
    from experiments.quasi.synth import Predictor

    var, _, span = spec.partition(":")
    if not var:
        raise ValueError(f"--predictor: expected VAR[:FROM-TO], got {spec!r}")
    var = "outcome" if var == outcome else var
    if not span:
        return Predictor(var, None)
    try:
        lo, _, hi = span.partition("-")
        times = list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise ValueError(f"--predictor: expected integer periods like lnincome:1980-1988, got {spec!r}") from None
    return Predictor(var, times)


def cmd_synth(a) -> int:
    from experiments.quasi.synth import synthetic_control

    outcome_guess = "cigsale" if a.data == "prop99" else a.outcome_col
    preds = [_parse_predictor(s, outcome_guess) for s in a.predictor] if a.predictor else None
    covs = sorted({p[0] for p in preds or [] if p[0] != "outcome"})
    panel, outcome = _load_panel(a, covariates=covs)
    r = synthetic_control(panel, predictors=preds, v=a.v, alpha=a.alpha, placebo=not a.no_placebo,
                          placebo_pool=a.placebo_pool, placebo_v=a.placebo_v, seed=a.seed)
    e = r.estimate
    w = r.weights[r.weights > 1e-3].sort_values(ascending=False)
    res = dict(estimate=e.to_dict(), weights=r.weights.to_dict(), v=r.v.to_dict(), pre_rmspe=r.pre_rmspe,
               post_rmspe=r.post_rmspe, ratio=r.ratio, gap=r.gap.to_dict(),
               predictors=r.predictors.reset_index().to_dict(orient="list"))
    lines = [_fmt_est(e), "donor weights: " + ", ".join(f"{k} {v:.3f}" for k, v in w.items()),
             f"pre-period RMSPE {r.pre_rmspe:.4g}, post {r.post_rmspe:.4g}, ratio {r.ratio:.3g}"]
    lines += [f"  note: {n}" for n in e.notes]
    if "placebo" in r:
        res["placebo"] = r.placebo.reset_index().astype({"unit": str}).to_dict(orient="list")
        rank = int((r.placebo.ratio >= r.ratio).sum())
        lines.append(f"in-space placebos: the treated unit's RMSPE ratio ranks {rank} of {len(r.placebo)} "
                     f"(p = {e.p_value:.3g})")
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
        j = panel.unit_index(panel.units[panel.ever_treated][0])
        t = panel.times
        ax[0].plot(t, panel.y[j], label=str(panel.units[j]))
        ax[0].plot(t, r.synthetic.to_numpy(), ls="--", label="synthetic")
        ax[0].axvline(t[panel.adoption[j]], color="grey", ls=":")
        ax[0].set_ylabel(outcome)
        ax[0].legend()
        if "placebo_gaps" in r:
            keep = r.placebo.pre_rmspe <= 5 * r.pre_rmspe
            for u, g in r.placebo_gaps[keep.to_numpy()].iterrows():
                if u != panel.units[j]:
                    ax[1].plot(t, g.to_numpy(), color="grey", lw=0.6, alpha=0.6)
        ax[1].plot(t, r.gap.to_numpy(), color="C0", lw=2, label="treated gap")
        ax[1].axhline(0, color="k", lw=0.8)
        ax[1].axvline(t[panel.adoption[j]], color="grey", ls=":")
        ax[1].set_ylabel("gap (treated - synthetic)")
        ax[1].set_title("placebos with pre-RMSPE <= 5x the treated unit's", fontsize=9)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(res, a.json, lines)
    return 0


def cmd_sdid(a) -> int:
    from experiments.quasi.sdid import sdid

    panel, _ = _load_panel(a)
    e = sdid(panel, estimator=a.estimator, inference=a.inference, reps=a.reps, alpha=a.alpha, seed=a.seed)
    om = sorted(e.extra["omega"].items(), key=lambda kv: -kv[1])
    lines = [_fmt_est(e), "unit weights: " + ", ".join(f"{k} {v:.3f}" for k, v in om if v > 1e-3)]
    if a.estimator == "sdid":
        la = [(k, v) for k, v in e.extra["lambda_"].items() if v > 1e-3]
        lines.append("time weights: " + ", ".join(f"{k} {v:.3f}" for k, v in la))
    _emit(e.to_dict(), a.json, lines)
    return 0


def _world(a):
    from experiments.quasi.rehearsal import region_world, toy_world

    if a.world == "toy":
        return toy_world()
    return region_world(campaign=a.campaign, temperature=a.temperature, seed=a.seed)


def _design(a):
    from dataclasses import fields, replace

    from experiments.quasi.rehearsal import SCENARIOS, Design

    d = replace(Design(), **SCENARIOS[a.scenario]) if getattr(a, "scenario", None) else Design()
    over = {f.name: getattr(a, f.name) for f in fields(Design) if getattr(a, f.name, None) is not None}
    return replace(d, **over).check()


def cmd_rehearse(a) -> int:
    from experiments.quasi.rehearsal import rehearse

    est = [e for e in a.estimators.split(",") if e]
    r = rehearse(_world(a), _design(a), estimators=est, reps=a.reps, alpha=a.alpha, seed=a.seed)
    lines = [f"scenario {a.scenario}: {r['design']['regions']} regions x {r['design']['weeks']} weeks, "
             f"{r['design']['treated']} treated, {r['reps']} rehearsals; true effect {r['true_att']:.4g} on a baseline of "
             f"{r['baseline']:.4g} ({r['world']})",
             f"{'estimator':>10} {'bias':>9} {'+-':>7} {'rmse':>8} {'coverage':>9} {'+-':>6} {'width':>8} {'reject 0':>9}"]
    out = {k: v for k, v in r.items() if k != "results"}
    out["results"] = {}
    for name, s in r["results"].items():
        if "skipped" in s:
            lines.append(f"{name:>10}  skipped: {s['skipped']}")
            out["results"][name] = s
            continue
        lines.append(f"{name:>10} {s['bias']:>9.4g} {s['bias_se']:>7.2g} {s['rmse']:>8.4g} {s['coverage']:>9.3f} "
                     f"{s['coverage_se']:>6.3f} {s['width']:>8.4g} {s['reject']:>9.3f}")
        out["results"][name] = {k: v for k, v in s.items() if k not in ("estimates", "std_errors", "ci", "truth")}
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        names = [n for n, s in r["results"].items() if "skipped" not in s]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        cov = [r["results"][n]["coverage"] for n in names]
        se = [2 * r["results"][n]["coverage_se"] for n in names]
        ax.errorbar(names, cov, yerr=se, fmt="o", capsize=4)
        ax.axhline(1 - a.alpha, color="k", ls="--", lw=1)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("interval coverage")
        ax.set_title(f"scenario {a.scenario}")
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(out, a.json, lines)
    return 0


def cmd_mde(a) -> int:
    from experiments.quasi.rehearsal import minimum_detectable_effect

    r = minimum_detectable_effect(_world(a), _design(a), estimator=a.estimator, alpha=a.alpha, power=a.power,
                                  reps=a.reps, seed=a.seed)
    lines = [f"{r['estimator']}: {r['regions']} regions ({r['treated']} treated from week {r['start']}), {r['weeks']} weeks: "
             f"minimum detectable effect {r['mde']:.4g} ({100 * r['mde_relative']:.2f}% of the baseline {r['baseline']:.4g}) "
             f"at alpha {r['alpha']}, power {r['power']}",
             f"  null rehearsals ({r['reps']}): sd of the estimate {r['sd0']:.4g} (+- {r['sd0_se']:.2g}); the estimator's own "
             f"intervals rejected {r['size']:.3f} (+- {r['size_se']:.3f}) of them"]
    _emit(r, a.json, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="screentest quasi", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        p.add_argument("--alpha", type=float, default=0.05)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
        p.add_argument("--plot", default=None, help="write a figure to this path")

    def data(p):
        p.add_argument("path", nargs="?", default=None, help="CSV/parquet panel, one row per unit and period")
        p.add_argument("--data", choices=["prop99"], default=None, help="the bundled Proposition 99 panel")
        p.add_argument("--unit-col", default="unit")
        p.add_argument("--time-col", default="time")
        p.add_argument("--outcome-col", default="y")
        p.add_argument("--treatment-col", default=None, help="0/1 treatment column")
        p.add_argument("--treated-units", default=None, help="comma-separated treated units (with --start)")
        p.add_argument("--start", default=None, help="first treated period (with --treated-units)")

    def world(p):
        p.add_argument("--world", choices=["simulator", "toy"], default="simulator",
                       help="member simulator fitted on OBD, or a hand-made toy world")
        p.add_argument("--campaign", choices=["all", "men", "women"], default="all")
        p.add_argument("--temperature", type=float, default=0.1, help="simulator preference sharpness")
        for name, typ in (("regions", int), ("weeks", int), ("treated", int), ("start", int), ("cohorts", int),
                          ("spacing", int), ("sessions", float), ("trend_sd", float), ("trend_gap", float),
                          ("spillover", float), ("season_amp", float), ("shock_sd", float), ("ar", float),
                          ("effect_scale", float), ("ramp_weeks", int)):
            p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None)
        p.add_argument("--reps", type=int, default=200, help="rehearsals")

    p = sub.add_parser("did", help="difference-in-differences: TWFE, event study, Callaway & Sant'Anna")
    data(p)
    p.add_argument("--method", choices=["twfe", "event", "cs"], default="twfe")
    p.add_argument("--inference", choices=["cluster", "permutation", "analytic"], default=None)
    p.add_argument("--permutations", type=int, default=999)
    p.add_argument("--leads", type=int, default=4)
    p.add_argument("--lags", type=int, default=4)
    p.add_argument("--control", choices=["never", "notyet"], default="never")
    p.add_argument("--aggregation", choices=["simple", "dynamic", "group", "calendar"], default="simple")
    common(p)
    p = sub.add_parser("synth", help="synthetic control with in-space placebo inference")
    data(p)
    p.add_argument("--predictor", action="append", default=None,
                   help="VAR[:FROM-TO] mean of a column over periods (repeat); default: every pre-period outcome")
    p.add_argument("--v", choices=["optimize", "equal"], default="optimize")
    p.add_argument("--placebo-pool", choices=["controls", "all"], default="controls",
                   help="placebo donors: the other controls (ADH) or all other units (exact permutation test)")
    p.add_argument("--placebo-v", choices=["refit", "same"], default="refit")
    p.add_argument("--no-placebo", action="store_true")
    common(p)
    p = sub.add_parser("sdid", help="synthetic difference-in-differences (block designs)")
    data(p)
    p.add_argument("--estimator", choices=["sdid", "sc", "did"], default="sdid")
    p.add_argument("--inference", choices=["placebo", "jackknife", "none"], default="placebo")
    p.add_argument("--reps", type=int, default=200)
    common(p)
    p = sub.add_parser("rehearse", help="bias, RMSE and coverage of each estimator over simulated regional rollouts")
    p.add_argument("--scenario", choices=["holds", "holds_half", "staggered", "trends", "spillover", "one_treated"],
                   default="holds")
    p.add_argument("--estimators", default="twfe,twfe_ri,cs,sdid,sc", help="comma-separated, among twfe, twfe_ri, "
                   "cs, cs_ri, sdid, sc")
    world(p)
    common(p)
    p = sub.add_parser("mde", help="minimum detectable effect of a regional design (null rehearsals)")
    p.add_argument("--estimator", default="twfe", choices=["twfe", "twfe_ri", "cs", "cs_ri", "sdid", "sc"])
    p.add_argument("--power", type=float, default=0.8)
    world(p)
    common(p)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return {"did": cmd_did, "synth": cmd_synth, "sdid": cmd_sdid, "rehearse": cmd_rehearse, "mde": cmd_mde}[a.cmd](a)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"screentest quasi {a.cmd}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
