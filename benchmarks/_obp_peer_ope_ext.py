"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/ope.py --extended: times obp's
slate estimators, MIPW / SNMIPW with p_e_a, and SLOPE tuning of IPW and DR on the arrays saved in
argv[1] (.npz); argv[2] is the number of repeats (best time kept). Prints one JSON line. The
screentest project never imports this file."""

import json
import sys
import time
import warnings

import numpy as np
from obp.ope import (
    DoublyRobustTuning,
    InverseProbabilityWeightingTuning,
    MarginalizedInverseProbabilityWeighting,
    SelfNormalizedMarginalizedInverseProbabilityWeighting,
    SelfNormalizedSlateIndependentIPS,
    SelfNormalizedSlateRewardInteractionIPS,
    SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)

warnings.filterwarnings("ignore")
z = np.load(sys.argv[1])
repeat = int(sys.argv[2])


def timed(fn):
    best_w, best_c, out = np.inf, np.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_w = min(best_w, time.perf_counter() - w0)
        best_c = min(best_c, time.process_time() - c0)
    return best_w, best_c, out


L, K = int(z["s_len_list"]), int(z["s_n_actions"])
kw = dict(slate_id=z["s_slate_id"], reward=z["s_reward"], position=z["s_position"])
slate = {
    "sips": lambda: SlateStandardIPS(len_list=L).estimate_policy_value(
        pscore=z["s_pscore"], evaluation_policy_pscore=z["s_e_pscore"], **kw),
    "iips": lambda: SlateIndependentIPS(len_list=L).estimate_policy_value(
        pscore_item_position=z["s_pscore_item_position"],
        evaluation_policy_pscore_item_position=z["s_e_pscore_item_position"], **kw),
    "rips": lambda: SlateRewardInteractionIPS(len_list=L).estimate_policy_value(
        pscore_cascade=z["s_pscore_cascade"], evaluation_policy_pscore_cascade=z["s_e_pscore_cascade"], **kw),
    "snsips": lambda: SelfNormalizedSlateStandardIPS(len_list=L).estimate_policy_value(
        pscore=z["s_pscore"], evaluation_policy_pscore=z["s_e_pscore"], **kw),
    "sniips": lambda: SelfNormalizedSlateIndependentIPS(len_list=L).estimate_policy_value(
        pscore_item_position=z["s_pscore_item_position"],
        evaluation_policy_pscore_item_position=z["s_e_pscore_item_position"], **kw),
    "snrips": lambda: SelfNormalizedSlateRewardInteractionIPS(len_list=L).estimate_policy_value(
        pscore_cascade=z["s_pscore_cascade"], evaluation_policy_pscore_cascade=z["s_e_pscore_cascade"], **kw),
    "cascade-dr": lambda: SlateCascadeDoublyRobust(len_list=L, n_unique_action=K).estimate_policy_value(
        action=z["s_action"], pscore_cascade=z["s_pscore_cascade"], evaluation_policy_pscore_cascade=z["s_e_pscore_cascade"],
        q_hat=z["s_q_hat"], evaluation_policy_action_dist=z["s_e_action_dist"], **kw),
}
out = {"obp_slate_s": {}, "obp_slate_cpu_s": {}, "obp_slate_values": {}}
for nm, fn in slate.items():
    t, c, v = timed(fn)
    out["obp_slate_s"][nm], out["obp_slate_cpu_s"][nm], out["obp_slate_values"][nm] = t, c, float(v)

Km = int(z["m_n_actions"])
km = dict(reward=z["m_reward"], action=z["m_action"], action_embed=z["m_action_embed"], pi_b=z["m_pi_b"],
          action_dist=z["m_action_dist"], p_e_a=z["m_p_e_a"])
for nm, est in (("mips", MarginalizedInverseProbabilityWeighting(n_actions=Km)),
                ("snmips", SelfNormalizedMarginalizedInverseProbabilityWeighting(n_actions=Km))):
    t, c, v = timed(lambda est=est: est.estimate_policy_value(**km))
    out[f"obp_{nm}_s"], out[f"obp_{nm}_cpu_s"], out[f"obp_{nm}_value"] = t, c, float(v)

lams = [float(x) for x in z["t_lambdas"]]
kt = dict(reward=z["t_reward"], action=z["t_action"], pscore=z["t_pscore"], action_dist=z["t_action_dist"])
for nm, cls, extra in (("ipw", InverseProbabilityWeightingTuning, {}),
                       ("dr", DoublyRobustTuning, {"estimated_rewards_by_reg_model": z["t_q"]})):
    def run(cls=cls, extra=extra):
        est = cls(lambdas=list(lams), tuning_method="slope")
        return est.estimate_policy_value(**kt, **extra), est.best_hyperparam
    t, c, (v, lam) = timed(run)
    out[f"obp_slope_{nm}_s"], out[f"obp_slope_{nm}_cpu_s"] = t, c
    out[f"obp_slope_{nm}_value"], out[f"obp_slope_{nm}_lambda"] = float(v), float(lam)
print(json.dumps(out))
