"""Ground truth for off-policy evaluation: log with policy A in the simulator, estimate policy B.

The member simulator knows every click probability, so the value of any policy is exact
(:func:`envs.logged.policy_value`: a weighted sum over the member pool, no Monte Carlo), and logs
drawn from a behaviour policy carry exact propensities. This experiment repeats, over
``n_seeds`` independent logs:

1. draw ``n_rounds`` members from the simulator's population, an item from the behaviour
   policy A for each (single-slot mode), and a click from the simulator;
2. estimate the value of the target policy B with every estimator in
   :func:`bandits.estimators.evaluate` (normal intervals);

and reports, per estimator, the bias, standard deviation and RMSE of the estimates around B's true
value, and the coverage of the nominal 95% intervals (share of seeds whose interval contains the
truth; Monte Carlo standard error ``sqrt(c (1 - c) / n_seeds)``).

Policies (both context-dependent, defined on the member pool; ``s(x, a)`` is the simulator's
own item score, ``u`` a fixed N(0, 1) perturbation per (member, item) so neither policy is an
oracle):

- A, behaviour: ``(1 - eps) softmax(beta_A * (zscore(s) + sigma u_A)) + eps / K`` (full support);
- B, target:    ``softmax(beta_B * (zscore(s) + sigma u_B))`` (sharper, so it moves away from A).

The model-based estimators (DM, DR, ...) get a reward model ``q_hat = q * exp(b_a)`` with a fixed
per-item log-scale error ``b_a ~ N(0, model_error)``: a deliberately imperfect model whose
quality is a knob (``--model-error 0`` is the oracle). ``--reward-model fitted`` uses
:func:`bandits.estimators.fit_reward_model` (cross-fitted) instead (slower).

Default simulator: fitted on the bundled OBD uniform-random logs with ZOZOTOWN's site prior for
the item effects (the data-only fit has almost no item differences, which makes every policy's
value the same). Run: ``python -m experiments.ope_truth [--n-rounds 5000] [--n-seeds 40]
[--out DIR]`` (prints the table; writes ``ope_truth.csv``, ``ope_truth_runs.csv`` and
``ope_truth.png`` to DIR).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ope_truth", "make_policies", "summarise", "plot_ope_truth", "main"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def make_policies(Q: np.ndarray, *, beta_a: float = 1.0, beta_b: float = 3.0, eps: float = 0.1,
                  sigma: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Behaviour and target action distributions ``(n_ctx, K)`` from click probabilities ``Q (n_ctx, K)``."""
    rng = np.random.default_rng(seed)
    lq = np.log(np.clip(Q, 1e-12, 1.0))
    z = (lq - lq.mean(axis=1, keepdims=True)) / max(float(lq.std()), 1e-12)
    pa = (1 - eps) * _softmax(beta_a * (z + sigma * rng.standard_normal(z.shape))) + eps / Q.shape[1]
    pb = _softmax(beta_b * (z + sigma * rng.standard_normal(z.shape)))
    return pa, pb


def _sample_rows(rng, probs: np.ndarray) -> np.ndarray:
    """One index per row of ``probs (n, K)`` (inverse CDF)."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def ope_truth(sim=None, *, n_rounds: int = 5000, n_seeds: int = 40,
              estimators=("dm", "ipw", "snipw", "dr", "sndr", "switch-dr"),
              reward_model: str = "noisy-oracle", model_error: float = 0.3, beta_a: float = 1.0,
              beta_b: float = 3.0, eps: float = 0.1, sigma: float = 0.5, alpha: float = 0.05,
              seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run the experiment (module docstring).

    sim: a :class:`envs.logged.MemberSimulator` (any ``len_list``; the first slot is used), or None
        for the default OBD simulator. Returns ``(summary, runs, info)``: ``summary`` one row per
        estimator (``estimator, bias, sd, rmse, coverage, coverage_se, mean_ci_width,
        mean_estimate, n_seeds``); ``runs`` one row per (seed, estimator) with ``estimate,
        ci_low, ci_high, truth``; ``info`` the true values of A and B (``value_behavior``,
        ``value_target``), the value of B under the noisy-oracle reward model
        (``value_target_under_model``, DM's limit), and the settings.
    """
    from bandits.data import LoggedData
    from bandits.estimators import evaluate
    from bandits.estimators.core import as_estimators
    from envs.logged import expected_reward_matrix, member_distribution

    est = as_estimators(list(estimators))  # registered names, checked before any simulation

    if reward_model not in ("noisy-oracle", "fitted"):
        raise ValueError(f"reward_model: expected 'noisy-oracle' or 'fitted', got {reward_model!r}")
    if int(n_rounds) < 10 or int(n_seeds) < 2:
        raise ValueError(f"n_rounds, n_seeds: expected >= 10 and >= 2, got {n_rounds!r}, {n_seeds!r}")
    if sim is None:
        sim = default_simulator()
    env, params = sim.env, sim.params
    Q = np.asarray(expected_reward_matrix(env, params), np.float64)[:, :, 0]  # (n_ctx, K), slot 0
    w = member_distribution(params)
    X = np.asarray(params.contexts, np.float64)
    K = Q.shape[1]
    pa, pb = make_policies(Q, beta_a=beta_a, beta_b=beta_b, eps=eps, sigma=sigma, seed=seed)
    v_a = float(np.sum(w[:, None] * pa * Q))
    v_b = float(np.sum(w[:, None] * pb * Q))
    rng = np.random.default_rng(seed + 1)
    bias_items = model_error * rng.standard_normal(K)
    qhat_pool = np.clip(Q * np.exp(bias_items)[None, :], 0.0, 1.0)
    v_b_model = float(np.sum(w[:, None] * pb * qhat_pool))  # what DM converges to (noisy-oracle model)
    cdf_w = np.cumsum(w)
    rows = []
    for s in range(int(n_seeds)):
        r = np.random.default_rng([seed, s])
        i = np.minimum(np.searchsorted(cdf_w, r.random(n_rounds) * cdf_w[-1], side="right"), len(w) - 1)
        a = _sample_rows(r, pa[i])
        y = (r.random(n_rounds) < Q[i, a]).astype(np.float64)
        data = LoggedData(context=X[i], action=a, reward=y, pscore=pa[i, a], n_actions=K)
        ad = pb[i][:, :, None]
        er = qhat_pool[i][:, :, None] if reward_model == "noisy-oracle" else None
        df = evaluate(data, ad, estimators=est, estimated_rewards=er, interval="normal",
                      alpha=alpha, random_state=s)
        for _, row in df.iterrows():
            rows.append({"seed": s, "estimator": row["estimator"], "estimate": float(row["estimate"]),
                         "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "truth": v_b,
                         "logged_mean": float(y.mean())})
    runs = pd.DataFrame(rows)
    info = {"value_behavior": v_a, "value_target": v_b, "value_target_under_model": v_b_model, "n_rounds": int(n_rounds), "n_seeds": int(n_seeds),
            "reward_model": reward_model, "model_error": model_error, "beta_a": beta_a, "beta_b": beta_b,
            "eps": eps, "sigma": sigma, "alpha": alpha}
    return summarise(runs), runs, info


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-estimator bias, sd, RMSE, interval coverage (and its Monte Carlo SE), mean width."""
    out = []
    for name, g in runs.groupby("estimator", sort=False):
        err = g["estimate"] - g["truth"]
        cov = float(((g["ci_low"] <= g["truth"]) & (g["truth"] <= g["ci_high"])).mean())
        n = len(g)
        out.append({"estimator": name, "bias": float(err.mean()), "bias_se": float(err.std(ddof=1) / np.sqrt(n)),
                    "sd": float(err.std(ddof=1)), "rmse": float(np.sqrt(np.mean(err**2))),
                    "relative_rmse": float(np.sqrt(np.mean(err**2)) / g["truth"].iloc[0]),
                    "coverage": cov, "coverage_se": float(np.sqrt(cov * (1 - cov) / n)),
                    "mean_ci_width": float((g["ci_high"] - g["ci_low"]).mean()),
                    "mean_estimate": float(g["estimate"].mean()), "n_seeds": n})
    return pd.DataFrame(out)


def plot_ope_truth(runs: pd.DataFrame, summary: pd.DataFrame, info: dict, path) -> None:
    """Estimates per estimator (points + mean) against the true value; coverage bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["estimator"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    rng = np.random.default_rng(0)
    for j, name in enumerate(names):
        est = runs.loc[runs["estimator"] == name, "estimate"].to_numpy()
        ax1.plot(j + 0.15 * rng.standard_normal(est.size), est, ".", alpha=0.4)
        ax1.plot([j - 0.3, j + 0.3], [est.mean()] * 2, "k-", lw=2)
    ax1.axhline(info["value_target"], color="C3", ls="--", label=f"true value of B {info['value_target']:.5f}")
    ax1.axhline(info["value_behavior"], color="C7", ls=":", label=f"true value of A {info['value_behavior']:.5f}")
    ax1.set_xticks(range(len(names)))
    ax1.set_xticklabels(names)
    ax1.set_ylabel("estimated value of B")
    ax1.set_title(f"{info['n_seeds']} logs of {info['n_rounds']} rounds from A")
    ax1.legend(fontsize=8)
    cov = summary["coverage"].to_numpy()
    ax2.bar(range(len(names)), cov, yerr=1.96 * summary["coverage_se"].to_numpy(), capsize=3)
    ax2.axhline(1 - info["alpha"], color="k", ls="--", lw=1)
    ax2.set_xticks(range(len(names)))
    ax2.set_xticklabels(names, rotation=30)
    ax2.set_ylim(0, 1.05)
    ax2.set_title("interval coverage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def default_simulator():
    """The OBD simulator used by default: random logs, site item prior, single slot, fixed penalties
    (the values cross-validation picks on this sample, so the default run needs no search)."""
    from bandits.datasets import load_obd
    from envs.logged import fit_member_simulator, obd_site_item_prior

    return fit_member_simulator(load_obd("random", "all"), penalties=(300.0, 3000.0),
                                item_prior_mean=obd_site_item_prior("all"), len_list=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ope_truth", description="OPE estimators against the simulator's true values")
    ap.add_argument("--n-rounds", type=int, default=5000)
    ap.add_argument("--n-seeds", type=int, default=40)
    from bandits.estimators import estimator_names

    ap.add_argument("--estimators", default="dm,ipw,snipw,dr,sndr,switch-dr",
                    help=f"comma-separated among {','.join(estimator_names())}")
    ap.add_argument("--reward-model", choices=("noisy-oracle", "fitted"), default="noisy-oracle")
    ap.add_argument("--model-error", type=float, default=0.3)
    ap.add_argument("--beta-a", type=float, default=1.0)
    ap.add_argument("--beta-b", type=float, default=3.0)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--temperature", type=float, default=1.0, help="simulator temperature knob")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="directory for ope_truth.csv / ope_truth_runs.csv / ope_truth.png")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    sim = default_simulator()
    if a.temperature != 1.0:
        sim.env = sim.env._replace(default_params=sim.with_knobs(temperature=a.temperature))
    summary, runs, info = ope_truth(sim, n_rounds=a.n_rounds, n_seeds=a.n_seeds,
                                    estimators=tuple(e.strip() for e in a.estimators.split(",") if e.strip()),
                                    reward_model=a.reward_model, model_error=a.model_error, beta_a=a.beta_a,
                                    beta_b=a.beta_b, eps=a.eps, seed=a.seed)
    pd.set_option("display.width", 160)
    print(f"true value: behaviour A {info['value_behavior']:.6f}, target B {info['value_target']:.6f} "
          f"(clicks per impression; {a.n_seeds} logs x {a.n_rounds} rounds; reward model {a.reward_model}, "
          f"error {a.model_error})")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.6f}"))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out / "ope_truth.csv", index=False)
        runs.to_csv(out / "ope_truth_runs.csv", index=False)
        plot_ope_truth(runs, summary, info, out / "ope_truth.png")
        print(f"wrote {out / 'ope_truth.csv'}, {out / 'ope_truth_runs.csv'}, {out / 'ope_truth.png'}")
    print(f"elapsed {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
