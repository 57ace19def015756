"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/ope.py --extended: times obp's
slate estimators, MIPW / SNMIPW with p_e_a, and SLOPE tuning of IPW and DR on the arrays saved in
argv[1] (.npz); argv[2] is the number of repeats (best time kept). Prints one JSON line. The
screentest project never imports this file."""

import json
import sys
import warnings

import numpy as np
import obp.ope as ope
from _timing import best_of  # benchmarks/_timing.py: this script's folder is on sys.path

warnings.filterwarnings("ignore")
z = np.load(sys.argv[1])
repeat = int(sys.argv[2])


def timed(fn):
    return best_of(fn, repeat)


L, K = int(z["s_len_list"]), int(z["s_n_actions"])
kw = dict(slate_id=z["s_slate_id"], reward=z["s_reward"], position=z["s_position"])
slate = {}
for nm, kind, cls, sn_cls in (
        ("sips", "pscore", ope.SlateStandardIPS, ope.SelfNormalizedSlateStandardIPS),
        ("iips", "pscore_item_position", ope.SlateIndependentIPS, ope.SelfNormalizedSlateIndependentIPS),
        ("rips", "pscore_cascade", ope.SlateRewardInteractionIPS, ope.SelfNormalizedSlateRewardInteractionIPS)):
    probs = {kind: z[f"s_{kind}"], f"evaluation_policy_{kind}": z[f"s_e_{kind}"]}
    for name, c in ((nm, cls), ("sn" + nm, sn_cls)):
        slate[name] = lambda c=c, probs=probs: c(len_list=L).estimate_policy_value(**probs, **kw)
slate["cascade-dr"] = lambda: ope.SlateCascadeDoublyRobust(len_list=L, n_unique_action=K).estimate_policy_value(
    action=z["s_action"], pscore_cascade=z["s_pscore_cascade"], evaluation_policy_pscore_cascade=z["s_e_pscore_cascade"],
    q_hat=z["s_q_hat"], evaluation_policy_action_dist=z["s_e_action_dist"], **kw)
out = {"obp_slate_s": {}, "obp_slate_cpu_s": {}, "obp_slate_values": {}}
for nm, fn in slate.items():
    t, c, v = timed(fn)
    out["obp_slate_s"][nm], out["obp_slate_cpu_s"][nm], out["obp_slate_values"][nm] = t, c, float(v)

Km = int(z["m_n_actions"])
km = dict(reward=z["m_reward"], action=z["m_action"], action_embed=z["m_action_embed"], pi_b=z["m_pi_b"],
          action_dist=z["m_action_dist"], p_e_a=z["m_p_e_a"])
for nm, est in (("mips", ope.MarginalizedInverseProbabilityWeighting(n_actions=Km)),
                ("snmips", ope.SelfNormalizedMarginalizedInverseProbabilityWeighting(n_actions=Km))):
    t, c, v = timed(lambda est=est: est.estimate_policy_value(**km))
    out[f"obp_{nm}_s"], out[f"obp_{nm}_cpu_s"], out[f"obp_{nm}_value"] = t, c, float(v)

lams = [float(x) for x in z["t_lambdas"]]
kt = dict(reward=z["t_reward"], action=z["t_action"], pscore=z["t_pscore"], action_dist=z["t_action_dist"])
for nm, cls, extra in (("ipw", ope.InverseProbabilityWeightingTuning, {}),
                       ("dr", ope.DoublyRobustTuning, {"estimated_rewards_by_reg_model": z["t_q"]})):
    def run(cls=cls, extra=extra):
        est = cls(lambdas=list(lams), tuning_method="slope")
        return est.estimate_policy_value(**kt, **extra), est.best_hyperparam
    t, c, (v, lam) = timed(run)
    out[f"obp_slope_{nm}_s"], out[f"obp_slope_{nm}_cpu_s"] = t, c
    out[f"obp_slope_{nm}_value"], out[f"obp_slope_{nm}_lambda"] = float(v), float(lam)
print(json.dumps(out))
