"""``screentest calibrate``: build the OBD member simulator and run the sim-to-real check.

Fits the click model on the Open Bandit Dataset's uniform-random logs (bundled sample, or the
full dataset with ``--data-path``), prints the held-out calibration report (log-loss, AUC,
reliability bins) and the sim-to-real check (simulated vs logged click rates of uniform random and
of Bernoulli TS with the site prior, whose logs the simulator never saw), and writes a two-panel
PNG (rates with intervals; reliability curve) plus a JSON file of the numbers.

Exit status: 0 when the check passes, 3 when it fails (so CI can gate on it), 2 on a bad
argument or file (one line naming it, before any work), 1 when the run itself fails, 130 when
interrupted. The JSON file holds ``null`` where a number is undefined (never ``NaN``, which is not
JSON).

    screentest calibrate [--campaign all] [--item-prior none|site] [--calibration platt|isotonic]
                         [--penalties MAIN,INTERACTION] [--members 200] [--horizon 1000]
                         [--bts-seeds 16] [--bts-rounds N] [--bts-sim 100000] [--seed 0]
                         [--policy-check none|single|slate|both] [--policy-seeds 100]
                         [--policy-horizon 1500] [--out screentest-results/calibrate] [--no-plot]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

from experiments.clierrors import OneLineParser, UsageError, check_output_dir, fail, print_warnings

__all__ = ["main", "EXIT_CHECK_FAILED", "json_safe"]

#: exit code when the sim-to-real check ran and failed (distinct from a crash, 1, and bad usage, 2)
EXIT_CHECK_FAILED = 3


def json_safe(obj):
    """``obj`` with every non-finite float (NaN, inf) replaced by None, numpy scalars and arrays
    made plain, so ``json.dumps(..., allow_nan=False)`` writes valid JSON."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _penalties(s: str | None):
    if s is None:
        return None
    try:
        a, b = (float(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--penalties: expected two numbers 'MAIN,INTERACTION', got {s!r}") from None
    if a <= 0 or b <= 0:
        raise argparse.ArgumentTypeError(f"--penalties: expected positive numbers, got {s!r}")
    return (a, b)


def _policy_check(data, a):
    """LinUCB / LinTS vs uniform random, paired over seeds, in the site-prior simulator."""
    import pandas as pd

    from bandits.policies import make
    from bandits.policies.random import uniform_slate_policy
    from envs.logged import fit_member_simulator, obd_site_item_prior
    from experiments.sim2real import policy_margins

    frames = []
    modes = ("single", "slate") if a.policy_check == "both" else (a.policy_check,)
    for mode in modes:
        sim = fit_member_simulator(data, penalties=a.penalties or (300.0, 3000.0), seed=a.seed,
                                   item_prior_mean=obd_site_item_prior(a.campaign), add_intercept=True,
                                   len_list=1 if mode == "single" else None)
        env = sim.env
        K, d = env.num_actions, env.context_dim
        if mode == "single":
            lu = make("linucb", num_actions=K, context_dim=d)
            lt = make("lints", num_actions=K, context_dim=d, num_samples=1)
            pols = {"random": (make("random", num_actions=K, context_dim=d), None),
                    "linucb(alpha=0.03)": (lu, lu.hparams(alpha=0.03)), "lints(v=0.03)": (lt, lt.hparams(v=0.03))}
        else:
            L = env.len_list
            lu = make("slate_linucb", num_actions=K, context_dim=d, len_list=L)
            lt = make("slate_lints", num_actions=K, context_dim=d, len_list=L, n_mc=1)
            pols = {"random": (uniform_slate_policy(K, L, d), None),
                    "slate_linucb(alpha=0.03)": (lu, lu.hparams(alpha=0.03)),
                    "slate_lints(nu=0.03)": (lt, lt.hparams(nu=0.03))}
        df = policy_margins(env, pols, n_seeds=a.policy_seeds, horizon=a.policy_horizon, seed=a.seed)
        df.insert(0, "mode", mode)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(prog="screentest calibrate",
                       description="Fit the OBD member simulator and run the sim-to-real check.")
    ap.add_argument("--campaign", default="all", choices=("all", "men", "women"))
    ap.add_argument("--data-path", default=None, help="root of the full OBD layout (default: bundled sample)")
    ap.add_argument("--item-prior", default="none", choices=("none", "site"),
                    help="'site': shrink item effects toward ZOZOTOWN's prior (external knowledge)")
    ap.add_argument("--calibration", default="platt", choices=("platt", "isotonic", "none"))
    ap.add_argument("--penalties", type=_penalties, default=None,
                    help="fix the L2 strengths MAIN,INTERACTION (skips the cross-validated search)")
    ap.add_argument("--members", type=int, default=200, help="simulated members for uniform random")
    ap.add_argument("--horizon", type=int, default=1000, help="rounds per simulated member")
    ap.add_argument("--bts-seeds", type=int, default=16, help="independent online BTS runs")
    ap.add_argument("--bts-sim", type=int, default=100_000,
                    help="Monte Carlo draws for the frozen site prior's slot marginals")
    ap.add_argument("--bts-rounds", type=int, default=None,
                    help="slate rounds per BTS run (default: the BTS logs' rows / 3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="screentest-results/calibrate", help="directory for the PNG and JSON")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--policy-check", choices=("none", "single", "slate", "both"), default="none",
                    help="also compare LinUCB/LinTS with uniform random in the simulator fitted with the site "
                         "item prior (single-slot: linucb/lints; slate: slate_linucb/slate_lints)")
    ap.add_argument("--policy-seeds", type=int, default=100)
    ap.add_argument("--policy-horizon", type=int, default=1500)
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on errors, 0 on --help
        return int(e.code or 0)
    prog = "screentest calibrate"
    try:
        _check_args(a)
    except UsageError as e:
        return fail(prog, str(e))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            code = _run(a)
        except UsageError as e:
            print_warnings(prog, caught)
            return fail(prog, str(e))
    print_warnings(prog, caught)
    return code


def _check_args(a) -> None:
    """Every option and file, before any work; :class:`UsageError` naming the option."""
    for name in ("members", "horizon", "bts_seeds", "bts_rounds", "bts_sim", "policy_seeds", "policy_horizon"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(a, name)}")
    if a.data_path is not None:
        root = Path(a.data_path)
        if not root.is_dir():
            what = "no such directory" if not root.exists() else "expected a directory, got a file"
            raise UsageError(f"--data-path: {what}: {a.data_path!r} (the OBD layout "
                             f"<data-path>/<behavior_policy>/<campaign>/<campaign>.csv)")
        for behavior in ("random", "bts"):
            folder = root / behavior / a.campaign
            if not any((folder / f"{a.campaign}{ext}").is_file() for ext in (".csv", ".csv.gz")):
                raise UsageError(f"--data-path: expected {str(folder / (a.campaign + '.csv'))!r} (or .csv.gz) in the "
                                 f"OBD layout, not found")
    check_output_dir("--out", a.out)


def _run(a) -> int:
    from bandits.datasets import load_obd
    from experiments.sim2real import plot_sim_to_real, sim_to_real

    t0 = time.perf_counter()
    try:
        dr = load_obd("random", a.campaign, a.data_path)
        db = load_obd("bts", a.campaign, a.data_path)
    except (OSError, ValueError, KeyError) as e:  # a malformed file in the layout (pyarrow's errors among these)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--data-path: cannot read the OBD logs: {msg}") from None
    res, sim = sim_to_real(a.campaign, item_prior=a.item_prior, n_members=a.members, horizon=a.horizon,
                           n_bts_seeds=a.bts_seeds, bts_rounds=a.bts_rounds, n_bts_sim=a.bts_sim, seed=a.seed, data_random=dr, data_bts=db,
                           calibration=a.calibration, penalties=a.penalties)
    print(sim.report.to_text())
    print()
    print(res.to_text())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"sim_to_real": res.to_dict(), "calibration": sim.report.to_dict(),
               "elapsed_s": time.perf_counter() - t0}
    (out / "calibrate.json").write_text(json.dumps(json_safe(payload), indent=1, allow_nan=False,
                                                          default=lambda o: json_safe(float(o))))
    written = [out / "calibrate.json"]
    if not a.no_plot:
        plot_sim_to_real(res, sim.report, out / "calibrate.png")
        written.append(out / "calibrate.png")
    if a.policy_check != "none":
        margins = _policy_check(dr, a)
        print()
        print(margins.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        margins.to_csv(out / "policy_margins.csv", index=False)
        written.append(out / "policy_margins.csv")
    print("wrote " + ", ".join(str(p) for p in written) + f" ({time.perf_counter() - t0:.1f}s)")
    if not res.ok:
        print("screentest calibrate: the sim-to-real check failed (exit 3)", file=sys.stderr)
    return 0 if res.ok else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(main())
