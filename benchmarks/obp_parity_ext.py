"""Parity with obp 0.5.7 for slates, MIPS, SLOPE tuning and policy learning, on obp's own synthetic data.

    .venv/bin/python -m benchmarks.obp_parity_ext [--write-fixture tests/fixtures/obp_parity_ext.npz]
    .venv/bin/python -m benchmarks.obp_parity_ext --opl-seeds 20 --n-test 5000 --n-train 2000   # learner study

1. Runs ``benchmarks/_obp_peer_ext.py`` in the peers venv (``~/.cache/screentest-peers``, or
   ``--peers-python``): obp's ``SyntheticSlateBanditDataset``, ``SyntheticBanditDatasetWithActionEmbeds``
   and ``SyntheticBanditDataset``, its slate estimators, MIPW / SNMIPW, the ``*Tuning``
   estimators with ``tuning_method="slope"``, and ``IPWLearner`` on ``--opl-seeds`` training logs.
2. Evaluates the same inputs with screentest and compares: slate estimators, the Plackett-Luce
   probabilities recomputed from the policies' logits, MIPS with the true ``p_e_a`` and with obp's
   classifier, the SLOPE choice and value (relative difference, tolerance 1e-9), and the learned
   policies' true values (screentest's learners against ``IPWLearner``, paired by training log).
3. ``--write-fixture``: the peer's inputs and outputs for
   ``tests/bandits/estimators/test_estimators_parity_ext.py`` (learner arrays in float32).

Prints one JSON line; exit status 1 when a parity value differs by more than the tolerance.
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

PEER_SCRIPT = Path(__file__).with_name("_obp_peer_ext.py")
DEFAULT_PEERS = Path.home() / ".cache" / "screentest-peers" / "bin" / "python"
TOL = 1e-9
SLATE = ("sips", "iips", "rips", "snsips", "sniips", "snrips", "cascade-dr")
TUNED = ("ipw", "dr", "switch-dr", "dr-os")


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def slate_inputs(z: dict):
    from bandits.estimators.slate import SlateLog, SlateTarget

    bf = {k[len("slate_"):]: v for k, v in z.items() if k.startswith("slate_") and not k.startswith("slate_e_")}
    log = SlateLog.from_obp(dict(bf, n_unique_action=int(z["slate_n_unique_action"]),
                                 len_list=int(z["slate_len_list"])))
    tg = SlateTarget.from_obp(evaluation_policy_pscore=z["slate_e_pscore"],
                              evaluation_policy_pscore_cascade=z["slate_e_pscore_cascade"],
                              evaluation_policy_pscore_item_position=z["slate_e_pscore_item_position"],
                              evaluation_policy_action_dist=z["slate_e_action_dist"])
    return log, tg


def compare_slates(z: dict) -> dict[str, float]:
    from bandits.estimators import evaluate
    from bandits.estimators.slate import plackett_luce_pscores

    log, tg = slate_inputs(z)
    df = evaluate(log, tg, list(SLATE), estimated_rewards=z["slate_q_hat"], interval=None)
    out = {nm: rel(v, float(z[f"obp_slate_{nm}"])) for nm, v in zip(df["estimator"], df["estimate"], strict=True)}
    b = plackett_luce_pscores(z["slate_b_logit"], log.slates())
    e = plackett_luce_pscores(z["slate_e_logit"], log.slates())
    for k in ("pscore", "pscore_cascade", "pscore_item_position"):
        out[f"logger_{k}"] = float(np.max(np.abs(b[k] / z[f"slate_{k}"] - 1)))
        out[f"target_{k}"] = float(np.max(np.abs(e[k] / z[f"slate_e_{k}"] - 1)))
    out["target_action_dist"] = float(np.max(np.abs(e["action_dist"].reshape(-1) - z["slate_e_action_dist"])))
    return out


def embed_log(z: dict, tag: str, route: str):
    from bandits.estimators import EmbeddedLog

    g = lambda k: z[f"mips_{tag}_{k}"]  # noqa: E731
    kw = {"action_embed": g("action_embed"), "pi_b": g("pi_b")}
    if route == "exact":
        kw["p_e_a"] = g("p_e_a")
    return EmbeddedLog(context=g("context"), action=g("action"), reward=g("reward"), pscore=g("pscore"),
                       n_actions=g("pi_b").shape[1], **kw), g("action_dist")


def compare_mips(z: dict) -> tuple[dict[str, float], dict[str, float]]:
    """Parity values, and the one known difference (SNMIPW with p_e_a over several dimensions)."""
    from bandits.estimators import evaluate

    out, known = {}, {}
    for tag in ("d3", "d1"):
        for route in ("exact", "classifier"):
            data, ad = embed_log(z, tag, route)
            df = evaluate(data, ad, ["mips", "snmips"], interval=None)
            for nm, v in zip(df["estimator"], df["estimate"], strict=True):
                theirs = float(z[f"obp_{nm}_{tag}_{route}"])
                if (nm, tag, route) == ("snmips", "d3", "exact"):
                    known[f"{nm}_{tag}_{route}"] = rel(v, theirs)
                else:
                    out[f"{nm}_{tag}_{route}"] = rel(v, theirs)
    return out, known


def compare_tuning(z: dict) -> dict[str, dict]:
    from bandits.estimators.selection import slope

    data = {"reward": z["tune_reward"], "action": z["tune_action"], "pscore": z["tune_pscore"],
            "n_actions": z["tune_action_dist"].shape[1]}
    out = {}
    for nm in TUNED:
        lams = list(z["tune_lambdas_os"] if nm == "dr-os" else z["tune_lambdas"])
        r = slope(data, z["tune_action_dist"], nm, lams, estimated_rewards=None if nm == "ipw" else z["tune_q"])
        out[nm] = {"lambda": r.lambda_, "obp_lambda": float(z[f"obp_tune_{nm}_lambda"]),
                   "relative_difference": rel(r.value, float(z[f"obp_tune_{nm}_value"]))}
    return out


def compare_learners(z: dict) -> dict:
    """True values on the test contexts, paired by training log: screentest's learners vs IPWLearner."""
    from bandits.learners import train_policy

    n_seeds = int(z["n_seeds"])
    obp = np.asarray(z["obp_opl_values"], dtype=np.float64)
    res: dict = {"obp_ipw_learner": obp.tolist(), "logging": [float(z[f"opl_{s}_logging_value"]) for s in range(n_seeds)]}
    for obj in ("snipw", "ipw", "dr"):
        vals = []
        for s in range(n_seeds):
            g = lambda k, s=s: np.asarray(z[f"opl_{s}_{k}"], np.float64)  # noqa: E731
            data = {"context": g("train_context"), "action": g("train_action").astype(np.int64),
                    "reward": g("train_reward"), "pscore": g("train_pscore"), "n_actions": g("test_expected_reward").shape[1]}
            p = train_policy(data, objective=obj, steps=300).params
            p = {k: np.asarray(v, np.float64) for k, v in p.items()}
            s_ = ((g("test_context") - p["mu"]) / p["sd"]) @ p["W"] + p["b"]
            Q = g("test_expected_reward")
            vals.append(float(Q[np.arange(Q.shape[0]), s_.argmax(axis=1)].mean()))  # greedy, as IPWLearner
        d = np.array(vals) - obp
        se = float(d.std(ddof=1) / np.sqrt(n_seeds)) if n_seeds > 1 else float("nan")
        res[obj] = {"values": vals, "mean": float(np.mean(vals)), "mean_minus_obp": float(d.mean()), "se_of_difference": se,
                    "within_2se_or_better": bool(d.mean() >= -2 * se)}
    res["obp_mean"] = float(obp.mean())
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers-python", default=os.environ.get("SCREENTEST_PEERS_PYTHON", str(DEFAULT_PEERS)))
    ap.add_argument("--write-fixture", type=Path, default=None)
    ap.add_argument("--n-slates", type=int, default=300)
    ap.add_argument("--n-tune", type=int, default=600)
    ap.add_argument("--n-train", type=int, default=800)
    ap.add_argument("--n-test", type=int, default=800)
    ap.add_argument("--opl-seeds", type=int, default=3)
    ap.add_argument("--keep-peer", type=Path, default=None, help="also save the peer's .npz here")
    ap.add_argument("--peer-npz", type=Path, default=None, help="reuse a saved peer .npz instead of running obp")
    args = ap.parse_args(argv)
    py = Path(args.peers_python)
    t_obp = 0.0
    if args.peer_npz is not None:
        z = dict(np.load(args.peer_npz))
    elif not py.exists():
        print(json.dumps({"benchmark": "obp_parity_ext", "status": "skipped", "reason": f"no peers venv at {py}"}))
        return 0
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "peer.npz"
            t0 = time.perf_counter()
            sizes = [args.n_slates, 250, 150, 40, args.n_tune, args.n_train, args.n_test, args.opl_seeds]
            subprocess.run([str(py), str(PEER_SCRIPT), str(path), *map(str, sizes)], check=True, cwd=tmp,
                           stderr=subprocess.DEVNULL)
            t_obp = time.perf_counter() - t0
            z = dict(np.load(path))
            if args.keep_peer is not None:
                np.savez(args.keep_peer, **z)
    slates = compare_slates(z)
    mips, known = compare_mips(z)
    tuning = compare_tuning(z)
    worst = max([*slates.values(), *mips.values(), *(t["relative_difference"] for t in tuning.values())])
    same_lambda = all(t["lambda"] == t["obp_lambda"] for t in tuning.values())
    result = {
        "benchmark": "obp_parity_ext", "obp": "0.5.7", "tolerance": TOL, "max_relative_difference": worst,
        "passed": bool(worst <= TOL and same_lambda), "slates": slates, "mips": mips, "slope": tuning,
        "known_difference": {"snmips_d3_exact": known, "why": "obp's SNMIPW with p_e_a multiplies per-dimension "
                             "marginals p(e_d|x,pi); its MIPW and screentest use the joint p(e|x,pi)"},
        "mips_truth": {t: float(z[f"mips_{t}_truth"]) for t in ("d3", "d1")},
        "learners": compare_learners(z), "obp_side_seconds": round(t_obp, 1),
    }
    if args.write_fixture is not None:
        write_fixture(args.write_fixture, z)
        result["fixture"] = str(args.write_fixture)
    print(json.dumps(result))
    return 0 if result["passed"] else 1


def write_fixture(path: Path, z: dict) -> None:
    """The peer's arrays (see tests/fixtures/obp_parity_ext.md); learner arrays as float32."""
    drop = ("slate_expected_reward_factual", "mips_d3_expected_reward", "mips_d1_expected_reward")
    out = {}
    for k, v in z.items():
        if k in drop:
            continue
        if k.startswith("opl_") and np.asarray(v).dtype == np.float64 and np.asarray(v).ndim > 0:
            v = np.asarray(v, np.float32)
        out[k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    sys.exit(main())
