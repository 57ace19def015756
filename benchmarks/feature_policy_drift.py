"""float32 against float64 for the feature policies' rank-one states (one JSON line).

    python -m benchmarks.feature_policy_drift --rounds 3000,30000

Runs ``hybrid_linucb`` and ``lints_feature_prior`` (K items, d context features with an intercept,
p item features, uniformly random items, Gaussian rewards; one member, no periodic refresh of the
stored inverses) in float32 and in float64 on the same data and prints, per policy and horizon, the
largest absolute error of the float32 means and the largest relative error of the float32 widths
(``sqrt`` of the variance factor) at a fresh context, with the scale of the float64 means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arms", type=int, default=80)
    p.add_argument("--dim", type=int, default=21)
    p.add_argument("--features", type=int, default=4)
    p.add_argument("--rounds", default="3000,30000", help="comma-separated horizons")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        horizons = [int(v) for v in a.rounds.split(",")]
    except ValueError:
        horizons = []
    if not horizons or min(horizons) < 1:
        p.error(f"--rounds: expected comma-separated integers >= 1, got {a.rounds!r}")
    for name in ("arms", "dim", "features"):
        if getattr(a, name) < 1:
            p.error(f"--{name}: expected an integer >= 1, got {getattr(a, name)}")

    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from bandits.policies import make
    from bandits.policies.hybrid_linucb import hybrid_mean_and_variance
    from bandits.policies.priors import lints_prior_scores

    K, d, q = a.arms, a.dim, a.features
    rng = np.random.default_rng(a.seed)
    phi = rng.normal(size=(K, q))
    phi[:, 0] = 1.0
    scores = {"hybrid_linucb": hybrid_mean_and_variance, "lints_feature_prior": lints_prior_scores}
    t0 = time.perf_counter()
    out = {"arms": K, "dim": d, "features": q, "rounds": horizons, "policies": {}}
    for name, score in scores.items():
        rows = []
        for T in horizons:
            X = rng.normal(size=(T, d)) / np.sqrt(d)
            X[:, 0] = 1.0
            A, R = rng.integers(0, K, size=T), rng.normal(size=T)
            x_eval = rng.normal(size=d) / np.sqrt(d)
            x_eval[0] = 1.0
            res = []
            for dt in (jnp.float32, jnp.float64):
                pol = make(name, num_actions=K, context_dim=d, dtype=dt, item_features=phi)
                h = jax.tree.map(lambda v, dt=dt: jnp.asarray(v, dt), pol.default_hparams)

                def body(s, row, pol=pol, h=h):
                    return pol.update(s, row[0], row[1], row[2], h), None

                run = jax.jit(lambda s, xs, as_, rs, body=body: jax.lax.scan(body, s, (xs, as_, rs))[0])
                s = run(pol.init(jax.random.key(0), h), jnp.asarray(X, dt), jnp.asarray(A, jnp.int32),
                        jnp.asarray(R, dt))
                m, v = score(s, jnp.asarray(x_eval, dt))
                res.append((np.asarray(m, np.float64), np.sqrt(np.maximum(np.asarray(v, np.float64), 0))))
            (m32, w32), (m64, w64) = res
            rows.append({"rounds": T, "mean_abs_err": float(np.abs(m32 - m64).max()),
                         "width_rel_err": float(np.abs(w32 / w64 - 1).max()),
                         "mean_scale": float(np.abs(m64).max())})
        out["policies"][name] = rows
    out["elapsed_s"] = time.perf_counter() - t0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
