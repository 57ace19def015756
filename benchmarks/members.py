"""Generative member model vs resampling on the bundled OBD contexts: held-out likelihood. One JSON line.

    .venv/bin/python benchmarks/members.py [--campaign all] [--heldout-frac 0.25] [--seeds 0,1,2,3,4]

For each seed: split the logged member contexts at random, fit the latent class model
(:func:`envs.logged.members.fit_members`) on the training part, and compare held-out
log-likelihoods per row with resampling (the empirical distribution of the training contexts; a
held-out context never seen in training has probability 0 under it). Reported: per seed and as
means, the model's log-likelihood, resampling's (``-inf`` when any held-out context is unseen),
the share of held-out rows resampling cannot produce, and both on the held-out rows it can.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", default="all")
    ap.add_argument("--heldout-frac", type=float, default=0.25)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    a = ap.parse_args(argv)

    from bandits.datasets import load_obd
    from envs.logged.members import member_likelihood_check

    t0 = time.perf_counter()
    X = load_obd("random", a.campaign).context
    runs = [member_likelihood_check(X, heldout_frac=a.heldout_frac, seed=int(s)) for s in a.seeds.split(",")]

    def mean(k):
        v = [r[k] for r in runs]
        return -math.inf if any(x == -math.inf for x in v) else sum(v) / len(v)

    out = {
        "benchmark": "members", "campaign": a.campaign, "n_rows": int(X.shape[0]), "dim": int(X.shape[1]),
        "runs": [{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()} for r in runs],
        "model_loglik": mean("model_loglik"),
        "resample_loglik": None if mean("resample_loglik") == -math.inf else mean("resample_loglik"),
        "unseen_share": mean("unseen_share"),
        "model_loglik_seen": mean("model_loglik_seen"), "resample_loglik_seen": mean("resample_loglik_seen"),
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
