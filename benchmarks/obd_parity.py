"""Parity of screentest's OBD loader with obp 0.5.7's ``OpenBanditDataset`` processing.

Run from the repo root with the project's python:

    .venv/bin/python benchmarks/obd_parity.py [--peers-python ~/.cache/screentest-peers/bin/python]
                                              [--write-fixture tests/fixtures/obd_processed_head.npz]
                                              [--bts [--n-sim 100000]]

It starts obp in the peers venv as a separate process (``--obp-side``: that mode imports only obp and
numpy, never screentest), which loads the same CSV sample that obp ships (the copy in
/work/shared/data/obd, ``--obd-path``) for all 3 campaigns x 2 behavior policies and saves
obp's ``bandit_feedback`` arrays. This process loads the bundled gzip copy with
``bandits.datasets.load_obd`` and compares every array exactly. Prints one JSON line.

``--write-fixture`` also writes the small fixture the tests use (no obp needed at test time):
for each (policy, campaign): obp's first 50 rows of context/action/position/reward/pscore, its
action_context, shapes, and column sums of the full context (float64).

``--bts`` also runs obp's ``BernoulliTS(is_zozotown_prior=True, campaign="all", random_state=12345)``
``compute_batch_action_dist(n_sim)`` and its IPW on the random logs, and compares with
``bandits.policies.bts.bts_action_dist``: per-entry z-scores (both Monte Carlo errors) and the
IPW / mean-click ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
HEAD = 50


def obp_side(out: str, obd_path: str) -> None:
    import numpy as np
    from obp.dataset import OpenBanditDataset

    arrays = {}
    for p in POLICIES:
        for c in CAMPAIGNS:
            ds = OpenBanditDataset(behavior_policy=p, campaign=c, data_path=Path(obd_path))
            bf = ds.obtain_batch_bandit_feedback()
            for k in ("action", "position", "reward", "pscore", "context", "action_context"):
                arrays[f"{p}/{c}/{k}"] = np.asarray(bf[k])
            arrays[f"{p}/{c}/n_actions"] = np.asarray(bf["n_actions"])
            arrays[f"{p}/{c}/n_rounds"] = np.asarray(bf["n_rounds"])
    np.savez_compressed(out, **arrays)


def obp_bts_side(out: str, obd_path: str, n_sim: int) -> None:
    import numpy as np
    from obp.dataset import OpenBanditDataset
    from obp.ope import InverseProbabilityWeighting, OffPolicyEvaluation
    from obp.policy import BernoulliTS

    ds = OpenBanditDataset(behavior_policy="random", campaign="all", data_path=Path(obd_path))
    bf = ds.obtain_batch_bandit_feedback()
    pol = BernoulliTS(n_actions=ds.n_actions, len_list=ds.len_list, is_zozotown_prior=True, campaign="all",
                      random_state=12345)
    ad = pol.compute_batch_action_dist(n_sim=n_sim, n_rounds=bf["n_rounds"])
    ope = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[InverseProbabilityWeighting()])
    v = ope.estimate_policy_values(action_dist=ad)["ipw"]
    np.savez(out, pi=ad[0], ratio=v / bf["reward"].mean())


def bts_check(args) -> dict:
    """obp's BernoulliTS (site prior, campaign all) vs ours: slot probabilities entry by entry
    (z-scores with both Monte Carlo errors) and the IPW / mean-click ratio (obp's README: 1.198)."""
    import jax
    import numpy as np

    from bandits.datasets import load_obd
    from bandits.datasets.obd import obd_site_prior
    from bandits.policies.bts import bts_action_dist

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bts.npz")
        subprocess.run([args.peers_python, __file__, "--obp-bts-side", out, "--obd-path", args.obd_path,
                        "--n-sim", str(args.n_sim)], check=True, capture_output=True)
        ref = dict(np.load(out))
    alpha, beta = obd_site_prior("all")
    pi = bts_action_dist(jax.random.key(12345), alpha, beta, 3, n_sim=args.n_sim)
    p = (pi + ref["pi"]) / 2
    on = p > 0
    z = (pi - ref["pi"])[on] / np.sqrt(2 * p[on] * (1 - p[on]) / args.n_sim)
    d = load_obd("random", "all")
    ratio = float(np.mean(d.reward * pi[d.action, d.position] / d.pscore) / d.reward.mean())
    return {"n_sim": args.n_sim, "obp_ratio": float(ref["ratio"]), "ours_ratio": ratio,
            "entries": int(on.sum()), "max_abs_z": float(np.abs(z).max()), "mean_z2": float(np.mean(z**2))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--obp-side", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--obd-path", default="/work/shared/data/obd")
    ap.add_argument("--peers-python", default=os.path.expanduser("~/.cache/screentest-peers/bin/python"))
    ap.add_argument("--write-fixture", metavar="NPZ", default=None)
    ap.add_argument("--bts", action="store_true", help="also compare BernoulliTS action_dist / IPW figure with obp")
    ap.add_argument("--n-sim", type=int, default=100_000)
    ap.add_argument("--obp-bts-side", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.obp_side:
        obp_side(args.obp_side, args.obd_path)
        return 0
    if args.obp_bts_side:
        obp_bts_side(args.obp_bts_side, args.obd_path, args.n_sim)
        return 0

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bandits.datasets import load_obd

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "obp.npz")
        subprocess.run([args.peers_python, __file__, "--obp-side", out, "--obd-path", args.obd_path],
                       check=True, capture_output=True)
        ref = dict(np.load(out))

    report, fixture, ok = {}, {}, True
    for p in POLICIES:
        for c in CAMPAIGNS:
            d = load_obd(p, c)
            key = f"{p}/{c}"
            mine = dict(action=d.action, position=d.position, reward=d.reward, pscore=d.pscore,
                        context=d.context, action_context=d.action_context)
            res = {}
            for k, v in mine.items():
                r = ref[f"{key}/{k}"].astype(np.float64)
                v = v.astype(np.float64)
                # integers and one-hot columns must be identical; parsed decimals may differ by a few
                # ulps (<= 1e-12 relative): pandas' default CSV float parser (obp) drops digits past ~17 in
                # texts like 0.00011499999999999999 and is not correctly rounded; pyarrow is
                # (checked against Python's float() on the CSV text).
                same = r.shape == v.shape and np.allclose(r, v, rtol=1e-12, atol=0.0)
                if k in ("action", "position", "reward", "context"):
                    same = same and np.array_equal(r, v)
                res[k] = bool(same)
                if k in ("pscore", "action_context") and r.shape == v.shape:
                    res[f"{k}_max_rel_diff"] = float(np.max(np.abs(r - v) / np.maximum(np.abs(r), 1e-300)))
                ok &= same
            res["n_actions"] = int(ref[f"{key}/n_actions"]) == d.n_actions
            res["n_rounds"] = int(ref[f"{key}/n_rounds"]) == d.n_rounds
            ok &= res["n_actions"] and res["n_rounds"]
            report[key] = res
            for k in ("action", "position", "reward", "pscore", "context"):
                fixture[f"{key}/{k}_head"] = ref[f"{key}/{k}"][:HEAD].astype(np.float64)
            fixture[f"{key}/action_context"] = ref[f"{key}/action_context"].astype(np.float64)
            fixture[f"{key}/context_colsum"] = ref[f"{key}/context"].astype(np.float64).sum(0)
            fixture[f"{key}/context_shape"] = np.asarray(ref[f"{key}/context"].shape)
            fixture[f"{key}/reward_sum"] = np.asarray(ref[f"{key}/reward"].astype(np.float64).sum())
            fixture[f"{key}/pscore_sum"] = np.asarray(ref[f"{key}/pscore"].astype(np.float64).sum())
            fixture[f"{key}/position_counts"] = np.bincount(ref[f"{key}/position"], minlength=3)
    if args.write_fixture:
        Path(args.write_fixture).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.write_fixture, **fixture)
    result = {"benchmark": "obd_parity", "all_equal": bool(ok), "obp": "0.5.7", "checks": report}
    if args.bts:
        result["bts"] = bts_check(args)
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
