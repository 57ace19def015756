"""Is the recommended estimator's error close to the best estimator's, in worlds with known truth?

``bandits.estimators.selection.recommend_estimator`` picks one rung of a bias-variance ladder
(DM -> Switch-DR -> DR, SLOPE) from the log alone. This study checks that choice against the
exact truth of known worlds (:mod:`envs.known`): for each world and log size it draws uniformly
logged rows, trains the single-slot policies of a panel on the earliest half of the impressions
(as ``screentest fidelity`` does) and freezes them, then on the held-out top-slot rows asks
``recommend_estimator`` for each frozen policy and records

- the absolute error of the recommended rung's estimate against the policy's exact value,
- the smallest absolute error over every rung of the same ladder (an oracle that knows the truth),
- whether the recommended error is within ``--factor`` times the best error (``within``), or
  within one standard error of the best rung's estimate plus the best error (``within_se``:
  differences smaller than the noise of a single log are not a wrong choice).

    python benchmarks/fidelity_selection.py --worlds toy,obd --rows 20000,200000 --out sel.json

Prints one JSON line (the summary) and writes the per-policy records with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_LABELS = ("random", "top_site", "epsilon_greedy", "bernoulli_ts", "linucb", "lints")


def _world(name: str, seed: int):
    from envs.known import obd_world, toy_world

    if name == "toy":
        return toy_world(len_list=1, seed=seed)
    if name == "obd":
        return obd_world("all", seed=seed)
    raise ValueError(f"--worlds: expected toy or obd, got {name!r}")


def study(worlds=("toy",), rows=(20_000,), labels=DEFAULT_LABELS, factor: float = 2.0, seed: int = 0,
          members: int = 256) -> dict:
    """Run the study (module docstring). Returns ``{"records": [...], "summary": {...}}``."""
    import jax

    from bandits.engine.logs import generate_logs, read_logs, train_on_logs
    from bandits.estimators.selection import recommend_estimator
    from bandits.policies import REGISTRY
    from experiments.fidelity import (
        _action_table,
        _ContextIndex,
        _logger,
        _single_slot,
        build_policy,
        panel_from_labels,
    )

    if factor < 1:
        raise ValueError(f"factor: expected a number >= 1, got {factor!r}")
    records = []
    with tempfile.TemporaryDirectory(prefix="screentest-selection-") as tmp:
        for wname in worlds:
            world = _world(wname, seed)
            panel = panel_from_labels(list(labels))
            built = [(p, *build_policy(p, world)) for p in panel]
            Lw, C_obs = world.len_list, world.observed_contexts()
            lookup = _ContextIndex(world.contexts)
            log_policy, learn = _logger("uniform", world)
            for n in rows:
                path = Path(tmp) / f"{wname}_{n}.parquet"
                generate_logs(world.env(Lw), log_policy, int(n), path, seed=seed, members=members, learn=learn,
                              context_cols=world.contexts.shape[1], action_context=world.action_context)
                data = read_logs(path)
                n_imp = data.n_rounds // Lw
                n_tr = n_imp // 2
                train = data.subset(np.arange(n_tr * Lw))
                held = data.subset(np.arange(n_tr * Lw, n_imp * Lw))
                if Lw > 1:
                    held = _single_slot(held.subset(np.flatnonzero(held.position == 0)))
                X_tr = train.context
                if world.add_intercept:
                    X_tr = np.concatenate([X_tr, np.ones((X_tr.shape[0], 1))], axis=1)
                for entry, pol, hp in built:
                    hp_ = pol.default_hparams if hp is None else hp
                    cf = pol.context_dim == 1 and (entry.name == "top_site" or REGISTRY[entry.name].context_free)
                    if entry.trains:
                        state = train_on_logs(pol, X_tr, train.action, train.reward, hparams=hp_, seed=seed)
                    else:
                        state = pol.init(jax.random.key(seed), jax.tree.map(np.asarray, hp_))
                    A = _action_table(pol, state, hp_, C_obs, jax.random.key(seed), cf)  # (m, K, 1)
                    truth = world.value(A, 1)
                    rec = recommend_estimator(held, A[lookup(held.context)])
                    t = rec.table
                    err = np.abs(t["estimate"].to_numpy(float) - truth)
                    best = int(np.argmin(err))
                    chosen = int(np.flatnonzero(t["estimator"].to_numpy() == rec.estimator.label)[0])
                    best_se = float(t["cnf"].iloc[best])  # the rung's confidence width (SLOPE's)
                    records.append({
                        "world": wname, "rows": int(n), "policy": entry.label, "truth": truth,
                        "recommended": rec.estimator.label, "recommended_abs_error": float(err[chosen]),
                        "best": str(t["estimator"].iloc[best]), "best_abs_error": float(err[best]),
                        "best_width": best_se,
                        "within": bool(err[chosen] <= factor * err[best] + 1e-12),
                        "within_se": bool(err[chosen] <= err[best] + best_se),
                        "relative_error": float(err[chosen] / truth) if truth > 0 else None,
                    })
    summary = {}
    for wname in worlds:
        for n in rows:
            rs = [r for r in records if r["world"] == wname and r["rows"] == int(n)]
            summary[f"{wname}@{int(n)}"] = {
                "policies": len(rs),
                "within_factor": sum(r["within"] for r in rs),
                "within_best_width": sum(r["within_se"] for r in rs),
                "median_ratio": float(np.median([r["recommended_abs_error"] / max(r["best_abs_error"], 1e-12)
                                                 for r in rs])),
                "recommended": sorted({r["recommended"] for r in rs}),
            }
    return {"records": records, "summary": summary, "factor": factor, "seed": seed}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", default="toy,obd")
    ap.add_argument("--rows", default="20000,200000")
    ap.add_argument("--labels", default=",".join(DEFAULT_LABELS))
    ap.add_argument("--factor", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = study([w for w in a.worlds.split(",") if w], [int(r) for r in a.rows.split(",") if r],
                [s for s in a.labels.split(",") if s], a.factor, a.seed)
    res["elapsed_s"] = time.perf_counter() - t0
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1))
    line = {"summary": res["summary"], "factor": a.factor, "elapsed_s": round(res["elapsed_s"], 1)}
    print(json.dumps(line))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
