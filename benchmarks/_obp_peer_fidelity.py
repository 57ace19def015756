"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/fidelity_obp.py: obp's DM, IPW,
SNIPW and DR estimates of every target policy on every log saved in argv[1] (a folder of
``case_<i>.npz`` files with ``reward, action, pscore, action_dist (P, n, K, 1),
estimated_rewards (n, K, 1)``). Prints one JSON line ``{case: [{estimator: value} per policy]}``.
The screentest project never imports this file."""

import json
import sys
from pathlib import Path

import numpy as np
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)

folder = Path(sys.argv[1])
ests = [DirectMethod(), InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DoublyRobust()]
out = {}
for path in sorted(folder.glob("case_*.npz")):
    z = np.load(path)
    rows = []
    for ad in z["action_dist"]:
        kw = dict(reward=z["reward"], action=z["action"], pscore=z["pscore"], position=None, action_dist=ad,
                  estimated_rewards_by_reg_model=z["estimated_rewards"])
        rows.append({e.estimator_name: float(e.estimate_policy_value(**kw)) for e in ests})
    out[path.stem.removeprefix("case_")] = rows
print(json.dumps(out))
