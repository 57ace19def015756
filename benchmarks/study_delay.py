"""Study: Thompson sampling degrades less than UCB when feedback is delayed (Chapelle and Li 2011).

Their Table 1 (news-recommendation-like simulation: 10 items, each round with probability 1e-3 one
item retires and is replaced by a new one, CTRs ~ Beta(4, 4), feedback processed every delta
rounds, T = 10^6, 100 repetitions) reports regret

    delta:  1       3       10      32      100     316     1000
    UCB:    24,145  24,695  25,662  28,148  37,141  77,687  226,220
    TS:     9,105   9,199   9,049   9,451   11,550  21,594  59,256

Scaled-down reproduction (a few minutes on 2 cores): T = 2 x 10^4 rounds (``--horizon``) and
replacement probability 10^-2, so an item lives ~10^3 rounds instead of ~10^4 (the run sees ~200
replacements instead of ~1,000); delta in {1, 10, 32, 100}: delta / item lifetime 10^-3 .. 10^-1,
so the paper's delta = 100 and 1000 correspond to our 10 and 100. A new item starts from the prior (its statistics are
reset in both the serving and the learning copy of the model, as a production system would).

Policies, both wrapped with ``bandits.policies.wrappers.batched(update_every=delta)``:
* TS: Beta(1, 1)-Bernoulli Thompson sampling (``discounted_ts`` with ``gamma = 1``).
* UCB: the Chernoff-type bound Chapelle and Li use (their eq. (1), from Langford's tutorial):
  ``k/m + sqrt(2 (k/m) log(1/delta_t) / m) + 2 log(1/delta_t) / m`` with ``delta_t = 1/sqrt(t)``
  (``m`` plays, ``k`` clicks; untried items first). The rendered formula was not available to us;
  this is our reading of it.

This study uses its own ``lax.scan`` loop because item replacement resets policy statistics.
Prints one JSON line (mean regret with 95% CIs, UCB/TS ratio, regret relative to delta = 1).

    python -m benchmarks.study_delay --figure docs/figures/exploration_delay.png
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bandits.contracts import Decision, Policy
from bandits.core import split_ties_argmax
from bandits.policies import make
from bandits.policies.wrappers import batched
from benchmarks._study import finish, pyplot

PAPER = {"delays": [1, 3, 10, 32, 100, 316, 1000],
         "UCB": [24145, 24695, 25662, 28148, 37141, 77687, 226220],
         "TS": [9105, 9199, 9049, 9451, 11550, 21594, 59256]}


class UCBState(NamedTuple):
    m: jax.Array  # (K,) plays
    k: jax.Array  # (K,) clicks
    t: jax.Array  # () rounds


class UCBHParams(NamedTuple):
    pass


def chapelle_li_ucb(num_actions: int, dtype=jnp.float32) -> Policy:
    """Context-free Bernoulli UCB with the bound described in the module docstring (not registered)."""
    K = num_actions

    def init(key, h):
        z = jnp.zeros((K,), dtype)
        return UCBState(z, z, jnp.zeros((), jnp.int32))

    def select(key, s, context, mask, h):
        m = jnp.maximum(s.m, 1.0)
        p = s.k / m
        log_inv = 0.5 * jnp.log(jnp.maximum(s.t.astype(dtype), 1.0))
        ucb = p + jnp.sqrt(2 * p * log_inv / m) + 2 * log_inv / m
        ucb = jnp.where(s.m > 0, ucb, jnp.inf)
        a, probs = split_ties_argmax(ucb, mask, key)
        return Decision(a, probs)

    def update(s, context, action, reward, h):
        oh = jax.nn.one_hot(action, K, dtype=dtype)
        return UCBState(s.m + oh, s.k + oh * reward, s.t + 1)

    return Policy("chapelle_li_ucb", K, 1, UCBHParams(), init, select, update)


def reset_item(state, j, K):
    """Zero item j's statistics in any of the two inner states used here (counts only)."""
    keep = 1.0 - jax.nn.one_hot(j, K)
    if isinstance(state, UCBState):
        return state._replace(m=state.m * keep, k=state.k * keep)
    return state._replace(S=state.S * keep, F=state.F * keep)


def make_run(policy: Policy, K: int, horizon: int, replace_prob: float):
    """(key, hparams) -> total regret of one member over ``horizon`` rounds."""

    def run(key, h):
        k_env, k_pol, k_init = jax.random.split(key, 3)
        probs0 = jax.random.beta(jax.random.fold_in(k_env, -1 % 2**31), 4.0, 4.0, (K,))
        s0 = policy.init(k_init, h)
        x = jnp.ones((1,), jnp.float32)
        mask = jnp.ones((K,), bool)

        def body(carry, t):
            s, p, reg = carry
            ke = jax.random.fold_in(k_env, t)
            k_r, k_rep, k_j, k_new = jax.random.split(ke, 4)
            dec = policy.select(jax.random.fold_in(k_pol, t), s, x, mask, h)
            a = dec.action
            r = (jax.random.uniform(k_r) < p[a]).astype(jnp.float32)
            reg = reg + jnp.max(p) - p[a]
            s = policy.update(s, x, a, r, h)
            # item replacement: with prob replace_prob one item retires, a new one takes its slot
            rep = jax.random.uniform(k_rep) < replace_prob
            j = jax.random.randint(k_j, (), 0, K)
            p = jnp.where(rep, p.at[j].set(jax.random.beta(k_new, 4.0, 4.0)), p)
            live = jax.lax.cond(rep, lambda z: reset_item(z, j, K), lambda z: z, s.live)
            frozen = jax.lax.cond(rep, lambda z: reset_item(z, j, K), lambda z: z, s.frozen)
            return (s._replace(live=live, frozen=frozen), p, reg), None

        (_, _, reg), _ = jax.lax.scan(body, (s0, probs0, jnp.zeros((), jnp.float32)),
                                      jnp.arange(horizon, dtype=jnp.uint32))
        return reg

    return run


def regrets(name: str, delays, seeds: int, horizon: int, replace_prob: float, K: int = 10) -> np.ndarray:
    """(len(delays), seeds) total regret; one compile per policy (update_every is traced)."""
    inner = (make("discounted_ts", num_actions=K, context_dim=1, n_mc=1) if name == "TS"
             else chapelle_li_ucb(K))
    pol = batched(inner, update_every=1)
    run = jax.jit(jax.vmap(make_run(pol, K, horizon, replace_prob), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(11), seeds)
    out = []
    for dl in delays:
        hp = pol.hparams(update_every=float(dl), **({"gamma": 1.0} if name == "TS" else {}))
        out.append(np.asarray(run(keys, jax.tree.map(jnp.asarray, hp)), np.float64))
    return np.stack(out)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--horizon", type=int, default=20_000)
    ap.add_argument("--replace-prob", type=float, default=1e-2)
    ap.add_argument("--delays", type=int, nargs="+", default=[1, 10, 32, 100])
    ap.add_argument("--figure", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    res = {n: regrets(n, args.delays, args.seeds, args.horizon, args.replace_prob) for n in ("UCB", "TS")}
    out = {"study": "delay", "seeds": args.seeds, "horizon": args.horizon, "replace_prob": args.replace_prob,
           "delays": args.delays, "paper_table1": PAPER}
    for n, r in res.items():
        m, se = r.mean(1), r.std(1, ddof=1) / np.sqrt(r.shape[1])
        out[n] = {"regret": m.round(1).tolist(), "ci95_halfwidth": (1.96 * se).round(1).tolist(),
                  "relative_to_delay_1": (m / m[0]).round(3).tolist()}
    out["ratio_ucb_over_ts"] = (res["UCB"].mean(1) / res["TS"].mean(1)).round(2).tolist()
    out["seconds"] = round(time.time() - t0, 1)
    if args.figure:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for n, c in (("UCB", "C0"), ("TS", "C1")):
            axes[0].errorbar(args.delays, out[n]["regret"], yerr=out[n]["ci95_halfwidth"], marker="o", color=c,
                             label=f"{n} (ours, T={args.horizon:,})")
            axes[1].plot(args.delays, out[n]["relative_to_delay_1"], marker="o", color=c, label=f"{n} (ours)")
            pr = np.array(PAPER[n], float)
            axes[1].plot(np.array(PAPER["delays"]) / 10, pr / pr[0], ls="--", color=c,
                         label=f"{n} (Chapelle & Li, delta/10)")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("update every delta rounds")
        axes[0].set_ylabel("regret (mean over members)")
        axes[0].legend(fontsize=7)
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("delta (paper's delta divided by 10)")
        axes[1].set_ylabel("regret / regret at delta = 1")
        axes[1].legend(fontsize=7)
        return finish(out, fig, args.figure)
    return finish(out)


if __name__ == "__main__":
    main()
