"""Sharding the seed axis over several devices gives the same rows as one device (bit for bit).

Runs in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (two CPU devices;
the flag must be set before JAX starts). Inside it, one sweep shards every chunk over both devices
and one runs on the first device only; the rows must be identical: a seed's numbers depend only
on ``chunk_size`` (run-to-run identity is tested in test_sweep_core.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import json, jax
from bandits.policies import make
from bandits.engine.sweep import sweep
from envs import synthetic as S
assert len(jax.local_devices()) == 2, jax.local_devices()
env = S.linear_gaussian(4, 3, noise_sd=0.2, seed=3)
pol = make("linucb", num_actions=4, context_dim=3)
kw = dict(horizon=60, checkpoints=[10], chunk_size=8)
two = sweep(env, {"lin": pol}, 37, **kw)
one = sweep(env, {"lin": pol}, 37, devices=jax.local_devices()[:1], **kw)
cols = ["seed", "cum_reward", "cum_regret", "regret@10"]
print(json.dumps({"two": two[cols].values.tolist(), "one": one[cols].values.tolist()}))
"""


@pytest.mark.slow
def test_sharded_sweep_equals_unsharded():
    env_vars = dict(os.environ)
    env_vars["XLA_FLAGS"] = (env_vars.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    env_vars["PYTHONPATH"] = str(ROOT) + os.pathsep + env_vars.get("PYTHONPATH", "")
    env_vars["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env_vars, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    two, one = np.asarray(out["two"]), np.asarray(out["one"])
    assert two.shape == (37, 4)
    np.testing.assert_array_equal(two, one)
