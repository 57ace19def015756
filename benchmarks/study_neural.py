"""Study: neural vs linear contextual bandits on real and synthetic data (Riquelme et al. 2018's question).

Riquelme, Tucker & Snoek ("Deep Bayesian Bandits Showdown", ICLR 2018) found neural-linear Thompson
sampling competitive with or better than linear Thompson sampling where the reward is a non-linear
function of the context, and no better where it is linear. This study asks the same question of
screentest's policies (:mod:`bandits.policies.neural`) in these worlds:

* ``circles`` (non-linear): scikit-learn's ``make_circles`` (2,000 points, ``factor=0.5``,
  ``noise=0.05``) as a supervised world (:mod:`envs.supervised`): the class (arm) is decided by the
  radius, which no linear function of ``(x, 1)`` represents;
* ``linear``: ``envs.synthetic.linear_gaussian`` (K = 5, d = 5, noise sd 0.1), a new random world
  per seed (``envs.synthetic.sample_params``);
* the supervised worlds of scikit-learn's bundled datasets ``iris``, ``wine``, ``breast_cancer``,
  ``digits`` (standardised features plus an intercept column; reward 1 for the right class);
* ``member``: the member simulator fitted on the bundled Open Bandit Dataset sample (80 items,
  single slot, an intercept appended), the project's real-data world.

Policies (every one with its default static sizes): LinTS and neural-linear TS at the same
posterior scale ``v``, LinUCB and neural-linear UCB at the same ``alpha`` (each over a grid of two
values, run in the same compiled call), neural epsilon-greedy (``epsilon = 0.05``) and diagonal
NeuralUCB (``alpha = 0.1``). All policies meet the same members (common random numbers: a seed's
contexts and reward noise are the same for every policy), so differences are paired by seed.

Output (one JSON line): per world and policy/grid point, the mean cumulative regret after
``horizon`` rounds with a 95% normal interval over seeds; per world and grid value, the paired
differences neural-linear TS minus LinTS and neural-linear UCB minus LinUCB with 95% intervals
(negative = the neural policy has less regret). ``--figure`` draws the mean cumulative regret
curves (at log-spaced checkpoints) of every world.

    python -m benchmarks.study_neural --seeds 30 --horizon 2000 --figure docs/figures/neural_regret.png
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bandits.engine.sweep import sweep
from bandits.policies import make

WORLDS = ("circles", "linear", "iris", "wine", "breast_cancer", "digits", "member")
TS_V = (0.03, 0.1)
UCB_ALPHA = (0.03, 0.1)


def build_world(name: str):
    """``(env, env_params, kind)`` of a world named in :data:`WORLDS`."""
    if name == "circles":
        from sklearn.datasets import make_circles

        from envs.supervised import supervised_env_from_arrays

        X, y = make_circles(2000, factor=0.5, noise=0.05, random_state=0)
        return supervised_env_from_arrays(X, y, name="circles", intercept=True), None, "non-linear"
    if name == "linear":
        from envs.synthetic import linear_gaussian, sample_params

        env = linear_gaussian(num_actions=5, context_dim=5, noise_sd=0.1)
        return env, (lambda key: sample_params(env, key)), "linear"
    if name == "member":
        from bandits.datasets import load_obd
        from envs.logged import fit_member_simulator

        sim = fit_member_simulator(load_obd("random", "all"), len_list=1, add_intercept=True, seed=0)
        return sim.env, None, "real (logged clicks)"
    from envs.supervised import supervised_env

    return supervised_env(name, intercept=True), None, "real (classification)"


POLICIES = ("lints", "neural_linear_ts", "linucb", "neural_linear_ucb", "neural_epsilon_greedy", "neural_ucb")


def policies(K: int, d: int, names=POLICIES) -> tuple[dict, dict]:
    """``(label -> Policy, label -> grid)`` for the policies ``names`` (a subset of :data:`POLICIES`)."""
    grid = {"lints": {"v": list(TS_V)}, "neural_linear_ts": {"v": list(TS_V)},
            "linucb": {"alpha": list(UCB_ALPHA)}, "neural_linear_ucb": {"alpha": list(UCB_ALPHA)},
            "neural_epsilon_greedy": {"epsilon": [0.05]}, "neural_ucb": {"alpha": [0.1]}}
    return {n: make(n, num_actions=K, context_dim=d) for n in names}, {n: grid[n] for n in names}


def ci(x) -> dict:
    x = np.asarray(x, np.float64)
    m, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))
    return {"mean": round(m, 4), "ci95": [round(m - 1.96 * se, 4), round(m + 1.96 * se, 4)]}


def _knob(row) -> float:
    for k in ("v", "alpha", "epsilon"):
        if k in row and np.isfinite(row[k]):
            return float(row[k])
    raise ValueError("no exploration knob in the row")


def run_world(name: str, seeds: int, horizon: int, chunk: int, names=POLICIES):
    env, params, kind = build_world(name)
    pols, grid = policies(env.num_actions, env.context_dim, names)
    t0 = time.time()
    df = sweep(env, pols, seeds, grid=grid, horizon=horizon, env_params=params, checkpoints="log",
               chunk_size=chunk)
    df["knob"] = [_knob(r) for _, r in df.iterrows()]
    res = {"kind": kind, "num_actions": env.num_actions, "context_dim": env.context_dim,
           "seconds": round(time.time() - t0, 1), "regret": {}, "paired": {}}
    for (pol, knob), g in df.groupby(["policy", "knob"]):
        res["regret"][f"{pol}@{knob:g}"] = ci(g.sort_values("seed").cum_regret)
    for lin, neu, knobs in (("lints", "neural_linear_ts", TS_V), ("linucb", "neural_linear_ucb", UCB_ALPHA)):
        for k in knobs if lin in pols and neu in pols else ():
            a = df[(df.policy == neu) & (df.knob == k)].sort_values("seed").cum_regret.to_numpy()
            b = df[(df.policy == lin) & (df.knob == k)].sort_values("seed").cum_regret.to_numpy()
            res["paired"][f"{neu}-{lin}@{k:g}"] = ci(a - b)
    ck = [c for c in df.columns if c.startswith("regret@")]
    curves = {f"{pol}@{knob:g}": g[ck].mean().to_numpy() for (pol, knob), g in df.groupby(["policy", "knob"])}
    return res, ([int(c.split("@")[1]) for c in ck], curves)


def figure(path: str, curves: dict, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curves)
    cols = 4
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    style = {"lints": ("C0", "-"), "neural_linear_ts": ("C3", "-"), "linucb": ("C0", "--"),
             "neural_linear_ucb": ("C3", "--"), "neural_epsilon_greedy": ("C2", ":"), "neural_ucb": ("C1", ":")}
    for ax, (world, (ts, cur)) in zip(axes.flat, curves.items(), strict=False):
        for label, y in cur.items():
            pol, knob = label.split("@")
            if pol in ("lints", "neural_linear_ts", "linucb", "neural_linear_ucb") and float(knob) != TS_V[0]:
                continue  # one grid value per pair keeps the panel readable (all values are in the JSON)
            color, ls = style[pol]
            ax.plot(ts, y, color=color, ls=ls, label=label)
        ax.set_xscale("log")
        ax.set_title(world, fontsize=9)
        ax.set_xlabel("round")
        ax.set_ylabel("cumulative regret")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"mean cumulative regret over {seeds} seeds (common random numbers)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--horizon", type=int, default=2000)
    ap.add_argument("--worlds", default=",".join(WORLDS))
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--chunk", type=int, default=None, help="members per compiled call (default: all)")
    ap.add_argument("--figure", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    out = {"study": "neural", "seeds": args.seeds, "horizon": args.horizon, "worlds": {}}
    curves = {}
    names = tuple(args.policies.split(","))
    if not set(names) <= set(POLICIES):
        raise SystemExit(f"--policies: expected names from {list(POLICIES)}, got {args.policies!r}")
    for w in args.worlds.split(","):
        if w not in WORLDS:
            raise SystemExit(f"--worlds: expected names from {list(WORLDS)}, got {w!r}")
        chunk = args.chunk or args.seeds  # one grid value per call: no padding members
        out["worlds"][w], curves[w] = run_world(w, args.seeds, args.horizon, chunk, names)
    out["seconds"] = round(time.time() - t0, 1)
    if args.figure:
        figure(args.figure, curves, args.seeds)
        out["figure"] = args.figure
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
