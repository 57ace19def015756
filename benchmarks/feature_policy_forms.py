"""Same-process timings of the forms the two feature policies' dominant round costs can take.

    python -m benchmarks.feature_policy_forms --members 32 --rounds 100 --repeat 7

Per member-round, ``--members`` members under ``vmap`` (a sweep chunk's layout), ``--arms`` items,
context dimension ``--dim``, ``--features`` item features (defaults: the OBD workload, K = 80,
d = 21, p = 4), every variant compiled first, then each repeat runs all of them in turn
(interleaved) inside a ``scan`` over ``--rounds`` rounds whose inputs change every round. Fields
``best``/``median`` are microseconds per member-round; ``ratio_best``/``ratio_median`` are to the
first variant of the group, in this run.

``hybrid_quad``: hybrid LinUCB's shared-block variance ``sum_a q_a^T A0^-1 q_a`` with
``q_a = u_a (x) phi_a``, ``k = d p``:

* ``product``: one ``(K, k) x (k, k)`` product (what ``hybrid_linucb`` does);
* ``pairs_gather`` / ``pairs_concat``: ``A0^-1`` packed by context pairs ``i <= j`` and folded over
  feature pairs ``r <= s``, ``(K, d(d+1)/2) x (d(d+1)/2, p(p+1)/2)`` (about a third of the
  multiply-adds), the per-item pair products ``u_i u_j`` by a gather or by static slices;
* ``split2``: the product split in two symmetric halves (three quarters of the multiply-adds);
* ``context_first``: ``u_a`` against ``A0^-1`` folded over feature pairs, ``(K, d) x (d, d p(p+1)/2)``.

``spd_inverse``: the ``d x d`` SPD inverse ``lints_feature_prior`` takes once a round
(``_linalg.spd_inverse_small``, ``d`` Gauss-Jordan steps, against
``_spd_blocks.spd_inverse_blocked``, recursive 2 x 2 blocks).

Each variant is checked against a float64 numpy evaluation first (the script stops, naming the
variant, if one disagrees). Prints ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=32)
    p.add_argument("--arms", type=int, default=80)
    p.add_argument("--dim", type=int, default=21)
    p.add_argument("--features", type=int, default=4)
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--repeat", type=int, default=7)
    a = p.parse_args(argv)
    for name in ("members", "arms", "dim", "features", "rounds", "repeat"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")
    if a.dim < 2:
        p.error(f"--dim: expected an integer >= 2 (the split variant needs two halves), got {a.dim}")
    return a


def hybrid_forms(K: int, d: int, p: int):
    """``{name: f(A0inv (k, k), u (K, d), phi (K, p)) -> (K,)}``, the variance forms above."""
    import jax.numpy as jnp

    from bandits.policies._linalg import tri_indices

    rows, cols, weight, _ = tri_indices(d)
    r_, s_, _, _ = tri_indices(p)
    off = jnp.asarray(r_ < s_)

    def folded_pairs(A0):  # (d(d+1)/2, p(p+1)/2): block (i, j) folded over r <= s, times c_ij
        A4 = A0.reshape(d, p, d, p)
        t = A4[rows[:, None], r_[None, :], cols[:, None], s_[None, :]]
        t = t + jnp.where(off, A4[rows[:, None], s_[None, :], cols[:, None], r_[None, :]], 0)
        return t * jnp.asarray(weight, A0.dtype)[:, None]

    def psi(phi):
        return phi[:, r_] * phi[:, s_]

    def product(A0, u, phi):
        q = (u[:, :, None] * phi[:, None, :]).reshape(K, -1)
        return jnp.sum((q @ A0) * q, axis=-1)

    def pairs_gather(A0, u, phi):
        return jnp.sum(((u[:, rows] * u[:, cols]) @ folded_pairs(A0)) * psi(phi), axis=-1)

    def pairs_concat(A0, u, phi):
        U = jnp.concatenate([u[:, i:i + 1] * u[:, i:] for i in range(d)], axis=-1)
        return jnp.sum((U @ folded_pairs(A0)) * psi(phi), axis=-1)

    def split2(A0, u, phi):
        q = (u[:, :, None] * phi[:, None, :]).reshape(K, -1)
        h = (d // 2) * p
        scale = jnp.where(jnp.arange(d * p) < h, 1.0, 2.0).astype(A0.dtype)[:, None]
        first = jnp.sum((q @ (A0[:, :h] * scale)) * q[:, :h], axis=-1)
        return first + jnp.sum((q[:, h:] @ A0[h:, h:]) * q[:, h:], axis=-1)

    def context_first(A0, u, phi):
        A4 = A0.reshape(d, p, d, p)
        T = jnp.stack([A4[:, r, :, s] + (A4[:, s, :, r] if r < s else 0) for r, s in zip(r_, s_, strict=True)], -1)
        V = (u[:, :, None] * psi(phi)[:, None, :]).reshape(K, -1)
        return jnp.sum((u @ T.reshape(d, -1)) * V, axis=-1)

    return {"product": product, "pairs_gather": pairs_gather, "pairs_concat": pairs_concat, "split2": split2,
            "context_first": context_first}


def time_group(fns, args, rounds: int, repeat: int, perturb):
    """Interleaved timings of ``{name: f(*per_member_args)}`` under vmap, inside a scan whose
    ``perturb(args, carry, t)`` makes every round's inputs differ."""
    import jax
    import jax.numpy as jnp

    def runner(f):
        def run(*a):
            def body(c, t):
                return c + jnp.sum(jax.vmap(f)(*perturb(a, c, t))), None
            return jax.lax.scan(body, jnp.zeros((), a[0].dtype), jnp.arange(rounds))[0]
        return jax.jit(run)

    jitted = {n: runner(f) for n, f in fns.items()}
    for j in jitted.values():
        jax.block_until_ready(j(*args))
    times = {n: [] for n in fns}
    members = args[0].shape[0]
    for _ in range(repeat):
        for n, j in jitted.items():
            t0 = time.perf_counter()
            jax.block_until_ready(j(*args))
            times[n].append((time.perf_counter() - t0) / (rounds * members) * 1e6)
    first = next(iter(fns))
    b0, m0 = min(times[first]), statistics.median(times[first])
    return {n: {"best": min(v), "median": statistics.median(v), "ratio_best": min(v) / b0,
                "ratio_median": statistics.median(v) / m0} for n, v in times.items()}


def main(argv=None) -> int:
    a = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bandits.policies._linalg import spd_inverse_small
    from bandits.policies._spd_blocks import spd_inverse_blocked

    M, K, d, p = a.members, a.arms, a.dim, a.features
    k = d * p
    rng = np.random.default_rng(0)

    def spd(n, m):
        B = rng.normal(size=(m, n, n))
        return B @ np.swapaxes(B, -1, -2) / n + 0.5 * np.eye(n)

    A0 = spd(k, M)
    u = rng.normal(size=(M, K, d)) / np.sqrt(d)
    phi = rng.normal(size=(M, K, p))
    Q = np.einsum("mki,mkr->mkir", u, phi).reshape(M, K, k)
    ref = np.einsum("mka,mab,mkb->mk", Q, A0, Q)
    forms = hybrid_forms(K, d, p)
    with jax.enable_x64(True):
        for name, f in forms.items():
            got = np.asarray(jax.jit(jax.vmap(f))(jnp.asarray(A0), jnp.asarray(u), jnp.asarray(phi)))
            if not np.allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max()):
                raise SystemExit(f"hybrid_quad: variant {name!r} disagrees with the float64 reference")
    f32 = [jnp.asarray(v, jnp.float32) for v in (A0, u, phi)]
    hybrid = time_group(forms, f32, a.rounds, a.repeat,
                        lambda args, c, t: (args[0] + c * 1e-12, args[1] * (1 + 1e-6 * t), args[2]))

    P = spd(d, M)
    inverses = {"gauss_jordan": spd_inverse_small, "blocked": spd_inverse_blocked}
    with jax.enable_x64(True):
        for name, f in inverses.items():
            got = np.asarray(jax.jit(f)(jnp.asarray(P)))
            if not np.allclose(got, np.linalg.inv(P), rtol=1e-9, atol=1e-9):
                raise SystemExit(f"spd_inverse: variant {name!r} disagrees with numpy")
    inv = time_group(inverses, [jnp.asarray(P, jnp.float32)], a.rounds, a.repeat,
                     lambda args, c, t: (args[0] + (c * 1e-12 + 1e-6 * t) * jnp.eye(d, dtype=args[0].dtype),))
    out = {"members": M, "arms": K, "dim": d, "features": p, "rounds": a.rounds, "repeat": a.repeat,
           "unit": "us per member-round", "hybrid_quad": hybrid, "spd_inverse": inv,
           "devices": jax.device_count(), "jax": jax.__version__}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
