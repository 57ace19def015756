"""Study: which estimator to trust. The recommendation rule against the truth of synthetic worlds.

``bandits.estimators.selection.recommend_estimator`` (support check, then SLOPE over the ladder
DM -> Switch-DR -> DR) is compared with fixed estimators (DM, IPW, SNIPW, DR, Switch-DR at 10,
SLOPE-tuned IPW clipping) in six worlds: two overlaps x three reward models. Worlds are
``envs.synthetic`` logistic-Bernoulli simulators (``K`` = 10 actions, ``d`` = 5, random
parameters drawn by ``sample_logistic_bernoulli_params``, contexts by ``sample_context``); the
logger and the target are ``softmax(beta * mu(x, a))`` with

- good overlap: ``beta_b = 0`` (uniform logger), ``beta_e = 4``;
- poor overlap: ``beta_b = -4`` (the logger avoids what the target wants), ``beta_e = 8``;

and the reward model is the simulator's ``mu`` plus ``N(0, 0.02^2)`` noise (accurate), the same
plus 0.1 (biased), or a cross-fitted logistic regression on the log (fitted). The truth is the
target's exact expected reward under ``mu`` over 200,000 contexts. These are the synthetic worlds:
the fidelity work's known worlds (``envs/known.py``) were not available when this was written.

Prints one JSON line: RMSE per estimator and world, each estimator's RMSE over the best fixed
estimator's in every world, and the worst such ratio across worlds (the rule's aim is a small
worst case, not the best estimator in each world).

    .venv/bin/python -m benchmarks.study_selection
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import jax
import numpy as np

from bandits.data import LoggedData
from bandits.estimators import evaluate, fit_reward_model
from bandits.estimators.selection import recommend_estimator, slope

FIXED = ("dm", "ipw", "snipw", "dr", "switch-dr(lambda=10)")
OVERLAP = {"good overlap": (0.0, 4.0), "poor overlap": (-4.0, 8.0)}
MODELS = ("accurate", "biased", "fitted")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _contexts(n: int, d: int, key) -> np.ndarray:
    from benchmarks.study_mips import contexts

    return contexts(n, d, key)


def run_world(overlap: str, model: str, args, seed: int) -> dict:
    from envs.synthetic import sample_logistic_bernoulli_params

    p = sample_logistic_bernoulli_params(jax.random.key(seed), args.K, args.d, scale=2.0, base_rate=0.2)
    theta, bias = np.asarray(p.theta, np.float64), np.asarray(p.bias, np.float64)
    beta_b, beta_e = OVERLAP[overlap]

    def mu_of(x):
        return 1.0 / (1.0 + np.exp(-(x @ theta.T + bias)))

    xt = _contexts(args.truth_contexts, args.d, jax.random.key(seed + 1))
    mt = mu_of(xt)
    truth = float((_softmax(beta_e * mt) * mt).sum(axis=1).mean())
    rng = np.random.default_rng(seed)
    est = {k: [] for k in (*FIXED, "slope-ipw", "recommended")}
    picks = Counter()
    for r in range(args.reps):
        x = _contexts(args.n, args.d, jax.random.key(1000 * seed + r + 7))
        mu = mu_of(x)
        pb, pe = _softmax(beta_b * mu), _softmax(beta_e * mu)
        a = np.minimum((pb.cumsum(axis=1) < rng.random((args.n, 1))).sum(axis=1), args.K - 1)
        data = LoggedData(context=x, action=a, reward=rng.binomial(1, mu[np.arange(args.n), a]).astype(float),
                          pscore=pb[np.arange(args.n), a], n_actions=args.K)
        if model == "fitted":
            q = fit_reward_model(data, random_state=r)
        else:
            q = np.clip(mu + (0.1 if model == "biased" else 0.0) + rng.normal(scale=0.02, size=mu.shape), 0, 1)
            q = q[:, :, None]
        ad = pe[:, :, None]
        df = evaluate(data, ad, ["dm", "ipw", "snipw", "dr", ("switch-dr", {"lambda_": 10.0})], estimated_rewards=q,
                      interval=None)
        for k, v in zip(df["estimator"], df["estimate"], strict=True):
            est[k].append(v)
        est["slope-ipw"].append(slope(data, ad, "ipw").value)
        rec = recommend_estimator(data, ad, estimated_rewards=q)
        est["recommended"].append(rec.value)
        picks[rec.estimator.label] += 1
    rmse = {k: float(np.sqrt(np.mean((np.asarray(v) - truth) ** 2))) for k, v in est.items()}
    best = min(rmse[k] for k in FIXED)
    return {"overlap": overlap, "model": model, "truth": truth, "rmse": rmse,
            "ratio_to_best_fixed": {k: v / best for k, v in rmse.items()}, "picks": dict(picks.most_common(4))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--d", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--truth-contexts", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    worlds = [run_world(o, m, args, args.seed + 10 * i + j) for i, o in enumerate(OVERLAP) for j, m in enumerate(MODELS)]
    names = (*FIXED, "slope-ipw", "recommended")
    worst = {k: max(w["ratio_to_best_fixed"][k] for w in worlds) for k in names}
    print(json.dumps({"benchmark": "study_selection", "n": args.n, "reps": args.reps, "worlds": worlds,
                      "worst_ratio_to_best_fixed": worst, "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
