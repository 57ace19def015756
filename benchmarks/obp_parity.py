"""Parity with obp 0.5.7 on the real Open Bandit Dataset sample (random logs, campaign all).

    .venv/bin/python -m benchmarks.obp_parity [--write-fixture tests/fixtures/obp_parity.npz]

1. Runs ``benchmarks/_obp_peer_parity.py`` in the peers venv (``~/.cache/screentest-peers``,
   or ``--peers-python``) as a subprocess: obp loads its copy of the sample, computes three
   evaluation policies' ``action_dist`` (Bernoulli TS with the site prior from 100,000 draws, a
   per-row softmax of the reward model, a deterministic greedy policy), cross-fitted
   ``estimated_rewards`` (obp's RegressionModel + LogisticRegression) and its estimators'
   values (ipw, snipw, dm, dr, sndr, switch-dr, dr-os, clipped ipw and dr, replay).
2. Evaluates the same inputs with :mod:`bandits.estimators` and compares (relative difference,
   tolerance 1e-9).
3. When ``bandits.datasets.obd`` and ``bandits.policies.bts`` are present, also reproduces obp's
   published figure with screentest's own loader and Bernoulli TS: IPW / mean logged click
   (obp prints 1.1981263).
4. ``--write-fixture``: saves the first ``--fixture-rows`` rows' inputs and obp's outputs on them
   (compressed) for ``tests/bandits/estimators/test_estimators_parity.py``, which checks parity without obp.

Prints one JSON line. Exit status 1 when a value differs by more than the tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bandits.estimators import Estimator, estimate

PEER_SCRIPT = Path(__file__).with_name("_obp_peer_parity.py")
DEFAULT_PEERS = Path.home() / ".cache" / "screentest-peers" / "bin" / "python"
TOL = 1e-9
NAMES = ("ipw", "snipw", "dm", "dr", "sndr", "switch-dr", "dr-os", "ipw_clip", "dr_clip")


def specs(lam: float) -> dict[str, Estimator]:
    """The screentest estimator matching each obp estimator in the peer script."""
    return {
        "ipw": Estimator("ipw"), "snipw": Estimator("snipw"), "dm": Estimator("dm"), "dr": Estimator("dr"),
        "sndr": Estimator("sndr"), "switch-dr": Estimator("switch-dr", lambda_=lam),
        "dr-os": Estimator("dr-os", lambda_=lam), "ipw_clip": Estimator("ipw", lambda_=lam),
        "dr_clip": Estimator("dr", lambda_=lam),
    }


def compare(data: dict, ads: dict[str, np.ndarray], q: np.ndarray, ref: dict[str, float], lam: float
            ) -> dict[str, dict[str, float]]:
    """screentest vs obp on one data set: ``{policy: {estimator: relative difference}}``."""
    out: dict[str, dict[str, float]] = {}
    sp = specs(lam)
    for tag, ad in ads.items():
        res = {}
        if tag == "greedy":
            ours, theirs = estimate("rm", data, ad), ref["greedy_rm"]
            res["rm"] = abs(ours - theirs) / max(abs(theirs), 1e-300)
        else:
            for name in NAMES:
                ours, theirs = estimate(sp[name], data, ad, q), ref[f"{tag}_{name}"]
                res[name] = abs(ours - theirs) / max(abs(theirs), 1e-300)
        out[tag] = res
    return out


def own_pipeline_figure(peer: dict, n_sim: int) -> dict:
    """screentest's OBD loader + Bernoulli TS + IPW, against obp's published 1.198."""
    try:
        import jax

        from bandits.datasets.obd import load_obd, obd_site_prior
        from bandits.policies.bts import bts_action_dist
    except ImportError as e:  # an install without these modules
        return {"skipped": f"{e}"}
    data = load_obd("random", "all")
    same = {k: bool(np.array_equal(np.asarray(getattr(data, k)), peer[k]))
            for k in ("reward", "action", "pscore", "position")}
    a0, b0 = obd_site_prior("all")
    t0 = time.perf_counter()
    ad = bts_action_dist(jax.random.key(12345), a0, b0, len_list=data.len_list, n_sim=n_sim)
    t_bts = time.perf_counter() - t0
    ad = np.asarray(ad, dtype=np.float64).reshape(1, data.n_actions, data.len_list)
    ad = ad / ad.sum(axis=1, keepdims=True)
    full = np.broadcast_to(ad, (data.n_rounds, data.n_actions, data.len_list))
    rel = estimate("ipw", data, full) / float(np.mean(data.reward))
    # Monte-Carlo standard error of that ratio: it is sum_{a,k} c_ak pi_hat(a, k) / (pscore * clicks),
    # with c_ak the clicks logged on item a in slot k, and pi_hat(., k) a multinomial frequency over
    # n_sim draws, so Var = sum_k [sum_a c_ak^2 p_ak - (sum_a c_ak p_ak)^2] / n_sim / (pscore*clicks)^2
    # (slots treated as independent; the draws couple them only weakly).
    K, L = data.n_actions, data.len_list
    c = np.zeros((K, L))
    np.add.at(c, (data.action, data.position), data.reward)
    p = ad[0]
    var = sum(float((c[:, k] ** 2 * p[:, k]).sum() - (c[:, k] * p[:, k]).sum() ** 2) for k in range(L)) / n_sim
    se = float(np.sqrt(var) / (float(np.mean(data.pscore)) * float(data.reward.sum())))
    # obp's own figure carries the same Monte-Carlo error, so compare with sqrt(2) * se
    z = (rel - 1.1981263) / (np.sqrt(2.0) * se)
    return {"loader_arrays_equal_obp": same, "ipw_relative": rel, "mc_se": se, "obp_published": 1.1981263,
            "z_vs_published": float(z), "within_3_mc_se": bool(abs(z) <= 3.0),
            "bts_sims": n_sim, "bts_seconds": round(t_bts, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers-python", default=os.environ.get("SCREENTEST_PEERS_PYTHON", str(DEFAULT_PEERS)))
    ap.add_argument("--n-sim", type=int, default=100_000, help="Bernoulli TS Monte-Carlo draws (obp's n_sim)")
    ap.add_argument("--write-fixture", type=Path, default=None)
    ap.add_argument("--fixture-rows", type=int, default=500)
    args = ap.parse_args(argv)
    py = Path(args.peers_python)
    if not py.exists():
        print(json.dumps({"benchmark": "obp_parity", "status": "skipped", "reason": f"no peers venv at {py}"}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "peer.npz"
        t0 = time.perf_counter()
        subprocess.run([str(py), str(PEER_SCRIPT), str(path), str(args.n_sim), str(args.fixture_rows)],
                       check=True, cwd=tmp)
        t_obp = time.perf_counter() - t0
        z = dict(np.load(path))
    lam = float(z["lambda_"])
    data = {k: z[k] for k in ("reward", "action", "pscore", "position", "context")}
    data["n_actions"], data["len_list"] = int(z["n_actions"]), int(z["len_list"])
    ads = {"bts": z["ad_bts"], "soft": z["ad_soft"], "greedy": z["ad_greedy"]}
    ref_full = {k[len("obp_full_"):]: float(v) for k, v in z.items() if k.startswith("obp_full_")}
    diffs = compare(data, ads, z["estimated_rewards"], ref_full, lam)
    worst = max(v for d in diffs.values() for v in d.values())
    result = {
        "benchmark": "obp_parity", "obp": "0.5.7", "n_rounds": int(data["reward"].size),
        "n_actions": data["n_actions"], "len_list": data["len_list"], "tolerance": TOL,
        "max_relative_difference": worst, "passed": bool(worst <= TOL), "relative_difference": diffs,
        "obp_bts_ipw_relative": float(z["obp_full_bts_ipw_relative"]), "obp_side_seconds": round(t_obp, 1),
        "screentest_pipeline": own_pipeline_figure(z, args.n_sim),
    }
    if args.write_fixture is not None:
        write_fixture(args.write_fixture, z, args.fixture_rows)
        result["fixture"] = str(args.write_fixture)
    print(json.dumps(result))
    return 0 if worst <= TOL else 1


def write_fixture(path: Path, z: dict, n_fix: int) -> None:
    """The first ``n_fix`` rows' inputs and obp's outputs on them (see tests/fixtures/obp_parity.md).

    Only what the estimators read is kept: ``estimated_rewards`` and the softmax policy at the
    logged slot (``[i, :, position_i]``; the other slots hold zeros / a uniform distribution,
    which no estimator reads), so the file stays small.
    """
    sl = slice(0, n_fix)
    rows = np.arange(n_fix)
    pos = z["position"][sl]
    q = np.zeros_like(z["estimated_rewards"][sl])
    q[rows, :, pos] = z["estimated_rewards"][sl][rows, :, pos]
    out = {k: z[k][sl] for k in ("reward", "action", "pscore", "position")}
    out.update(n_actions=z["n_actions"], len_list=z["len_list"], lambda_=z["lambda_"], n_sim=z["n_sim"],
               estimated_rewards=q, ad_bts=z["ad_bts"][sl], ad_soft=z["ad_soft"][sl], ad_greedy=z["ad_greedy"][sl])
    for k, v in z.items():
        if k.startswith("obp_fixture_"):
            out["obp_" + k[len("obp_fixture_"):]] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    sys.exit(main())
