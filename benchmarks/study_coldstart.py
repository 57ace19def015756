"""Study: cold start on a living catalog; do item features help new titles?

World: the linear-Gaussian environment (``envs.synthetic.linear_gaussian``, contexts on the unit
sphere in R^d) wrapped in the living catalog (``envs.catalog.with_catalog``, additive link, no
drift) so that ``initial`` titles are available from round 0 and one new title arrives every
``every`` rounds. Every title has features ``phi_a = [1, f_a]`` (``f_a ~ N(0, I)``, fixed and known
to the policies) and coefficients ``theta_a = W^T phi_a + idio * eta_a``: a member-specific
``W ~ N(0, I)`` (drawn per member from its env key stream) makes titles with similar features
appeal to similar members; ``eta_a ~ N(0, I)`` is the title's own idiosyncrasy.

Policies: disjoint LinUCB and disjoint LinTS (no transfer: every new title starts from the
prior), hybrid LinUCB (shared ``beta`` on ``x outer phi``) and LinTS with feature priors
(empirical-Bayes prior for each title fitted on the titles with data).

A second, context-free "clicks" world (:func:`clicks_world`) checks the Beta-Bernoulli side: click
probabilities ``sigmoid(-1.5 + w . f_a + 0.3 eta_a)``, titles arriving every 300 rounds; plain
Beta(1, 1) TS against TS with feature-predicted Beta priors.

Metrics per member (common random numbers: every policy sees the same members):
``cold_start_regret`` = regret summed over the first ``window`` rounds after each arrival (the
rounds in which the newest title's value is unknown); ``total_regret`` over the run. Paired
differences against the reference (disjoint LinUCB; plain Beta TS) with 95% normal CIs.

    python -m benchmarks.study_coldstart --seeds 200 --figure docs/figures/exploration_coldstart.png
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from bandits.engine.rollout import make_rollout
from bandits.policies import make
from benchmarks._study import finish, pyplot
from envs.catalog import make_catalog, with_catalog
from envs.synthetic import BernoulliArmsParams, LinearGaussianParams, bernoulli_arms, linear_gaussian


def coldstart_world(num_titles=12, initial=4, every=150, context_dim=4, num_features=2, idio=0.2,
                    noise_sd=0.3, seed=0, dtype=jnp.float32):
    """Returns ``(env, item_features (K, p), arrive (K,), params_fn)``; see the module docstring."""
    K, d = num_titles, context_dim
    rng = np.random.default_rng(seed)
    phi = np.column_stack([np.ones(K), rng.normal(size=(K, num_features))])
    arrive = np.concatenate([np.zeros(initial, int), every * np.arange(1, K - initial + 1)])
    base = linear_gaussian(K, d, noise_sd=noise_sd, dtype=dtype)
    catalog = make_catalog(["movie"] * K, arrive=arrive, features=phi, dtype=dtype)
    env = with_catalog(base, catalog, link="additive")
    phi_j = jnp.asarray(phi, dtype)
    default = env.default_params

    def params_fn(key):
        k_w, k_eta = jax.random.split(key)
        W = jax.random.normal(k_w, (phi.shape[1], d), dtype)
        eta = jax.random.normal(k_eta, (K, d), dtype)
        theta = phi_j @ W / np.sqrt(phi.shape[1]) + idio * eta
        return default._replace(base=LinearGaussianParams(theta, jnp.zeros(K, dtype), jnp.asarray(noise_sd, dtype)))

    return env, phi, arrive, params_fn


def clicks_world(num_titles=12, initial=4, every=300, num_features=2, idio=0.3, base_logit=-1.5, seed=1,
                 dtype=jnp.float32):
    """Context-free click world for Beta-Bernoulli TS: ``P(click | a) = sigmoid(base + w . f_a + idio eta_a)``.

    ``envs.synthetic.bernoulli_arms`` wrapped in the catalog (logit link, no trend or drift). ``w ~ N(0, I)``
    and ``eta_a ~ N(0, 1)`` are drawn per member; ``phi_a = [1, f_a]`` is known to the policies.
    Returns ``(env, item_features, arrive, params_fn)``.
    """
    K = num_titles
    rng = np.random.default_rng(seed)
    phi = np.column_stack([np.ones(K), rng.normal(size=(K, num_features))])
    arrive = np.concatenate([np.zeros(initial, int), every * np.arange(1, K - initial + 1)])
    base = bernoulli_arms(probs=np.full(K, 0.1), dtype=dtype)
    env = with_catalog(base, make_catalog(["movie"] * K, arrive=arrive, features=phi, dtype=dtype), link="logit")
    f = jnp.asarray(phi[:, 1:], dtype)
    default = env.default_params

    def params_fn(key):
        k_w, k_eta = jax.random.split(key)
        w = jax.random.normal(k_w, (num_features,), dtype)
        logit = base_logit + f @ w + idio * jax.random.normal(k_eta, (K,), dtype)
        return default._replace(base=BernoulliArmsParams(jax.nn.sigmoid(logit)))

    return env, phi, arrive, params_fn


def click_policies(phi):
    return {
        "Beta-Bernoulli TS": ("discounted_ts", {"n_mc": 1}, {"gamma": 1.0}),
        "Beta-Bernoulli TS + feature prior": ("bernoulli_ts_feature_prior", {"item_features": phi, "n_mc": 1},
                                              {"n_min": 20.0}),
    }


def policies(phi):
    return {
        "LinUCB (disjoint)": ("linucb", {}, {"alpha": 1.0}),
        "LinTS (disjoint)": ("lints", {}, {"v": 0.3}),
        "hybrid LinUCB": ("hybrid_linucb", {"item_features": phi}, {"alpha": 1.0}),
        "LinTS + feature prior": ("lints_feature_prior", {"item_features": phi, "n_mc": 1},
                                  {"nu": 0.3, "noise_var": 0.09, "n_min": 20.0}),
    }


def run(env, params_fn, reg, kw, hp, seeds, horizon):
    pol = make(reg, num_actions=env.num_actions, context_dim=env.context_dim, **kw)
    roll = make_rollout(env, pol, horizon)
    h = jax.tree.map(jnp.asarray, pol.hparams(**hp))
    keys = jax.random.split(jax.random.key(7), seeds)
    traj = jax.jit(jax.vmap(lambda k: roll(k, h, params_fn)))(keys)
    return np.asarray(traj.regret, np.float64)


def ci(x):
    m, se = float(np.mean(x)), float(np.std(x, ddof=1) / np.sqrt(len(x)))
    return {"mean": m, "ci95": [m - 1.96 * se, m + 1.96 * se]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--figure", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    out = {"study": "coldstart", "seeds": args.seeds, "window": args.window}
    regrets = {}
    for world, builder, pols, base in (("linear", coldstart_world, policies, "LinUCB (disjoint)"),
                                       ("clicks", clicks_world, click_policies, "Beta-Bernoulli TS")):
        env, phi, arrive, params_fn = builder()
        every = int(arrive[arrive > 0].min())
        horizon = int(arrive.max()) + every
        in_window = np.zeros(horizon, bool)
        for a in arrive[arrive > 0]:
            in_window[a:a + args.window] = True
        res = {name: run(env, params_fn, reg, kw, hp, args.seeds, horizon)
               for name, (reg, kw, hp) in pols(phi).items()}
        sec = {"horizon": horizon, "arrivals": arrive.tolist(), "reference": base, "policies": {}}
        for name, r in res.items():
            cs, tot = r[:, in_window].sum(1), r.sum(1)
            entry = {"cold_start_regret": ci(cs), "total_regret": ci(tot)}
            if name != base:
                entry["cold_start_regret_minus_reference"] = ci(cs - res[base][:, in_window].sum(1))
                entry["total_regret_minus_reference"] = ci(tot - res[base].sum(1))
            sec["policies"][name] = entry
        out[world] = sec
        regrets[world] = (res, arrive)
    out["seconds"] = round(time.time() - t0, 1)
    if args.figure:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for ax, (world, (res, arrive)) in zip(axes, regrets.items(), strict=True):
            for name, r in res.items():
                ax.plot(np.cumsum(r.mean(0)), label=name)
            for a in arrive[arrive > 0]:
                ax.axvline(a, color="grey", lw=0.5, ls=":")
            ax.set_xlabel("round (dotted: a new title arrives)")
            ax.set_ylabel("cumulative regret (mean over members)")
            ax.set_title(f"{world} world ({args.seeds} members)")
            ax.legend(fontsize=7)
        return finish(out, fig, args.figure)
    return finish(out)


if __name__ == "__main__":
    main()
