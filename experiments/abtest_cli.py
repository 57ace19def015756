"""``screentest abtest``: plan, rehearse and analyse A/B tests (see docs/abtest.md).

    screentest abtest plan --mde 0.2 --sd 1 [--alpha 0.05 --power 0.8 --traffic 5000] [--plot plan.png]
    screentest abtest plan --mde 0.01 --baseline 0.1 --metric binary
    screentest abtest aa [--tests 1000 --n 1000 --looks 50 --metric continuous] [--plot aa.png]
    screentest abtest power --mde 0.2 --sd 1 [--tests 1000] [--plot power.png]
    screentest abtest analyze results.csv --group-col group --metric-col y [--covariate-col x_pre]
                              [--order-col ts --looks 20 --bootstrap 1000] [--plot analysis.png]
    screentest abtest rehearse [--campaign all --sessions 20 --reps 300] [--plot rehearsal.png]

Every subcommand prints a short table and, with ``--json``, one JSON line. ``--plot PATH`` writes
a figure (PNG/PDF/SVG by extension).

Exit codes (:mod:`experiments.clierrors`): 0 done; 2 a bad option or file, or a sample too small
for the method (one line naming the option, before any work); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings

import numpy as np

from experiments.clierrors import (
    OneLineParser,
    UsageError,
    check_input_file,
    check_output_file,
    fail,
    print_warnings,
)

# the library's argument names -> this command's options (errors name what the user typed)
_FLAGS = {"sd": "--sd", "baseline": "--baseline", "mde": "--mde", "tau": "--tau", "batch": "--batch",
          "alpha": "--alpha", "power": "--power", "traffic": "--traffic", "n_per_group": "--n", "n_tests": "--tests",
          "looks": "--looks", "rate": "--rate", "metric": "--metric", "B": "--bootstrap", "sessions": "--sessions",
          "reps": "--reps", "temperature": "--temperature", "activity_sigma": "--activity-sigma",
          "max_members": "--max-members", "campaign": "--campaign"}


def _plot_path(p: str | None):
    if not p:
        return None
    import matplotlib

    matplotlib.use("Agg")
    return p


def _emit(result: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))
    else:
        print("\n".join(lines))


def _plan_kw(a) -> dict:
    return dict(sd=a.sd, baseline=a.baseline, alpha=a.alpha, power=a.power, metric=a.metric)


def cmd_plan(a) -> int:
    from experiments.abtest.planning import (
        fixed_sample_size,
        plan_sequential,
        sequential_operating_characteristics,
    )

    fixed = fixed_sample_size(a.mde, traffic=a.traffic, **_plan_kw(a))
    seq = plan_sequential(a.mde, tau=a.tau, batch=a.batch, **_plan_kw(a))
    res = dict(fixed=fixed.to_dict(), sequential=seq.to_dict())
    days = (lambda n: f" ({2 * n / a.traffic:.1f} days)") if a.traffic else (lambda n: "")
    lines = [
        f"fixed horizon: {fixed.n_per_group} members per group, {fixed.n_total} in all{days(fixed.n_per_group)}; "
        f"power {fixed.power:.3f} at mde {a.mde} (alpha {a.alpha})",
        f"sequential (mSPRT, tau {seq.tau:g}, look every {seq.batch} per group): at most {seq.n_max_per_group} per group"
        f"{days(seq.n_max_per_group)}; power {seq.power:.3f};",
        f"  expected members per group at stopping: {seq.expected_n_per_group:.0f} if the effect is the mde "
        f"({seq.expected_n_per_group / fixed.n_per_group:.2f}x fixed), {seq.expected_n_per_group_null:.0f} if there is none",
    ]
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        looks = seq.batch * np.arange(1, seq.n_max_per_group // seq.batch + 1)
        sdd = _sd_diff(a)
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for mult in (0.5, 1.0, 1.5, 2.0):
            oc = sequential_operating_characteristics(mult * a.mde, sdd, looks, alpha=a.alpha, tau=seq.tau)
            ax.plot(looks, oc["reject_upper"] if a.mde > 0 else oc["reject_lower"], label=f"mSPRT, effect {mult:g} x mde")
        ax.axvline(fixed.n_per_group, color="k", ls="--", lw=1, label=f"fixed horizon n = {fixed.n_per_group}")
        ax.axhline(a.power, color="grey", ls=":", lw=1)
        ax.set_xlabel("members per group")
        ax.set_ylabel("P(stopped with the correct decision)")
        ax.set_title("Sequential design: probability of a decision by sample size")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(res, a.json, lines)
    return 0


def _sd_diff(a) -> float:
    if a.metric == "binary":
        pa, pb = a.baseline, a.baseline + a.mde
        return float(np.sqrt(pa * (1 - pa) + pb * (1 - pb)))
    return float(np.sqrt(2) * a.sd)


def cmd_aa(a) -> int:
    from experiments.abtest.studies import aa_peeking_study

    r = aa_peeking_study(a.tests, a.n, a.looks, alpha=a.alpha, metric=a.metric, rate=a.rate, seed=a.seed)
    lines = [
        f"{r['n_tests']} A/A tests, {r['n_per_group']} members per group, {r['looks']} looks, alpha {r['alpha']}:",
        f"  naive peeking (z-test at every look): {r['naive_any_look']:.3f} rejected (+- {r['naive_se']:.3f})",
        f"  fixed horizon (one look at the end):  {r['fixed_horizon']:.3f} (+- {r['fixed_se']:.3f})",
        f"  mSPRT (always valid):                 {r['msprt']:.3f} (+- {r['msprt_se']:.3f})",
    ]
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.5, 4))
        ax.plot(r["looks_n"], r["naive_by_look"], label="naive peeking")
        ax.plot(r["looks_n"], r["msprt_by_look"], label="mSPRT")
        ax.axhline(a.alpha, color="k", ls="--", lw=1, label=f"alpha = {a.alpha}")
        ax.set_xlabel("members per group")
        ax.set_ylabel("share of A/A tests rejected so far")
        ax.set_title(f"{r['n_tests']} A/A tests with continuous peeking")
        ax.legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(r, a.json, lines)
    return 0


def cmd_power(a) -> int:
    from experiments.abtest.planning import plan_sequential
    from experiments.abtest.studies import power_study

    plan = plan_sequential(a.mde, tau=a.tau, batch=a.batch, **_plan_kw(a))
    rows = []
    for mult in (0.5, 1.0, 1.5, 2.0):
        r = power_study(plan, n_tests=a.tests, effect=mult * a.mde, sd=a.sd or 1.0, baseline=a.baseline, seed=a.seed)
        rows.append(dict(effect=mult * a.mde, **{k: r[k] for k in ("power", "power_se", "wrong_sign",
                                                                  "mean_n_per_group", "fixed_power")}))
    lines = [f"plan: n_max {plan.n_max_per_group} per group, planned power {plan.power:.3f} at mde {a.mde}, "
             f"expected n {plan.expected_n_per_group:.0f} vs fixed {plan.fixed_n_per_group}",
             f"{'effect':>10} {'power':>7} {'+-':>6} {'wrong':>6} {'mean n':>8} {'fixed power':>11}"]
    for r in rows:
        lines.append(f"{r['effect']:>10.4g} {r['power']:>7.3f} {r['power_se']:>6.3f} {r['wrong_sign']:>6.3f} "
                     f"{r['mean_n_per_group']:>8.0f} {r['fixed_power']:>11.3f}")
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
        eff = [r["effect"] for r in rows]
        ax[0].errorbar(eff, [r["power"] for r in rows], yerr=[2 * r["power_se"] for r in rows], marker="o", label="mSPRT")
        ax[0].plot(eff, [r["fixed_power"] for r in rows], marker="s", label="fixed horizon")
        ax[0].set_xlabel("true effect")
        ax[0].set_ylabel("power")
        ax[0].legend()
        ax[1].plot(eff, [r["mean_n_per_group"] for r in rows], marker="o", label="mSPRT mean n at stop")
        ax[1].axhline(plan.fixed_n_per_group, color="k", ls="--", label="fixed-horizon n")
        ax[1].set_xlabel("true effect")
        ax[1].set_ylabel("members per group")
        ax[1].legend()
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(dict(plan=plan.to_dict(), rows=rows), a.json, lines)
    return 0


def _read_table(path: str):
    import pandas as pd

    p = check_input_file("path", path)
    parquet = p.suffix in (".parquet", ".pq")
    try:
        return pd.read_parquet(p) if parquet else pd.read_csv(p)
    except Exception as e:  # pyarrow/pandas parse errors have many types; all mean a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"path: cannot read {path!r} as {'parquet' if parquet else 'CSV'}: {first}") from None


def cmd_analyze(a) -> int:
    from experiments.abtest.bootstrap import bootstrap_diff
    from experiments.abtest.cuped import cuped_test
    from experiments.abtest.sequential import msprt_test

    df = _read_table(a.path)
    for arg, col in (("--group-col", a.group_col), ("--metric-col", a.metric_col), ("--covariate-col", a.covariate_col),
                     ("--order-col", a.order_col)):
        if col is not None and col not in df.columns:
            raise UsageError(f"{arg}: column {col!r} not found; columns are {list(df.columns)[:20]}")
    for arg, col in (("--metric-col", a.metric_col), ("--covariate-col", a.covariate_col)):
        if col is not None and not (np.issubdtype(df[col].dtype, np.number) or df[col].dtype == bool):
            raise UsageError(f"{arg}: expected a numeric column, column {col!r} has dtype {df[col].dtype}")
    if a.order_col:
        df = df.sort_values(a.order_col, kind="stable")
    groups = list(pd_unique(df[a.group_col]))
    if a.control is not None:
        control = a.control
    else:
        control = sorted(groups, key=str)[0]
    if len(groups) != 2 or control not in groups:
        raise ValueError(f"--group-col: expected exactly two groups including control {control!r}, got {groups}")
    treat = [g for g in groups if g != control][0]
    ga, gb = df[df[a.group_col] == control], df[df[a.group_col] == treat]
    ya, yb = ga[a.metric_col].to_numpy(float), gb[a.metric_col].to_numpy(float)
    seq = msprt_test(ya, yb, alpha=a.alpha, tau=a.tau, looks=a.looks, metric=a.metric)
    res = dict(control=str(control), treatment=str(treat), msprt=seq.summary())
    s = seq.summary()
    lines = [f"{treat} vs {control}: {len(ya)} + {len(yb)} members, metric {seq.metric}",
             f"  difference {s['estimate']:.6g}; always-valid p {s['p_value']:.4g}; "
             f"{100 * (1 - a.alpha):.0f}% confidence sequence [{s['ci_low']:.6g}, {s['ci_high']:.6g}]; "
             + (f"stopped at look {s['stop_look']} ({s['stop_n']} members)" if s["rejected"] else "no decision yet")]
    if a.covariate_col:
        c = cuped_test(ya, ga[a.covariate_col].to_numpy(float), yb, gb[a.covariate_col].to_numpy(float), alpha=a.alpha)
        res["cuped"] = c.to_dict()
        lines.append(f"  CUPED: difference {c.estimate:.6g} +- {c.std_error:.3g} (raw +- {c.raw_std_error:.3g}); "
                     f"variance factor {c.variance_factor:.3f} (rho {c.rho:.3f}); p {c.p_value:.4g}")
    if a.bootstrap:
        b = bootstrap_diff(ya, yb, B=a.bootstrap, alpha=a.alpha, seed=a.seed)
        res["bootstrap"] = dict(estimate=b.estimate, ci_low=b.ci_low, ci_high=b.ci_high, std_error=b.std_error, B=b.B)
        lines.append(f"  Poisson bootstrap (B={b.B}): [{b.ci_low:.6g}, {b.ci_high:.6g}]")
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        n = seq.n_a + seq.n_b
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
        ax[0].plot(n, seq.estimate, label="difference")
        ax[0].fill_between(n, np.maximum(seq.ci_low, -1e300), np.minimum(seq.ci_high, 1e300), alpha=0.3,
                           label="confidence sequence")
        ax[0].axhline(0, color="k", lw=0.8)
        ax[0].set_xlabel("members")
        ax[0].set_ylabel(f"difference ({treat} - {control})")
        ax[0].legend(fontsize=8)
        ax[1].semilogy(n, seq.p_value)
        ax[1].axhline(a.alpha, color="k", ls="--", lw=1)
        ax[1].set_xlabel("members")
        ax[1].set_ylabel("always-valid p-value")
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(res, a.json, lines)
    return 0


def pd_unique(s):
    import pandas as pd

    return pd.unique(s)


def cmd_rehearse(a) -> int:
    from experiments.abtest.interleaving import rehearse_obd

    r = rehearse_obd(campaign=a.campaign, temperature=a.temperature, sessions=a.sessions, reps=a.reps, alpha=a.alpha,
                     power=a.power, seed=a.seed, activity_sigma=a.activity_sigma, max_members=a.max_members)

    def rates(k):
        if r[f"{k}_power"] is None:
            return f"not rehearsed (over --max-members {a.max_members})"
        return (f"rehearsed power {r[f'{k}_power']:.3f} (+- {r[f'{k}_power_se']:.3f}), "
                f"A/A false positives {r[f'{k}_fpr']:.3f} (+- {r[f'{k}_fpr_se']:.3f}), {r['reps']} tests each")

    lines = [
        f"member simulator (OBD {a.campaign}, temperature {a.temperature}): A = {r['ranker_a']}, B = {r['ranker_b']}; "
        f"{a.sessions:g} sessions per member on average (lognormal activity spread {a.activity_sigma:g})",
        f"  clicks per member: A {r['moments']['ab_mean_a']:.4f}, B {r['moments']['ab_mean_b']:.4f}; "
        f"interleaving credit A - B {r['moments']['il_mean']:.5f}",
        f"  A/B test:     {r['ab_members']:.0f} members (both groups) for {100 * a.power:.0f}% power; {rates('ab')}",
        f"  interleaving: {r['il_members']:.0f} members; {rates('il')}",
        f"  interleaving needs {r['ratio']:.1f}x fewer members",
    ]
    if _plot_path(a.plot):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.bar(["A/B", "interleaving"], [r["ab_members"], r["il_members"]], color=["C0", "C1"])
        ax.set_yscale("log")
        ax.set_ylabel(f"members for {100 * a.power:.0f}% power")
        ax.set_title(f"Interleaving needs {r['ratio']:.1f}x fewer members")
        fig.tight_layout()
        fig.savefig(a.plot, dpi=120)
        lines.append(f"plot: {a.plot}")
    _emit(r, a.json, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="screentest abtest", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=OneLineParser)

    def common(p):
        p.add_argument("--alpha", type=float, default=0.05)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
        p.add_argument("--plot", default=None, help="write a figure to this path")

    def design(p):
        p.add_argument("--mde", type=float, required=True, help="minimum detectable effect (absolute, b minus a)")
        p.add_argument("--sd", type=float, default=None, help="metric standard deviation (continuous)")
        p.add_argument("--baseline", type=float, default=None, help="control rate (binary)")
        p.add_argument("--metric", choices=["continuous", "binary"], default=None)
        p.add_argument("--power", type=float, default=0.8)
        p.add_argument("--tau", type=float, default=None, help="mSPRT mixture scale (default: |mde|)")
        p.add_argument("--batch", type=int, default=None, help="members per group between looks")

    p = sub.add_parser("plan", help="fixed-horizon and sequential sample sizes")
    design(p)
    p.add_argument("--traffic", type=float, default=None, help="members per day entering the test")
    common(p)
    p = sub.add_parser("aa", help="A/A peeking study: naive peeking vs mSPRT")
    p.add_argument("--tests", type=int, default=1000)
    p.add_argument("--n", type=int, default=1000, help="members per group")
    p.add_argument("--looks", type=int, default=50)
    p.add_argument("--metric", choices=["continuous", "binary"], default="continuous")
    p.add_argument("--rate", type=float, default=0.1, help="click rate for --metric binary")
    common(p)
    p = sub.add_parser("power", help="power and members used by the sequential test at several effects")
    design(p)
    p.add_argument("--tests", type=int, default=1000)
    common(p)
    p = sub.add_parser("analyze", help="analyse a finished or running test from a CSV/parquet file")
    p.add_argument("path")
    p.add_argument("--group-col", default="group")
    p.add_argument("--metric-col", default="y")
    p.add_argument("--covariate-col", default=None, help="pre-period covariate for CUPED")
    p.add_argument("--order-col", default=None, help="arrival order (default: file order)")
    p.add_argument("--control", default=None, help="control group label (default: the first label sorted)")
    p.add_argument("--looks", type=int, default=20)
    p.add_argument("--metric", choices=["auto", "continuous", "binary"], default="auto")
    p.add_argument("--tau", type=float, default=None)
    p.add_argument("--bootstrap", type=int, default=0, help="B replicates of the Poisson bootstrap (0 = none)")
    common(p)
    p = sub.add_parser("rehearse", help="A/B vs interleaving of two rankers in the OBD member simulator")
    p.add_argument("--campaign", default="all", choices=["all", "men", "women"])
    p.add_argument("--temperature", type=float, default=0.1, help="simulator preference sharpness (< 1 sharper)")
    p.add_argument("--sessions", type=float, default=50.0, help="mean sessions (slates) per member")
    p.add_argument("--activity-sigma", type=float, default=1.5, help="lognormal spread of member activity")
    p.add_argument("--reps", type=int, default=100, help="rehearsed tests per design")
    p.add_argument("--max-members", type=int, default=200_000, help="rehearse only designs up to this size")
    p.add_argument("--power", type=float, default=0.8)
    common(p)
    return ap


def _as_option(message: str) -> str:
    """A library message ``name: ...`` with ``name`` replaced by the option that sets it."""
    m = re.match(r"^([A-Za-z_]+)(:|,)", message)
    if m and m.group(1) in _FLAGS:
        return _FLAGS[m.group(1)] + message[len(m.group(1)):]
    return message


def main(argv: list[str] | None = None) -> int:
    """Exit 0 done, 2 a bad option, file or too small a sample (one line), 130 interrupted."""
    ap = build_parser()
    try:
        a = ap.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return 0 if e.code in (0, None) else 2
    prog = f"screentest abtest {a.cmd}"
    if getattr(a, "metric", None) is None and a.cmd in ("plan", "power"):
        a.metric = "binary" if a.baseline is not None else "continuous"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            if getattr(a, "plot", None):
                check_output_file("--plot", a.plot)
            for name in ("tests", "n", "looks", "reps", "bootstrap"):
                v = getattr(a, name, None)
                if v is not None and v < (0 if name == "bootstrap" else 1):
                    raise UsageError(f"--{name}: expected an integer >= {0 if name == 'bootstrap' else 1}, got {v}")
            code = {"plan": cmd_plan, "aa": cmd_aa, "power": cmd_power, "analyze": cmd_analyze,
                    "rehearse": cmd_rehearse}[a.cmd](a)
        except (ValueError, KeyError, FileNotFoundError, TypeError) as e:
            print_warnings(prog, caught)
            return fail(prog, _as_option(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)))
    print_warnings(prog, caught)
    return code


if __name__ == "__main__":
    sys.exit(main())
