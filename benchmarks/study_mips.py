"""Study: IPW's variance grows with the catalog; MIPS over item categories does not (Saito & Joachims 2022).

World: the logistic-Bernoulli simulator of ``envs.synthetic`` with ``K`` items in ``C`` categories
whose items share one reward function (``theta``, ``bias`` per category: the reward depends on the
item only through its category, MIPS's assumption), contexts from ``envs.synthetic.sample_context``
(``d`` = 5, uniform on the sphere). The logger and the target are softmax policies over items,
``softmax(beta * mu(x, a) + g_a)`` with per-item offsets ``g`` (N(0, 1) for the logger, N(0, 2^2) for
the target, so items within a category are
logged with very different probabilities) and ``beta_b = 1``, ``beta_e = 6`` (the target leans on
the best categories). The truth is the target's exact expected reward under the simulator's
``mu(x, a)``, averaged over 200,000 contexts (its Monte-Carlo SE is printed).

For each catalog size ``K`` (``--ks``, default 100 to 5,000 items, 20 categories), ``--reps`` logs
of ``--n`` rows; estimators: IPW, SNIPW, MIPS with the logged ``pi_b`` (exact weights), MIPS
without ``pi_b`` (the logger's category distribution estimated by logistic regression on the
context) and SNMIPS. Prints one JSON line (bias, SD, RMSE per estimator and K, and the ratios
at the largest K); ``--figure`` writes the RMSE against K.

    .venv/bin/python -m benchmarks.study_mips --reps 50 --figure docs/figures/ope_mips.png
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import jax
import numpy as np

from bandits.data import LoggedData
from bandits.estimators import EmbeddedLog, evaluate

ESTIMATORS = ("ipw", "snipw", "mips", "mips (no pi_b)", "snmips")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def world(K: int, C: int, d: int, seed: int):
    """Category parameters through envs.synthetic (its params and contexts), and per-item offsets."""
    from envs.synthetic import logistic_bernoulli_params, sample_logistic_bernoulli_params

    rng = np.random.default_rng(seed)
    cat_params = sample_logistic_bernoulli_params(jax.random.key(seed), C, d, scale=2.0, base_rate=0.1)
    cat = np.arange(K) % C
    params = logistic_bernoulli_params(np.asarray(cat_params.theta)[cat], np.asarray(cat_params.bias)[cat])
    theta, bias = np.asarray(params.theta, np.float64), np.asarray(params.bias, np.float64)
    g_b, g_e = rng.normal(size=K) * 1.0, rng.normal(size=K) * 2.0
    return cat, theta, bias, g_b, g_e


@functools.lru_cache(maxsize=8)
def _context_sampler(d: int):
    from envs.synthetic import sample_context

    return jax.jit(jax.vmap(lambda k: sample_context(k, d)))


def contexts(n: int, d: int, key) -> np.ndarray:
    """``n`` contexts from the simulator's context distribution (one compiled sampler per ``d``)."""
    return np.asarray(_context_sampler(d)(jax.random.split(key, n)), np.float64)


def mean_reward(x: np.ndarray, theta: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ theta.T + bias)))


def policies(mu: np.ndarray, g_b: np.ndarray, g_e: np.ndarray, beta_b: float, beta_e: float):
    return _softmax(beta_b * mu + g_b), _softmax(beta_e * mu + g_e)


def run_k(K: int, args) -> dict:
    cat, theta, bias, g_b, g_e = world(K, args.categories, args.d, args.seed)
    xt = contexts(args.truth_contexts, args.d, jax.random.key(args.seed + 1))
    vt = np.empty(xt.shape[0])
    step = max(1, 2_000_000 // K)  # bounded memory: (step, K) arrays
    for i0 in range(0, xt.shape[0], step):
        mu = mean_reward(xt[i0:i0 + step], theta, bias)
        vt[i0:i0 + step] = (policies(mu, g_b, g_e, args.beta_b, args.beta_e)[1] * mu).sum(axis=1)
    truth, truth_se = float(vt.mean()), float(vt.std() / np.sqrt(vt.size))
    rng = np.random.default_rng(args.seed + K)
    est = {k: [] for k in ESTIMATORS}
    ess = []
    for r in range(args.reps):
        x = contexts(args.n, args.d, jax.random.key(10_000 * K + r))
        mu = mean_reward(x, theta, bias)
        pb, pe = policies(mu, g_b, g_e, args.beta_b, args.beta_e)
        a = np.minimum((pb.cumsum(axis=1) < rng.random((args.n, 1))).sum(axis=1), K - 1)
        rew = rng.binomial(1, mu[np.arange(args.n), a]).astype(float)
        base = LoggedData(context=x, action=a, reward=rew, pscore=pb[np.arange(args.n), a], n_actions=K,
                          action_context=cat[:, None])
        ad = pe[:, :, None]
        df = evaluate(EmbeddedLog.from_logged(base, pi_b=pb), ad, ["ipw", "snipw", "mips", "snmips"], interval=None)
        v = dict(zip(df["estimator"], df["estimate"], strict=True))
        ess.append(float(df["ess_ratio"].iloc[0]))
        v["mips (no pi_b)"] = float(evaluate(base, ad, ["mips"], interval=None)["estimate"].iloc[0])
        for k in ESTIMATORS:
            est[k].append(v[k])
    out = {"K": K, "truth": truth, "truth_mc_se": truth_se, "ipw_ess_ratio": float(np.mean(ess))}
    for k, vals in est.items():
        v = np.asarray(vals)
        out[k] = {"bias": float(v.mean() - truth), "sd": float(v.std(ddof=1)),
                  "rmse": float(np.sqrt(np.mean((v - truth) ** 2))),
                  "bias_se": float(v.std(ddof=1) / np.sqrt(v.size))}
    return out


def figure(results: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = np.array([r["K"] for r in results], dtype=float)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for j, (k, style) in enumerate(zip(ESTIMATORS, ("o-", "s--", "^-", "v-.", "d:"), strict=True)):
        ax[0].plot(ks, [r[k]["rmse"] for r in results], style, label=k)
        shift = ks * (1.0 + 0.04 * (j - 2))  # side by side
        ax[1].errorbar(shift, [r[k]["bias"] for r in results], yerr=[2 * r[k]["bias_se"] for r in results],
                       fmt=style[0], capsize=2, label=k)
    ax[0].set_yscale("log")
    ax[1].axhline(0.0, color="k", lw=0.8)
    for a, title in zip(ax, ("RMSE against the simulator's truth", "bias, +/- 2 SE"), strict=True):
        a.set_xscale("log")
        a.set_xlabel("catalog size K (items)")
        a.set_title(title)
        a.grid(True, which="both", alpha=0.3)
    ax[0].legend(fontsize=8)
    fig.suptitle(f"{results[0]['reps']} logs of {results[0]['n']} rows per K, 20 item categories", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ks", default="100,300,1000,3000,5000")
    ap.add_argument("--categories", type=int, default=20)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--beta-b", type=float, default=1.0)
    ap.add_argument("--beta-e", type=float, default=6.0)
    ap.add_argument("--truth-contexts", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", default=None)
    ap.add_argument("--from-json", default=None, help="redraw --figure from a saved output line, without rerunning")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.loads(f.read().strip().splitlines()[-1])
        if args.figure:
            figure(saved["results"], args.figure)
        print(json.dumps(saved))
        return 0
    t0 = time.perf_counter()
    results = []
    for K in (int(k) for k in args.ks.split(",")):
        r = run_k(K, args)
        r.update(n=args.n, reps=args.reps)
        results.append(r)
    last = results[-1]
    summary = {
        "benchmark": "study_mips", "n": args.n, "reps": args.reps, "categories": args.categories,
        "results": results,
        "at_largest_K": {"K": last["K"], "rmse_ipw_over_mips": last["ipw"]["rmse"] / last["mips"]["rmse"],
                         "sd_ipw_over_mips": last["ipw"]["sd"] / last["mips"]["sd"],
                         "rmse_snipw_over_mips": last["snipw"]["rmse"] / last["mips"]["rmse"]},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.figure:
        figure(results, args.figure)
        summary["figure"] = args.figure
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
