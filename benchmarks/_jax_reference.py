"""Straightforward JAX references for ``benchmarks/throughput.py`` (timed in the same process).

What a JAX user would write for the simulation without tuning it: one ``lax.scan`` per member,
``vmap`` over members, per-round keys from ``jax.random.split``, contexts and reward noise drawn
inside the scan with ``jax.random.normal``, the textbook disjoint models (Li et al. 2010 LinUCB with
``A_a^{-1}`` kept by Sherman-Morrison; Agrawal & Goyal 2013 LinTS with one multivariate normal draw
per arm through a Cholesky factor), greedy ``argmax`` (no probabilities), ``.at[a].set`` updates
and the per-round regret stacked and summed at the end.

The core issue quotes such a reference ("straightforward JAX vmap", "straightforward scan") at
2.4-3.0M (LinUCB, 1,000 seeds), 0.8M (LinUCB, one seed) and 0.3M (LinTS) rounds x seeds / s on the
machine it was written on; timing this one beside screentest's sweep gives a ratio that does not
depend on how fast or how loaded the machine is. The screentest package never imports this file.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def textbook_rollout(key, theta_true, horizon: int, policy: str = "linucb", alpha: float = 1.0,
                     noise_sd: float = 0.1):
    """Total regret of one member over ``horizon`` rounds on a linear-Gaussian world.

    theta_true: ``(K, d)`` arm parameters; contexts uniform on the unit sphere.
    policy: ``"linucb"`` (UCB width ``alpha``) or ``"lints"`` (posterior scale ``alpha``).
    """
    K, d = theta_true.shape
    A_inv = jnp.broadcast_to(jnp.eye(d), (K, d, d))
    b = jnp.zeros((K, d))

    def step(carry, key):
        A_inv, b = carry
        k_x, k_r, k_p = jax.random.split(key, 3)
        x = jax.random.normal(k_x, (d,))
        x = x / jnp.linalg.norm(x)
        theta = jnp.einsum("kij,kj->ki", A_inv, b)
        if policy == "lints":
            chol = jnp.linalg.cholesky(A_inv)
            draw = theta + alpha * jnp.einsum("kij,kj->ki", chol, jax.random.normal(k_p, (K, d)))
            scores = draw @ x
        else:
            scores = theta @ x + alpha * jnp.sqrt(jnp.einsum("i,kij,j->k", x, A_inv, x))
        a = jnp.argmax(scores)
        mu = theta_true @ x
        r = mu[a] + noise_sd * jax.random.normal(k_r)
        ax = A_inv[a] @ x
        A_inv = A_inv.at[a].set(A_inv[a] - jnp.outer(ax, ax) / (1.0 + x @ ax))
        b = b.at[a].add(r * x)
        return (A_inv, b), jnp.max(mu) - mu[a]

    _, regret = jax.lax.scan(step, (A_inv, b), jax.random.split(key, horizon))
    return regret.sum()


def make_reference(theta_true, horizon: int, policy: str, seeds: int):
    """A jitted ``keys -> regrets`` for ``seeds`` members (one member: no vmap) and its keys."""
    if seeds == 1:
        return jax.jit(lambda k: textbook_rollout(k, theta_true, horizon, policy)), jax.random.key(0)
    fn = jax.jit(jax.vmap(lambda k: textbook_rollout(k, theta_true, horizon, policy)))
    return fn, jax.random.split(jax.random.key(0), seeds)


def textbook_member_rollout(key, sim, horizon: int, policy: str = "linucb", alpha: float = 1.0):
    """Total regret of one member of the OBD member simulator, written the straightforward way.

    sim: dict of float32 arrays from the fitted simulator (``contexts (n, d)``, ``item_bias (K,)``,
    ``member_weights (d, K)``, ``slope``, ``intercept``: Platt calibration, single slot, default
    knobs). Each round draws a member uniformly, computes every item's click probability
    ``sigmoid(slope (item_bias + x W) + intercept)``, plays the textbook LinUCB (``A_a^{-1}`` by
    Sherman-Morrison, width ``alpha``) or LinTS (score ``N(x theta_a, alpha^2 x A_a^{-1} x)``),
    clicks with that probability and updates with ``.at[a].set``.
    """
    ctx, bias, W = sim["contexts"], sim["item_bias"], sim["member_weights"]
    K, d = bias.shape[0], ctx.shape[1]
    A_inv = jnp.broadcast_to(jnp.eye(d), (K, d, d))
    b = jnp.zeros((K, d))

    def step(carry, key):
        A_inv, b = carry
        k_m, k_r, k_p = jax.random.split(key, 3)
        x = ctx[jax.random.randint(k_m, (), 0, ctx.shape[0])]
        q = jax.nn.sigmoid(sim["slope"] * (bias + x @ W) + sim["intercept"])
        theta = jnp.einsum("kij,kj->ki", A_inv, b)
        var = jnp.einsum("i,kij,j->k", x, A_inv, x)
        if policy == "lints":
            scores = theta @ x + alpha * jnp.sqrt(var) * jax.random.normal(k_p, (K,))
        else:
            scores = theta @ x + alpha * jnp.sqrt(var)
        a = jnp.argmax(scores)
        r = (jax.random.uniform(k_r) < q[a]).astype(jnp.float32)
        ax = A_inv[a] @ x
        A_inv = A_inv.at[a].set(A_inv[a] - jnp.outer(ax, ax) / (1.0 + x @ ax))
        b = b.at[a].add(r * x)
        return (A_inv, b), jnp.max(q) - q[a]

    _, regret = jax.lax.scan(step, (A_inv, b), jax.random.split(key, horizon))
    return regret.sum()
