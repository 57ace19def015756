"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/obp_parity.py as a subprocess.

Loads obp's own copy of the Open Bandit Dataset small sample (random logs, campaign all), builds
three evaluation policies' action_dist and obp's cross-fitted estimated_rewards, runs obp's
estimators, and writes every input and output to the .npz path given as argv[1]. The screentest
project never imports this file (it is plain obp usage for a side-by-side check).
"""

import sys
import time

import numpy as np
from obp.dataset import OpenBanditDataset
from obp.ope import (
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    RegressionModel,
    ReplayMethod,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from obp.policy import BernoulliTS
from sklearn.linear_model import LogisticRegression

out_path = sys.argv[1]
n_sim = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
n_fixture = int(sys.argv[3]) if len(sys.argv) > 3 else 1000

ds = OpenBanditDataset(behavior_policy="random", campaign="all")
bf = ds.obtain_batch_bandit_feedback()
n, K, L = bf["n_rounds"], bf["n_actions"], ds.len_list
rows = np.arange(n)
pos = bf["position"]

t0 = time.perf_counter()
bts = BernoulliTS(n_actions=K, len_list=L, is_zozotown_prior=True, campaign="all", random_state=12345)
ad_bts = bts.compute_batch_action_dist(n_sim=n_sim, n_rounds=n)
t_bts = time.perf_counter() - t0

reg = RegressionModel(n_actions=K, len_list=L, action_context=ds.action_context,
                      base_model=LogisticRegression(max_iter=1000, random_state=12345))
q = reg.fit_predict(context=bf["context"], action=bf["action"], reward=bf["reward"], position=pos,
                    n_folds=3, random_state=12345)

# a per-row stochastic policy: softmax of 20 * q_hat at the logged position, uniform elsewhere
z = 20.0 * q[rows, :, pos]
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
ad_soft = np.full((n, K, L), 1.0 / K)
ad_soft[rows, :, pos] = p
# a deterministic policy for the replay method: greedy on q_hat (first maximiser) in every slot,
# except that every third row repeats the logged action at the logged slot (so that enough rows
# match for the replay estimate to be non-trivial on 10,000 rows with a 0.4% click rate)
ad_greedy = np.zeros((n, K, L))
best = q.argmax(axis=1)  # (n, L)
for k in range(L):
    ad_greedy[rows, best[:, k], k] = 1.0
third = rows[rows % 3 == 0]
ad_greedy[third, :, pos[third]] = 0.0
ad_greedy[third, bf["action"][third], pos[third]] = 1.0

LAM = 5.0  # weights are pi_e / (1/80): a threshold of 5 makes switch-dr, dr-os and clipping bite
ESTIMATORS = {
    "ipw": InverseProbabilityWeighting(),
    "snipw": SelfNormalizedInverseProbabilityWeighting(),
    "dm": DirectMethod(),
    "dr": DoublyRobust(),
    "sndr": SelfNormalizedDoublyRobust(),
    "switch-dr": SwitchDoublyRobust(lambda_=LAM),
    "dr-os": DoublyRobustWithShrinkage(lambda_=LAM),
    "ipw_clip": InverseProbabilityWeighting(lambda_=LAM),
    "dr_clip": DoublyRobust(lambda_=LAM),
}


def run(sel, ad, q_):
    out = {}
    kw = dict(reward=bf["reward"][sel], action=bf["action"][sel], pscore=bf["pscore"][sel],
              position=pos[sel], action_dist=ad[sel], estimated_rewards_by_reg_model=q_[sel])
    for name, est in ESTIMATORS.items():
        out[name] = float(est.estimate_policy_value(**kw))
    return out


save = {
    "reward": bf["reward"], "action": bf["action"], "pscore": bf["pscore"], "position": pos,
    "context": bf["context"], "action_context": ds.action_context, "n_actions": K, "len_list": L,
    "estimated_rewards": q, "ad_bts": ad_bts, "ad_soft": ad_soft, "ad_greedy": ad_greedy,
    "t_bts_s": t_bts, "n_sim": n_sim, "lambda_": LAM,
}
full = np.arange(n)
fix = np.arange(n_fixture)
for tag, ad in (("bts", ad_bts), ("soft", ad_soft)):
    for sel_tag, sel in (("full", full), ("fixture", fix)):
        for k, v in run(sel, ad, q).items():
            save[f"obp_{sel_tag}_{tag}_{k}"] = v
for sel_tag, sel in (("full", full), ("fixture", fix)):
    save[f"obp_{sel_tag}_greedy_rm"] = float(ReplayMethod().estimate_policy_value(
        reward=bf["reward"][sel], action=bf["action"][sel], position=pos[sel], action_dist=ad_greedy[sel]))
save["obp_full_bts_ipw_relative"] = save["obp_full_bts_ipw"] / bf["reward"].mean()
np.savez(out_path, **save)
print(f"obp side done: n={n} K={K} L={L} bts_sims={n_sim} ({t_bts:.1f}s)", file=sys.stderr)
