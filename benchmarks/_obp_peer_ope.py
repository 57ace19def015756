"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/ope.py: times obp's DM, IPW,
SNIPW and DR point estimates and bootstrap intervals on the arrays saved in argv[1] (.npz).
Prints one JSON line. The screentest project never imports this file."""

import json
import sys
import time

import numpy as np
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)

z = np.load(sys.argv[1])
B = int(sys.argv[2])
repeat = int(sys.argv[3])
kw = dict(reward=z["reward"], action=z["action"], pscore=z["pscore"], position=None,
          action_dist=z["action_dist"], estimated_rewards_by_reg_model=z["estimated_rewards"])
ests = [DirectMethod(), InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DoublyRobust()]
times, cpus = [], []
for _ in range(repeat):
    t0, c0 = time.perf_counter(), time.process_time()
    vals = {e.estimator_name: float(e.estimate_policy_value(**kw)) for e in ests}
    times.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
out = {"obp_point_s": min(times), "obp_point_cpu_s": min(cpus), "obp_values": vals}
if B > 0:
    t0, c0 = time.perf_counter(), time.process_time()
    ci = {e.estimator_name: e.estimate_interval(n_bootstrap_samples=B, random_state=0, **kw) for e in ests}
    out["obp_bootstrap_s"] = time.perf_counter() - t0
    out["obp_bootstrap_cpu_s"] = time.process_time() - c0
    out["obp_bootstrap_B"] = B
    out["obp_ci"] = {k: [float(v["95.0% CI (lower)"]), float(v["95.0% CI (upper)"])] for k, v in ci.items()}
print(json.dumps(out))
