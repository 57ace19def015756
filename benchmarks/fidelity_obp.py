"""OPE on real supervised outcomes, screentest next to obp: the same logs, policies and reward model.

    .venv/bin/python benchmarks/fidelity_obp.py                        # 4 datasets x 2,000 / 20,000 rows
    .venv/bin/python benchmarks/fidelity_obp.py --datasets iris --rows 500 --no-obp   # quick

For each scikit-learn dataset (``envs.supervised``: the arms are the classes, playing the true class
earns 1, ``--noise`` flips it) and each log size, a log is drawn with uniform logging (examples
uniform with replacement, actions uniform, ``pscore = 1/K``). Three fixed target policies are
evaluated on it:

- ``classifier``: a logistic regression (``C=0.05``) fitted on a random half of the examples,
  playing its predicted class (deterministic);
- ``soft_classifier``: the same prediction with probability ``1 - --soften``, else uniform;
- ``uniform``: every class with probability ``1/K`` (the logging policy itself).

The truth is exact (:func:`envs.supervised.policy_value`: the policy's label accuracy over the
examples, through the noise). DM, IPW, SNIPW and DR come from :func:`bandits.estimators.evaluate`
and, when the peers venv exists (``--peers-python``), from obp 0.5.7's estimators in a subprocess
(``benchmarks/_obp_peer_fidelity.py``, data passed by ``.npz`` in a temporary folder). DM and DR use
one reward-model array on both sides (:func:`bandits.estimators.fit_reward_model`, cross-fitted on
the log), so the comparison is of the estimators, not of two models.

Prints one JSON line: ``records`` (one per dataset x rows x policy x estimator: ``truth, ours,
ours_std_err, z_ours`` (error in standard errors), ``obp, rel_err_ours, rel_err_obp, abs_diff``), ``max_abs_diff_vs_obp`` and
``max_rel_err`` per estimator and size; ``obp`` says whether obp ran.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ESTIMATORS = ("dm", "ipw", "snipw", "dr")
POLICIES = ("classifier", "soft_classifier", "uniform")
PEER_SCRIPT = Path(__file__).with_name("_obp_peer_fidelity.py")
DEFAULT_PEERS = Path.home() / ".cache" / "screentest-peers" / "bin" / "python"


def target_policies(contexts: np.ndarray, labels: np.ndarray, soften: float, seed: int) -> dict[str, np.ndarray]:
    """``{policy: (n_examples, K) float64}`` action probabilities at every example (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression

    n, K = labels.shape[0], int(labels.max()) + 1
    half = np.random.default_rng(seed).permutation(n)[: n // 2]
    clf = LogisticRegression(C=0.05, max_iter=2000).fit(contexts[half], labels[half])
    onehot = np.eye(K)[clf.predict(contexts)]
    uniform = np.full((n, K), 1.0 / K)
    return {"classifier": onehot, "soft_classifier": (1 - soften) * onehot + soften * uniform, "uniform": uniform}


def draw_log(contexts: np.ndarray, labels: np.ndarray, noise: float, n_rows: int, rng: np.random.Generator) -> dict:
    """A uniform-logging log of ``n_rows`` rounds (obp's ``bandit_feedback`` keys) plus ``index`` of the examples."""
    n, K = labels.shape[0], int(labels.max()) + 1
    index = rng.integers(0, n, n_rows)
    action = rng.integers(0, K, n_rows)
    mu = noise + (1 - 2 * noise) * (action == labels[index])
    reward = (rng.random(n_rows) < mu).astype(np.float64)
    return {"reward": reward, "action": action.astype(np.int64), "pscore": np.full(n_rows, 1.0 / K),
            "context": contexts[index], "n_actions": K, "index": index}


def _run_obp(py: Path, cases: dict[str, dict]) -> dict[str, list[dict[str, float]]]:
    with tempfile.TemporaryDirectory() as tmp:
        for key, c in cases.items():
            np.savez(Path(tmp) / f"case_{key}.npz", reward=c["reward"], action=c["action"], pscore=c["pscore"],
                     action_dist=c["action_dist"], estimated_rewards=c["estimated_rewards"])
        out = subprocess.run([str(py), str(PEER_SCRIPT), tmp], check=True, capture_output=True, text=True, cwd=tmp)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="digits,wine,breast_cancer,iris")
    ap.add_argument("--rows", default="2000,20000", help="comma-separated log sizes")
    ap.add_argument("--noise", type=float, default=0.0, help="reward flip probability in [0, 0.5)")
    ap.add_argument("--soften", type=float, default=0.3, help="uniform share of soft_classifier, in (0, 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers-python", default=str(DEFAULT_PEERS))
    ap.add_argument("--no-obp", dest="obp", action="store_false")
    args = ap.parse_args(argv)
    if not 0.0 < args.soften < 1.0:
        raise ValueError(f"--soften: expected a share in (0, 1), got {args.soften}")
    rows = [int(r) for r in args.rows.split(",")]
    if any(r < 2 for r in rows):
        raise ValueError(f"--rows: expected log sizes >= 2, got {args.rows!r}")

    from bandits.estimators import evaluate, fit_reward_model
    from envs.supervised import policy_value, supervised_env

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    cases: dict[str, dict] = {}
    records: list[dict] = []
    for name in args.datasets.split(","):
        params = supervised_env(name, noise=args.noise).default_params
        X = np.asarray(params.contexts, np.float64)
        y = np.asarray(params.labels)
        pols = target_policies(X, y, args.soften, args.seed)
        truth = {p: policy_value(params, pi) for p, pi in pols.items()}
        for n_rows in rows:
            log = draw_log(X, y, float(params.noise), n_rows, rng)
            q = fit_reward_model(log, n_folds=3, random_state=args.seed)
            ads = np.stack([pols[p][log["index"]] for p in POLICIES])[..., None]  # (P, n, K, 1)
            data = {k: log[k] for k in ("reward", "action", "pscore", "context", "n_actions")}
            key = f"{name}@{n_rows}"
            cases[key] = {**data, "action_dist": ads, "estimated_rewards": q}
            for p, ad in zip(POLICIES, ads, strict=True):
                df = evaluate(data, ad, ESTIMATORS, estimated_rewards=q, interval="normal").set_index("estimator")
                for e in ESTIMATORS:
                    ours = float(df.loc[e, "estimate"])
                    records.append({"dataset": name, "rows": n_rows, "policy": p, "estimator": e,
                                    "truth": truth[p], "ours": ours, "ours_std_err": float(df.loc[e, "std_err"]),
                                    "rel_err_ours": abs(ours - truth[p]) / truth[p],
                                    "z_ours": (ours - truth[p]) / float(df.loc[e, "std_err"])})
    res: dict = {"datasets": args.datasets.split(","), "rows": rows, "noise": args.noise, "soften": args.soften,
                 "seed": args.seed, "logging": "uniform"}
    py = Path(args.peers_python)
    if args.obp and py.exists():
        obp = _run_obp(py, cases)
        for r in records:
            v = obp[f"{r['dataset']}@{r['rows']}"][POLICIES.index(r["policy"])][r["estimator"]]
            r.update(obp=v, rel_err_obp=abs(v - r["truth"]) / r["truth"], abs_diff=abs(r["ours"] - v))
        res["obp"] = "obp 0.5.7 (peers venv)"
        res["max_abs_diff_vs_obp"] = max(r["abs_diff"] for r in records)
    else:
        res["obp"] = f"skipped: no peers venv at {py}" if args.obp else "skipped: --no-obp"
    res["max_rel_err"] = {f"{e}@{n}": max(r["rel_err_ours"] for r in records if r["estimator"] == e and r["rows"] == n)
                          for e in ESTIMATORS for n in rows}
    res["records"] = records
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
