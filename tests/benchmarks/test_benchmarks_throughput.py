"""The throughput benchmark runs end to end on tiny sizes and reports every field the README quotes
(a smoke test of the script, not a timing: speed is never asserted in tests)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from tests.benchmarks._run import run_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_throughput_benchmark_prints_one_json_line_with_references():
    policy = "linucb"
    (out,) = run_json(["-m", "benchmarks.throughput", "--policy", policy, "--arms", "3", "--dim", "2",
                       "--horizon", "40", "--seeds", "4", "--repeat", "1", "--numpy-rounds", "30",
                       "--reference-horizon", "20", "--no-peers"])
    for key in ("rounds_per_s", "median_rounds_per_s", "single_seed_rounds_per_s", "numpy_rounds_per_s",
                "jax_reference_rounds_per_s", "single_seed_jax_reference_rounds_per_s",
                "numpy_minimal_rounds_per_s", "machine_factor_vs_issue", "ratio_vs_jax_reference",
                "peak_rss_mb"):
        assert math.isfinite(out[key]) and out[key] > 0, (key, out[key])
    assert out["policy"] == policy and out["seeds"] == 4 and out["horizon"] == 40
    assert out.get("numba", "").startswith("not installed") or out["ratio_vs_numba"] > 0
    assert {row["kind"] for row in out["issue_target"]} == {"sweep", "single"}
    for row in out["issue_target"]:
        assert row["required_ratio"] == pytest.approx(row["target"] / row["issue_reference"])
        assert row["meets_ratio"] == (row["ratio_vs_jax_reference"] >= row["required_ratio"])


def test_issue_targets_read_as_ratio_and_scaled_by_machine_factor():
    sys.path.insert(0, str(ROOT))
    from benchmarks.throughput import issue_targets

    ref = {"jax_reference_rounds_per_s": 100.0, "single_seed_jax_reference_rounds_per_s": 10.0}
    (row,) = issue_targets("lints", 700.0, 1.0, ref, factor=2.0)
    assert row["kind"] == "sweep" and row["required_ratio"] == pytest.approx(2e6 / 0.3e6)
    assert row["ratio_vs_jax_reference"] == pytest.approx(7.0) and row["meets_ratio"]
    assert row["scaled_target"] == pytest.approx(1e6) and not row["meets_scaled_target"]
    rows = {r["kind"]: r for r in issue_targets("linucb", 5e6, 9e5, ref, factor=1.0)}
    assert rows["sweep"]["meets_scaled_target"] is False and rows["single"]["meets_scaled_target"] is False
    assert issue_targets("linucb", 1e7, 1e6, {}, None)[0].keys() >= {"target", "rate"}


@pytest.mark.slow
def test_textbook_reference_learns():
    """The straightforward JAX reference is a working LinUCB/LinTS: far less regret than random."""
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(ROOT))
    from benchmarks._jax_reference import textbook_rollout

    theta = jax.random.normal(jax.random.key(0), (4, 3))
    theta = theta / jnp.linalg.norm(theta, axis=1, keepdims=True)
    keys = jax.random.split(jax.random.key(1), 8)
    T = 600
    for policy in ("linucb", "lints"):
        regret = jax.jit(jax.vmap(lambda k, p=policy: textbook_rollout(k, theta, T, p, alpha=0.5)))(keys)
        # uniform random: mean gap between best and a random arm; on the unit sphere with 4 arms
        x = jax.random.normal(jax.random.key(2), (20_000, 3))
        x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
        mu = x @ theta.T
        random_regret = float(jnp.mean(mu.max(1) - mu.mean(1))) * T
        assert float(regret.mean()) < 0.25 * random_regret, (policy, float(regret.mean()), random_regret)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["linucb", "lints"])
def test_numba_reference_loop_learns(policy):
    """The compiled-loop reference is a working LinUCB/LinTS (far less regret than uniform random on
    the same world), so the speed ratio against it compares like with like. Needs the bench extra."""
    pytest.importorskip("numba")
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from benchmarks.throughput import make_numba_loop

    K, d, T = 4, 3, 1500
    regret = make_numba_loop(policy, K, d, seeds=8, horizon=T)()
    rng = np.random.default_rng(0)  # the loop's world: make_numba_loop draws theta from seed 0 first
    theta = rng.normal(size=(K, d))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    x = np.random.default_rng(1).normal(size=(20_000, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    mu = x @ theta.T
    random_regret = float(np.mean(mu.max(1) - mu.mean(1))) * T
    assert regret.shape == (8,) and float(regret.mean()) < 0.25 * random_regret, (regret.mean(), random_regret)


@pytest.mark.slow
def test_profile_ops_reports_per_op_times():
    out = run_json(["-m", "benchmarks.profile_ops", "--arms", "3", "--dim", "2", "--horizon", "40", "--seeds", "4",
                    "--top", "3"], lines=None)[-1]
    assert out["members"] == 4 and len(out["top_ops"]) == 3 and out["distinct_ops"] >= 3
    assert all(r["calls"] >= 1 and r["total_ms"] >= 0 for r in out["top_ops"])
    assert out["op_ms_total"] > 0 and out["wall_us_per_round"] > 0
