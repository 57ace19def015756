"""Sim-to-real check on the Open Bandit Dataset: does the simulator reproduce logged click rates?

Recipe: fit the member simulator on the uniform-random OBD logs (campaign
``all``), then run the logged behaviour policies inside it and compare their simulated on-policy
click rates (clicks per slot-impression, obp's per-row scale) with the logs' mean click and its
95% interval (Wilson score):

- **uniform random** (the policy that produced the fitting logs): simulated over
  ``n_members x n_rounds`` member-rounds of uniformly random slates (3 distinct items);
- **Bernoulli TS with the site prior** (``bandits.policies.bts``, ``campaign="all"``), whose logs
  the simulator never saw. What "running BTS in the simulator" means needs care: the BTS that
  produced the OBD logs was the site's production policy, updated in batches from the whole
  site's traffic during the week (its logged propensities for the same (item, slot) change over
  time), and obp's site prior is the Beta posterior it *started* the week with. Its per-round
  slate distribution is context-free. We report three readings:

  1. ``bts_online`` (the check): the ``bts`` policy starts from the site prior and keeps updating
     its Beta posterior on the simulator's clicks, ``n_bts_seeds`` independent runs of as many
     slate rounds as the BTS logs have rows / 3. The prior's pseudo-counts (alpha + beta up to
     ~2e5 per item) dwarf the ~40 clicks a run produces, so this is close to reading 2;
  2. ``bts_prior``: the frozen site-prior policy, exact value from its slot marginals
     (``bts_action_dist``, Monte Carlo, 100k draws) -- the evaluation policy obp's README uses;
  3. ``bts_logged_marginals``: the time-averaged slot marginals of the real logger, estimated by
     the (item, slot) frequencies of the BTS logs (actions only, never their clicks). For a
     context-free logger and a stationary member population the logged click rate is exactly
     ``sum_{a,l} pibar(a, l) qbar(a, l) / L``, so this is the most faithful replay of the logger.

The check passes when the simulated random rate lies inside the random logs' interval and the
``bts_online`` rate inside the BTS logs' interval. It has little power on the 10,000-row sample
(the two intervals overlap; a constant-rate model would also pass): the report also prints the
simulated BTS/random lift next to the logged lift and obp's IPW estimate (1.198), which is the
sharper comparison.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import jax
import numpy as np

from bandits.policies.random import uniform_slate_policy
from envs.logged.response import _binom_ci
from envs.logged.simulator import MemberSimulator, fit_member_simulator, obd_site_item_prior, policy_value

__all__ = ["SimToRealResult", "sim_to_real", "plot_sim_to_real", "simulate_rate", "policy_margins"]


def simulate_rate(env, policy, n_members: int, horizon: int, seed: int = 0, params=None, hparams=None):
    """Run ``policy`` in ``env`` for ``n_members`` independent members x ``horizon`` rounds (vmapped).

    Returns ``(expected_rate, realised_rate, per_member_expected (n_members,))``: expected clicks
    per slot-impression (mean of ``expected_reward / L``), realised clicks per slot-impression.
    """
    from bandits.engine.rollout import make_rollout

    run = make_rollout(env, policy, horizon)
    hp = policy.default_hparams if hparams is None else hparams
    p = env.default_params if params is None else params
    from bandits.engine.prng import key as fused_key

    keys = jax.random.split(fused_key(seed), n_members)
    traj = jax.jit(jax.vmap(run, in_axes=(0, None, None)))(keys, hp, p)
    L = env.len_list
    per = np.asarray(traj.expected_reward, np.float64).mean(axis=1) / L
    realised = float(np.asarray(traj.reward, np.float64).mean() / L)
    return float(per.mean()), realised, per


@dataclass
class SimToRealResult:
    """Outcome of :func:`sim_to_real` (rates are clicks per slot-impression).

    logged: ``{"random": (mean, ci_lo, ci_hi, n), "bts": (...)}``;
    simulated: ``{"random": rate, "random_exact": rate, "random_realised": rate,
    "bts_online": rate, "bts_online_se": se, "bts_online_realised": rate, "bts_prior": rate,
    "bts_logged_marginals": rate}``; passed: ``{"random": bool, "bts": bool}``; lift: simulated
    and logged BTS/random ratios; item_spread: sd over items of the pooled item click rate;
    report: the simulator's :class:`CalibrationReport` as text; settings: run sizes.
    """

    logged: dict
    simulated: dict
    passed: dict
    lift: dict
    item_spread: float
    report: str
    settings: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(all(self.passed.values()))

    def to_text(self) -> str:
        lg, sm = self.logged, self.simulated
        lines = [
            f"sim-to-real check (Open Bandit Dataset, campaign {self.settings.get('campaign')}; simulator fitted "
            f"on the random logs{' + site item prior' if self.settings.get('item_prior') == 'site' else ''})",
            f"  random logs: mean click {lg['random'][0]:.5f}, 95% CI [{lg['random'][1]:.5f}, {lg['random'][2]:.5f}] (n={lg['random'][3]})",
            f"  simulated uniform random: {sm['random']:.5f} (exact {sm['random_exact']:.5f}, realised clicks "
            f"{sm['random_realised']:.5f})  -> {'PASS' if self.passed['random'] else 'FAIL'}",
            f"  BTS logs: mean click {lg['bts'][0]:.5f}, 95% CI [{lg['bts'][1]:.5f}, {lg['bts'][2]:.5f}] (n={lg['bts'][3]}; never seen by the simulator)",
            f"  simulated BTS (site prior, online updates): {sm['bts_online']:.5f} +- {1.96 * sm['bts_online_se']:.5f} "
            f"(realised clicks {sm['bts_online_realised']:.5f})  -> {'PASS' if self.passed['bts'] else 'FAIL'}",
            f"  simulated BTS, frozen site prior (exact): {sm['bts_prior']:.5f}; logged BTS slot marginals replayed (exact): "
            f"{sm['bts_logged_marginals']:.5f}",
            f"  lift BTS/random: simulated {self.lift['simulated']:.3f} (frozen prior {self.lift['simulated_prior']:.3f}), "
            f"logged {self.lift['logged']:.3f}, obp IPW estimate 1.198",
            f"  item spread in the simulator: sd of item click rate {self.item_spread:.6f}",
            "  verdict: " + ("PASS" if self.ok else "FAIL"),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _logged_marginals(action, position, K, L) -> np.ndarray:
    counts = np.zeros((K, L))
    np.add.at(counts, (np.asarray(action), np.asarray(position)), 1.0)
    return counts / counts.sum(axis=0, keepdims=True)


def sim_to_real(campaign: str = "all", *, item_prior: str = "none", n_members: int = 200, horizon: int = 1000,
                n_bts_seeds: int = 16, bts_rounds: int | None = None, n_bts_sim: int = 100_000, seed: int = 0,
                sim: MemberSimulator | None = None,
                data_random=None, data_bts=None, **fit_kwargs) -> tuple[SimToRealResult, MemberSimulator]:
    """Run the sim-to-real check (module docstring); returns ``(result, simulator)``.

    item_prior: ``"none"`` (fit on the random logs only: the check as specified) or ``"site"``
        (item effects shrunk toward ZOZOTOWN's site prior, :func:`obd_site_item_prior`; the BTS
        comparison is then partly circular and is labelled so).
    n_members, horizon: size of the uniform-random simulation (member-rounds = product).
    n_bts_seeds: independent online BTS runs, each ``bts_rounds`` slate rounds (default: as long as
        the BTS logs, rows / L). n_bts_sim: Monte Carlo draws for the frozen prior's slot marginals.
    sim: reuse a fitted simulator (slate mode) instead of fitting; data_random / data_bts: LoggedData
        to use instead of the bundled sample. fit_kwargs: passed to :func:`fit_member_simulator`.
    """
    from bandits.datasets import load_obd
    from bandits.datasets.obd import obd_site_prior
    from bandits.policies.bts import bernoulli_ts, bts_action_dist

    if item_prior not in ("none", "site"):
        raise ValueError(f"item_prior: expected 'none' or 'site', got {item_prior!r}")
    dr = load_obd("random", campaign) if data_random is None else data_random
    db = load_obd("bts", campaign) if data_bts is None else data_bts
    if sim is None:
        ipm = obd_site_item_prior(campaign) if item_prior == "site" else None
        sim = fit_member_simulator(dr, item_prior_mean=ipm, seed=seed, **fit_kwargs)
    env = sim.env
    K, L = env.num_actions, env.len_list
    if L < 2:
        raise ValueError("sim: expected a slate simulator (len_list > 1) for the OBD check")

    # uniform random
    pol_r = uniform_slate_policy(K, L, env.context_dim)
    r_exp, r_real, _ = simulate_rate(env, pol_r, n_members, horizon, seed=seed + 1)
    r_exact = policy_value(env, np.full((K, L), 1.0 / K))

    # BTS with the site prior, online
    n_bts_rounds = int(np.ceil(db.n_rounds / L)) if bts_rounds is None else int(bts_rounds)
    pol_b = bernoulli_ts(K, env.context_dim, len_list=L, campaign=campaign, n_mc=1)
    b_exp, b_real, per = simulate_rate(env, pol_b, n_bts_seeds, n_bts_rounds, seed=seed + 2)
    b_se = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else float("nan")
    a0, b0 = obd_site_prior(campaign)
    pi_prior = bts_action_dist(jax.random.key(seed + 3), a0, b0, L, n_sim=int(n_bts_sim))
    b_prior = policy_value(env, pi_prior)
    pi_logged = _logged_marginals(db.action, db.position, K, L)
    b_logged = policy_value(env, pi_logged)

    def ci(data):
        k, n = float(np.sum(data.reward)), int(data.n_rounds)
        lo, hi = _binom_ci(k, n)
        return (k / n, lo, hi, n)

    logged = {"random": ci(dr), "bts": ci(db)}
    sim_rates = {
        "random": r_exp, "random_exact": r_exact, "random_realised": r_real,
        "bts_online": b_exp, "bts_online_se": b_se, "bts_online_realised": b_real,
        "bts_prior": b_prior, "bts_logged_marginals": b_logged,
    }
    passed = {
        "random": bool(logged["random"][1] <= r_exp <= logged["random"][2]),
        "bts": bool(logged["bts"][1] <= b_exp <= logged["bts"][2]),
    }
    lift = {"simulated": b_exp / r_exp, "simulated_prior": b_prior / r_exact,
            "logged": logged["bts"][0] / logged["random"][0]}
    Q = sim.model.expected_matrix(sim.contexts)
    spread = float(Q.mean(axis=(0, 2)).std())
    res = SimToRealResult(
        logged=logged, simulated=sim_rates, passed=passed, lift=lift, item_spread=spread,
        report=sim.report.to_text(),
        settings={"campaign": campaign, "item_prior": item_prior, "n_members": n_members, "horizon": horizon,
                  "n_bts_seeds": n_bts_seeds, "n_bts_rounds": n_bts_rounds, "seed": seed},
    )
    return res, sim


def plot_sim_to_real(result: SimToRealResult, report, path) -> None:
    """Two-panel PNG: logged vs simulated click rates with intervals; held-out reliability curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    lg, sm = result.logged, result.simulated
    rows = [
        ("random: logs", lg["random"][0], lg["random"][1], lg["random"][2], "C0"),
        ("random: simulated", sm["random"], sm["random"], sm["random"], "C1"),
        ("BTS: logs (unseen)", lg["bts"][0], lg["bts"][1], lg["bts"][2], "C0"),
        ("BTS online: simulated", sm["bts_online"], sm["bts_online"] - 1.96 * sm["bts_online_se"],
         sm["bts_online"] + 1.96 * sm["bts_online_se"], "C1"),
        ("BTS frozen prior: sim", sm["bts_prior"], sm["bts_prior"], sm["bts_prior"], "C2"),
        ("BTS logged marginals: sim", sm["bts_logged_marginals"], sm["bts_logged_marginals"],
         sm["bts_logged_marginals"], "C2"),
    ]
    for i, (_lab, m, lo, hi, c) in enumerate(rows):
        ax1.errorbar([m], [i], xerr=[[m - lo], [hi - m]], fmt="o", color=c, capsize=4)
    ax1.set_yticks(range(len(rows)))
    ax1.set_yticklabels([r[0] for r in rows])
    ax1.invert_yaxis()
    ax1.axvspan(lg["random"][1], lg["random"][2], color="C0", alpha=0.07)
    ax1.set_xlabel("clicks per slot-impression")
    ax1.set_title("sim-to-real: " + ("PASS" if result.ok else "FAIL"))
    rel = report.reliability
    mp, ob = np.array(rel["mean_pred"]), np.array(rel["observed"])
    lo, hi = np.array(rel["ci_lo"]), np.array(rel["ci_hi"])
    ax2.errorbar(mp, ob, yerr=[ob - lo, hi - ob], fmt="o", capsize=4, label="held-out bins (95% CI)")
    orel = report.oof_reliability
    if orel:
        ax2.plot(orel["mean_pred"], orel["observed"], "s", alpha=0.6, label="training out-of-fold")
    top = max(float(hi.max()), float(mp.max())) * 1.05
    ax2.plot([0, top], [0, top], "k--", lw=1, label="perfect calibration")
    ax2.set_xlabel("predicted click probability")
    ax2.set_ylabel("observed click rate")
    ax2.set_title(f"reliability: log-loss {report.log_loss:.4f} (base {report.log_loss_baseline:.4f}), AUC {report.auc:.2f}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def policy_margins(env, policies: dict, n_seeds: int = 100, horizon: int = 1500, seed: int = 0,
                   baseline: str = "random"):
    """Paired comparison of policies in a simulator (common random numbers across policies).

    policies: ``{label: (Policy, hparams or None)}``; must contain ``baseline``. Every policy runs
    ``n_seeds`` members x ``horizon`` rounds; the per-seed value is the mean expected clicks per
    slot-impression (exact expected rewards from the simulator). Returns a DataFrame with one row
    per policy: ``policy, value, margin, margin_se, ci_low, ci_high, z`` (margin = value - baseline,
    normal 95% interval over seeds).
    """
    import pandas as pd

    if baseline not in policies:
        raise ValueError(f"policies: expected an entry for the baseline {baseline!r}, got {sorted(policies)}")
    per = {}
    for label, (pol, hp) in policies.items():
        _, _, per[label] = simulate_rate(env, pol, n_seeds, horizon, seed=seed, hparams=hp)
    rows = []
    for label, v in per.items():
        m = v - per[baseline]
        se = float(m.std(ddof=1) / np.sqrt(m.size)) if label != baseline else 0.0
        rows.append({"policy": label, "value": float(v.mean()), "margin": float(m.mean()), "margin_se": se,
                     "ci_low": float(m.mean() - 1.96 * se), "ci_high": float(m.mean() + 1.96 * se),
                     "z": float(m.mean() / se) if se > 0 else float("nan"), "n_seeds": n_seeds, "horizon": horizon})
    return pd.DataFrame(rows)
