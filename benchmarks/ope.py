"""OPE speed: DM + IPW + SNIPW + DR on n rows, normal and bootstrap intervals, a streamed parquet
log in bounded memory, and obp 0.5.7 side by side (peers venv, subprocess) when it exists.

    .venv/bin/python -m benchmarks.ope                       # n=1M, K=10, B=1000, stream 10M rows
    .venv/bin/python -m benchmarks.ope --n 100000 --stream-rows 0 --obp-B 0   # quick
    .venv/bin/python -m benchmarks.ope --only-extended    # slates, MIPS, SLOPE against obp

Prints one JSON line. Timings are the best of ``--repeat`` runs, wall clock (``*_s``) and process
CPU time (``*_cpu_s``, less sensitive to a busy machine). The streamed part runs in a child
process so that its peak RSS (``ru_maxrss``) is its own.

Targets (issue 4): point estimates of the four <= 0.1 s at n = 1M, K = 10 (obp 0.34 s, a bare
numpy pass 0.026 s); bootstrap B = 1000 for all four <= 3 s (obp ~35 s).

``--extended`` (or ``--only-extended``) also times, against obp in the same run, the slate
estimators (``--ext-slates`` slates of 3 slots, 10 items, Plackett-Luce logger and target), MIPS and
SNMIPS with the true ``p_e_a`` (``--ext-mips-n`` rows, 500 items, 3 embedding dimensions of 10
categories) and SLOPE tuning of IPW and DR over 8 thresholds (``--ext-tune-n`` rows, 10 actions).
screentest's side includes building and validating its inputs (``SlateLog``, ``EmbeddedLog``,
each given the probabilities the estimator reads, as obp's estimators are);
it is timed before and after obp's subprocess, and the best of both runs is kept (``*_ratio`` =
obp's best time / screentest's, wall clock and CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ESTIMATORS = ("dm", "ipw", "snipw", "dr")
PEER_SCRIPT = Path(__file__).with_name("_obp_peer_ope.py")
DEFAULT_PEERS = Path.home() / ".cache" / "screentest-peers" / "bin" / "python"


def make_log(n: int, K: int, seed: int = 0):
    """Synthetic log: softmax logging policy, Dirichlet target, Bernoulli rewards, random q_hat."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, K))
    pb = np.exp(logits)
    pb /= pb.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    action = np.minimum((np.cumsum(pb, axis=1) < u).sum(axis=1), K - 1).astype(np.int64)
    pscore = pb[np.arange(n), action]
    reward = (rng.random(n) < 0.1 + 0.05 * (action % 3)).astype(np.float64)
    action_dist = rng.dirichlet(np.ones(K), size=n)[:, :, None]
    q = rng.uniform(0.0, 0.3, size=(n, K, 1))
    data = {"reward": reward, "action": action, "pscore": pscore, "n_actions": K, "len_list": 1}
    return data, action_dist, q


def _time(fn, repeat: int) -> tuple[float, float, object]:
    best_w, best_c, out = np.inf, np.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_w = min(best_w, time.perf_counter() - w0)
        best_c = min(best_c, time.process_time() - c0)
    return best_w, best_c, out


def bare_numpy(data, ad, q) -> dict[str, float]:
    """The minimal numpy computation of the four estimates (no validation, no intervals)."""
    n = data["reward"].shape[0]
    a2, q2 = ad[:, :, 0], q[:, :, 0]
    pi_f = a2[np.arange(n), data["action"]]
    w = pi_f / data["pscore"]
    wr = w * data["reward"]
    q_pi = np.einsum("nk,nk->n", q2, a2)
    q_f = q2[np.arange(n), data["action"]]
    return {"dm": q_pi.mean(), "ipw": wr.mean(), "snipw": wr.sum() / w.sum(),
            "dr": q_pi.mean() + (w * (data["reward"] - q_f)).mean()}


def in_memory(args) -> dict:
    from bandits.estimators import evaluate

    data, ad, q = make_log(args.n, args.K, args.seed)
    res: dict = {"n": args.n, "K": args.K}
    t, c, _ = _time(lambda: bare_numpy(data, ad, q), args.repeat)
    res.update(bare_numpy_s=t, bare_numpy_cpu_s=c)
    t, c, df = _time(lambda: evaluate(data, ad, ESTIMATORS, estimated_rewards=q, interval=None), args.repeat)
    res.update(point_s=t, point_cpu_s=c, values={r.estimator: r.estimate for r in df.itertuples()})
    t, c, _ = _time(lambda: evaluate(data, ad, ESTIMATORS, estimated_rewards=q, interval="normal"), args.repeat)
    res.update(normal_s=t, normal_cpu_s=c)
    if args.B > 0:
        t, c, df = _time(lambda: evaluate(data, ad, ESTIMATORS, estimated_rewards=q, interval="bootstrap",
                                          n_bootstrap=args.B, random_state=0), max(1, args.repeat - 1))
        res.update(bootstrap_B=args.B, bootstrap_s=t, bootstrap_cpu_s=c,
                   bootstrap_ci={r.estimator: [r.ci_low, r.ci_high] for r in df.itertuples()})
    py = Path(args.peers_python)
    if args.obp and py.exists():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "log.npz"
            np.savez(path, reward=data["reward"], action=data["action"], pscore=data["pscore"],
                     action_dist=ad, estimated_rewards=q)
            out = subprocess.run([str(py), str(PEER_SCRIPT), str(path), str(args.obp_B), str(args.repeat)],
                                 check=True, capture_output=True, text=True, cwd=tmp)
        obp = json.loads(out.stdout.strip().splitlines()[-1])
        res.update(obp)
        res["max_rel_diff_vs_obp"] = max(abs(res["values"][k] - obp["obp_values"][k]) / abs(obp["obp_values"][k])
                                         for k in ESTIMATORS)
    elif args.obp:
        res["obp"] = f"skipped: no peers venv at {py}"
    return res


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.minimum((p.cumsum(axis=1) < rng.random((p.shape[0], 1))).sum(axis=1), p.shape[1] - 1)


def make_ext(args) -> dict[str, np.ndarray]:
    """Synthetic inputs of the extended benchmark (see the module docstring), obp's names."""
    from bandits.estimators import plackett_luce_pscores

    rng = np.random.default_rng(args.seed)
    S, K, L = args.ext_slates, 10, 3
    zb = rng.normal(size=(S, K))
    ze = zb + rng.normal(size=(S, K))
    slates = np.argsort(-(zb + rng.gumbel(size=(S, K))), axis=1)[:, :L]
    b, e = plackett_luce_pscores(zb, slates), plackett_luce_pscores(ze, slates)
    out = {"s_slate_id": np.repeat(np.arange(S), L), "s_position": np.tile(np.arange(L), S),
           "s_action": slates.reshape(-1), "s_reward": rng.binomial(1, 0.2, S * L).astype(np.float64),
           "s_q_hat": rng.uniform(0.0, 0.5, S * L * K), "s_e_action_dist": e["action_dist"].reshape(-1),
           "s_len_list": L, "s_n_actions": K}
    for k in ("pscore", "pscore_cascade", "pscore_item_position"):
        out[f"s_{k}"], out[f"s_e_{k}"] = b[k], e[k]
    n, Km, C, D = args.ext_mips_n, 500, 10, 3
    pb, pe = _softmax(rng.normal(size=(n, Km))), _softmax(1.5 * rng.normal(size=(n, Km)))
    a = _draw(pb, rng)
    pea = rng.dirichlet(np.ones(C), size=(Km, D)).transpose(0, 2, 1)
    emb = np.stack([_draw(pea[a, :, d], rng) for d in range(D)], axis=1)
    out.update(m_reward=rng.binomial(1, 0.3, n).astype(np.float64), m_action=a, m_action_embed=emb,
               m_pi_b=pb[:, :, None], m_action_dist=pe[:, :, None], m_p_e_a=pea, m_pscore=pb[np.arange(n), a],
               m_n_actions=Km)
    nt, Kt = args.ext_tune_n, 10
    pbt, pet = _softmax(rng.normal(size=(nt, Kt))), _softmax(2.0 * rng.normal(size=(nt, Kt)))
    at = _draw(pbt, rng)
    out.update(t_reward=rng.binomial(1, 0.3, nt).astype(np.float64), t_action=at, t_pscore=pbt[np.arange(nt), at],
               t_action_dist=pet[:, :, None], t_q=rng.uniform(0.1, 0.5, (nt, Kt, 1)),
               t_lambdas=np.array([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, np.inf]))
    return out


def _ext_ours(z: dict, repeat: int) -> dict:
    from bandits.estimators import EmbeddedLog, evaluate
    from bandits.estimators.selection import slope
    from bandits.estimators.slate import SlateLog, SlateTarget

    names = ("sips", "iips", "rips", "snsips", "sniips", "snrips", "cascade-dr")
    L, K = int(z["s_len_list"]), int(z["s_n_actions"])

    kinds = {"sips": "pscore", "snsips": "pscore", "iips": "pscore_item_position", "sniips": "pscore_item_position",
             "rips": "pscore_cascade", "snrips": "pscore_cascade", "cascade-dr": "pscore_cascade"}

    def slate(nm):
        # like obp, each estimator gets the probabilities it reads (all of them for the joint call)
        need = {kinds[x] for x in nm}
        log = SlateLog(action=z["s_action"], reward=z["s_reward"], position=z["s_position"], slate_id=z["s_slate_id"],
                       n_actions=K, len_list=L, **{k: z[f"s_{k}"] for k in need})
        tg = SlateTarget(**{k: z[f"s_e_{k}"] for k in need},
                         action_dist=z["s_e_action_dist"] if "cascade-dr" in nm else None)
        q = z["s_q_hat"] if "cascade-dr" in nm else None
        return evaluate(log, tg, list(nm), estimated_rewards=q, interval=None)["estimate"].to_numpy()

    res: dict = {"slate_s": {}, "slate_cpu_s": {}, "slate_values": {}}
    for nm in names:
        t, c, v = _time(lambda nm=nm: slate([nm]), repeat)
        res["slate_s"][nm], res["slate_cpu_s"][nm], res["slate_values"][nm] = t, c, float(v[0])
    t, c, _ = _time(lambda: slate(names), repeat)
    res.update(slate_all_s=t, slate_all_cpu_s=c)

    def mips(nm):
        data = EmbeddedLog(context=None, action=z["m_action"], reward=z["m_reward"], pscore=z["m_pscore"],
                           n_actions=int(z["m_n_actions"]), action_embed=z["m_action_embed"], pi_b=z["m_pi_b"],
                           p_e_a=z["m_p_e_a"])
        return evaluate(data, z["m_action_dist"], [nm], interval=None)["estimate"].iloc[0]

    for nm in ("mips", "snmips"):
        t, c, v = _time(lambda nm=nm: mips(nm), repeat)
        res[f"{nm}_s"], res[f"{nm}_cpu_s"], res[f"{nm}_value"] = t, c, float(v)
    data = {"reward": z["t_reward"], "action": z["t_action"], "pscore": z["t_pscore"], "n_actions": 10}
    for nm in ("ipw", "dr"):
        q = None if nm == "ipw" else z["t_q"]
        t, c, r = _time(lambda nm=nm, q=q: slope(data, z["t_action_dist"], nm, list(z["t_lambdas"]),
                                                  estimated_rewards=q), repeat)
        res[f"slope_{nm}_s"], res[f"slope_{nm}_cpu_s"] = t, c
        res[f"slope_{nm}_value"], res[f"slope_{nm}_lambda"] = r.value, r.lambda_
    return res


def extended(args) -> dict:
    """Slates, MIPS and SLOPE: screentest, obp (subprocess), screentest again; best times kept."""
    z = make_ext(args)
    first = _ext_ours(z, args.repeat)
    py = Path(args.peers_python)
    res: dict = {"ext_slates": args.ext_slates, "ext_mips_n": args.ext_mips_n, "ext_tune_n": args.ext_tune_n}
    if not py.exists():
        res.update(first)
        res["ext_obp"] = f"skipped: no peers venv at {py}"
        return res
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ext.npz"
        np.savez(path, **z)
        out = subprocess.run([str(py), str(Path(__file__).with_name("_obp_peer_ope_ext.py")), str(path),
                              str(args.repeat)], check=True, capture_output=True, text=True, cwd=tmp)
    obp = json.loads(out.stdout.strip().splitlines()[-1])
    second = _ext_ours(z, args.repeat)
    best = {}
    for k, v in first.items():
        if isinstance(v, dict) and k.endswith("_s"):
            best[k] = {nm: min(v[nm], second[k][nm]) for nm in v}
        elif k.endswith("_s"):
            best[k] = min(v, second[k])
        else:
            best[k] = v
    res.update(best)
    res.update(obp)
    ratios, diffs = {}, {}
    for nm in best["slate_s"]:
        ratios[f"slate_{nm}"] = (obp["obp_slate_s"][nm] / best["slate_s"][nm],
                                 obp["obp_slate_cpu_s"][nm] / best["slate_cpu_s"][nm])
        diffs[f"slate_{nm}"] = abs(best["slate_values"][nm] / obp["obp_slate_values"][nm] - 1)
    for nm in ("mips", "snmips"):
        ratios[nm] = (obp[f"obp_{nm}_s"] / best[f"{nm}_s"], obp[f"obp_{nm}_cpu_s"] / best[f"{nm}_cpu_s"])
    diffs["mips"] = abs(best["mips_value"] / obp["obp_mips_value"] - 1)
    for nm in ("ipw", "dr"):
        ratios[f"slope_{nm}"] = (obp[f"obp_slope_{nm}_s"] / best[f"slope_{nm}_s"],
                                 obp[f"obp_slope_{nm}_cpu_s"] / best[f"slope_{nm}_cpu_s"])
        diffs[f"slope_{nm}"] = abs(best[f"slope_{nm}_value"] / obp[f"obp_slope_{nm}_value"] - 1)
    res["ext_ratio_wall_cpu"] = ratios
    res["ext_min_ratio_wall"] = min(r[0] for r in ratios.values())
    res["ext_max_rel_diff_vs_obp"] = max(diffs.values())
    return res


def write_parquet(path: Path, rows: int, K: int, d: int, batch: int, seed: int) -> None:
    """A synthetic log of ``rows`` rows (context_0..d-1 float32, action, reward, pscore), written in
    batches so the writer's memory stays bounded too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for i0 in range(0, rows, batch):
        m = min(batch, rows - i0)
        x = rng.normal(size=(m, d)).astype(np.float32)
        action = rng.integers(0, K, m)
        reward = (rng.random(m) < 0.1 + 0.05 * (action % 3)).astype(np.float64)
        cols = {f"context_{j}": x[:, j] for j in range(d)}
        cols.update(action=action, reward=reward, pscore=np.full(m, 1.0 / K))
        table = pa.table(cols)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=min(batch, 1_000_000))
    writer.close()


def streamed(args) -> dict:
    """Evaluate a parquet log of ``--stream-rows`` rows batch by batch; reports peak RSS."""
    from bandits.estimators import evaluate_batches

    try:
        from bandits.data import iter_parquet_batches
    except ImportError:  # pragma: no cover - the data module is a teammate's
        iter_parquet_batches = None
    K, d = args.K, 5
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(d, K))  # target policy: softmax(x @ theta)
    beta = rng.normal(scale=0.1, size=(d, K))  # reward model: 0.1 + sigmoid-ish(x @ beta) / 5

    def action_dist(b):
        z = np.asarray(b.context, np.float64) @ theta
        p = np.exp(z - z.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True))[:, :, None]

    def q_hat(b):
        return (0.1 + 0.2 / (1.0 + np.exp(-np.asarray(b.context, np.float64) @ beta)))[:, :, None]

    path = Path(args.stream_file)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cols = [f"context_{j}" for j in range(d)]
    batches = iter_parquet_batches(path, batch_rows=args.batch_rows, context_cols=cols, n_actions=K)
    t0, c0 = time.perf_counter(), time.process_time()
    df = evaluate_batches(batches, action_dist=action_dist, estimated_rewards=q_hat, estimators=ESTIMATORS,
                          interval="bootstrap" if args.B > 0 else "normal", n_bootstrap=max(args.B, 2))
    t_eval, c_eval = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"stream_rows": int(df["n_rounds"][0]), "batch_rows": args.batch_rows,
            "stream_interval": df["interval"][0], "stream_eval_s": t_eval, "stream_eval_cpu_s": c_eval,
            "stream_peak_rss_mb": peak, "stream_rss_after_imports_mb": rss_before,
            "stream_file_mb": round(path.stat().st_size / 2**20, 1),
            "stream_values": {r.estimator: r.estimate for r in df.itertuples()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="OPE speed benchmark (one JSON line)")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--B", type=int, default=1000, help="bootstrap replicates (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--obp", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--obp-B", type=int, default=1000, help="obp bootstrap replicates (0: skip, it is slow)")
    ap.add_argument("--peers-python", default=os.environ.get("SCREENTEST_PEERS_PYTHON", str(DEFAULT_PEERS)))
    ap.add_argument("--stream-rows", type=int, default=10_000_000, help="rows of the streamed parquet log (0: skip)")
    ap.add_argument("--batch-rows", type=int, default=1_000_000)
    ap.add_argument("--stream-dir", default=None, help="keep the parquet file here (reused when present)")
    ap.add_argument("--stream-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stream-file", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-in-memory", action="store_true", help="only the streamed part")
    ap.add_argument("--extended", action="store_true", help="also slates, MIPS and SLOPE against obp")
    ap.add_argument("--only-extended", action="store_true", help="only slates, MIPS and SLOPE against obp")
    ap.add_argument("--ext-slates", type=int, default=100_000)
    ap.add_argument("--ext-mips-n", type=int, default=20_000)
    ap.add_argument("--ext-tune-n", type=int, default=200_000)
    args = ap.parse_args(argv)
    for name in ("n", "K", "repeat", "batch_rows"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: expected an integer >= 1, got {getattr(args, name)}")
    if args.stream_only:
        print(json.dumps(streamed(args)))
        return 0
    res = {"benchmark": "ope"}
    if args.only_extended:
        res.update(extended(args))
        print(json.dumps(res))
        return 0
    if args.extended:
        res.update(extended(args))
    if not args.skip_in_memory:
        res.update(in_memory(args))
    if args.stream_rows > 0:
        # the file is written here, the evaluation runs in a child whose peak RSS is its own
        tmpdir = Path(args.stream_dir or tempfile.mkdtemp(prefix="screentest-ope-"))
        tmpdir.mkdir(parents=True, exist_ok=True)
        path = tmpdir / f"log_{args.stream_rows}_K{args.K}.parquet"
        t0 = time.perf_counter()
        if not path.exists():
            write_parquet(path, args.stream_rows, args.K, 5, min(args.batch_rows, 1_000_000), args.seed)
        res["stream_write_s"] = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "benchmarks.ope", "--stream-only", "--stream-file", str(path), "--K",
               str(args.K), "--B", str(args.B), "--batch-rows", str(args.batch_rows)]
        try:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 cwd=Path(__file__).resolve().parents[1])
        finally:
            if not args.stream_dir:
                path.unlink()
                tmpdir.rmdir()
        res.update(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
