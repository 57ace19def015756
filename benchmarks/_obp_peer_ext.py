"""Runs INSIDE the peers venv (obp 0.5.7), started by benchmarks/obp_parity_ext.py as a subprocess.

Builds obp's own synthetic data and runs obp's estimators and learner on it, writing every input
and output to the .npz path in argv[1]:

- slates: ``SyntheticSlateBanditDataset`` (cascade-additive rewards, linear Plackett-Luce logger),
  a Plackett-Luce evaluation policy, obp's slate reward model, and SIPS, IIPS, RIPS, their
  self-normalised forms and cascade DR;
- embeddings: ``SyntheticBanditDatasetWithActionEmbeds`` with 3 and with 1 embedding dimension,
  and MIPW / SNMIPW with the true ``p_e_a`` and with obp's classifier;
- SLOPE: IPW, DR, Switch-DR and DR-os tuning on ``SyntheticBanditDataset``;
- learning: ``IPWLearner`` (logistic regression) on ``n_seeds`` training logs, valued exactly on a
  test set's expected rewards.

argv: out_path [n_slates n_embed_d3 n_embed_d1 k_embed n_tune n_train n_test n_seeds]. The
screentest project never imports this file (plain obp usage for a side-by-side check).
"""

import functools
import sys
import time

import numpy as np
import obp.ope.estimators_embed as emb_mod
from obp.dataset import (
    SyntheticBanditDataset,
    SyntheticBanditDatasetWithActionEmbeds,
    SyntheticSlateBanditDataset,
    linear_behavior_policy,
    linear_behavior_policy_logit,
    logistic_reward_function,
)
from obp.ope import (
    DoublyRobustTuning,
    DoublyRobustWithShrinkageTuning,
    InverseProbabilityWeightingTuning,
    MarginalizedInverseProbabilityWeighting,
    SelfNormalizedMarginalizedInverseProbabilityWeighting,
    SelfNormalizedSlateIndependentIPS,
    SelfNormalizedSlateRewardInteractionIPS,
    SelfNormalizedSlateStandardIPS,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRegressionModel,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
    SwitchDoublyRobustTuning,
)
from obp.policy import IPWLearner
from obp.utils import softmax
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import OneHotEncoder

# obp 0.5.7 passes OneHotEncoder(sparse=False); scikit-learn >= 1.4 calls it sparse_output
emb_mod.OneHotEncoder = functools.partial(lambda sparse=False, **kw: OneHotEncoder(sparse_output=sparse, **kw))

out_path = sys.argv[1]
args = [int(a) for a in sys.argv[2:]]
defaults = [400, 300, 200, 40, 1000, 1000, 1000, 3]
n_slates, n_embed_d3, n_embed_d1, k_embed, n_tune, n_train, n_test, n_seeds = (args + defaults[len(args):])[:8]
save = {}
t0 = time.perf_counter()

# ---------------------------------------------------------------- slates
K_S, L_S = 8, 3
ds = SyntheticSlateBanditDataset(n_unique_action=K_S, len_list=L_S, dim_context=2, reward_type="binary",
                                 reward_structure="cascade_additive", base_reward_function=logistic_reward_function,
                                 behavior_policy_function=linear_behavior_policy_logit, random_state=12345)
bf = ds.obtain_batch_bandit_feedback(n_rounds=n_slates, return_pscore_item_position=True)
b_logit = linear_behavior_policy_logit(context=bf["context"], action_context=ds.action_context,
                                       random_state=ds.random_state)
e_logit = np.random.default_rng(7).normal(size=(n_slates, K_S)) + 0.5 * b_logit[:, ::-1]
e_ps, e_pip, e_pc = ds.obtain_pscore_given_evaluation_policy_logit(bf["action"], e_logit,
                                                                   return_pscore_item_position=True)
e_ad = ds.calc_evaluation_policy_action_dist(bf["action"], e_logit)
reg = SlateRegressionModel(base_model=Ridge(alpha=1.0), len_list=L_S, n_unique_action=K_S, fitting_method="normal")
q_hat = reg.fit_predict(context=bf["context"], action=bf["action"], reward=bf["reward"],
                        pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=e_pc,
                        evaluation_policy_action_dist=e_ad)
kw = dict(slate_id=bf["slate_id"], reward=bf["reward"], position=bf["position"])
slate_vals = {
    "sips": SlateStandardIPS(len_list=L_S).estimate_policy_value(pscore=bf["pscore"], evaluation_policy_pscore=e_ps, **kw),
    "iips": SlateIndependentIPS(len_list=L_S).estimate_policy_value(
        pscore_item_position=bf["pscore_item_position"], evaluation_policy_pscore_item_position=e_pip, **kw),
    "rips": SlateRewardInteractionIPS(len_list=L_S).estimate_policy_value(
        pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=e_pc, **kw),
    "snsips": SelfNormalizedSlateStandardIPS(len_list=L_S).estimate_policy_value(
        pscore=bf["pscore"], evaluation_policy_pscore=e_ps, **kw),
    "sniips": SelfNormalizedSlateIndependentIPS(len_list=L_S).estimate_policy_value(
        pscore_item_position=bf["pscore_item_position"], evaluation_policy_pscore_item_position=e_pip, **kw),
    "snrips": SelfNormalizedSlateRewardInteractionIPS(len_list=L_S).estimate_policy_value(
        pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=e_pc, **kw),
    "cascade-dr": SlateCascadeDoublyRobust(len_list=L_S, n_unique_action=K_S).estimate_policy_value(
        action=bf["action"], pscore_cascade=bf["pscore_cascade"], evaluation_policy_pscore_cascade=e_pc,
        q_hat=q_hat, evaluation_policy_action_dist=e_ad, **kw),
}
save.update({f"slate_{k}": v for k, v in bf.items() if isinstance(v, np.ndarray)})
save.update(slate_n_unique_action=K_S, slate_len_list=L_S, slate_b_logit=b_logit, slate_e_logit=e_logit,
            slate_e_pscore=e_ps, slate_e_pscore_item_position=e_pip, slate_e_pscore_cascade=e_pc,
            slate_e_action_dist=e_ad, slate_q_hat=q_hat)
save.update({f"obp_slate_{k}": float(v) for k, v in slate_vals.items()})

# ---------------------------------------------------------------- embeddings (MIPS)
for tag, n_cat_dim, n_embed in (("d3", 3, n_embed_d3), ("d1", 1, n_embed_d1)):
    de = SyntheticBanditDatasetWithActionEmbeds(n_actions=k_embed, dim_context=4, beta=-1.0, reward_type="binary",
                                                n_cat_per_dim=10, n_cat_dim=n_cat_dim, random_state=12345)
    be = de.obtain_batch_bandit_feedback(n_rounds=n_embed)
    ad = softmax(2.0 * be["expected_reward"])[:, :, None]
    k2 = dict(reward=be["reward"], action=be["action"], action_embed=be["action_embed"], pi_b=be["pi_b"],
              action_dist=ad, context=be["context"])
    save.update({f"mips_{tag}_{k}": be[k] for k in ("context", "action", "reward", "pscore", "action_embed", "pi_b",
                                                    "p_e_a", "expected_reward")})
    save[f"mips_{tag}_action_dist"] = ad
    save[f"mips_{tag}_truth"] = de.calc_ground_truth_policy_value(expected_reward=be["expected_reward"], action_dist=ad)
    save[f"obp_mips_{tag}_exact"] = MarginalizedInverseProbabilityWeighting(n_actions=k_embed).estimate_policy_value(
        p_e_a=be["p_e_a"], **k2)
    save[f"obp_snmips_{tag}_exact"] = SelfNormalizedMarginalizedInverseProbabilityWeighting(
        n_actions=k_embed).estimate_policy_value(p_e_a=be["p_e_a"], **k2)
    save[f"obp_mips_{tag}_classifier"] = MarginalizedInverseProbabilityWeighting(n_actions=k_embed).estimate_policy_value(**k2)
    save[f"obp_snmips_{tag}_classifier"] = SelfNormalizedMarginalizedInverseProbabilityWeighting(
        n_actions=k_embed).estimate_policy_value(**k2)

# ---------------------------------------------------------------- SLOPE tuning
dt = SyntheticBanditDataset(n_actions=10, dim_context=5, reward_function=logistic_reward_function,
                            behavior_policy_function=linear_behavior_policy, beta=3.0, random_state=12345)
bt = dt.obtain_batch_bandit_feedback(n_rounds=n_tune)
ad_t = softmax(-3.0 * bt["expected_reward"] + np.random.default_rng(3).normal(size=bt["expected_reward"].shape))
ad_t = ad_t[:, :, None]
q_t = np.clip(bt["expected_reward"] + np.random.default_rng(4).normal(scale=0.1, size=bt["expected_reward"].shape),
              0, 1)[:, :, None]
lam_desc = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, np.inf]
lam_os = [0.1, 1.0, 10.0, 100.0, 1000.0, 1e4]
kt = dict(reward=bt["reward"], action=bt["action"], pscore=bt["pscore"], action_dist=ad_t)
tuned = {
    "ipw": InverseProbabilityWeightingTuning(lambdas=list(lam_desc), tuning_method="slope"),
    "dr": DoublyRobustTuning(lambdas=list(lam_desc), tuning_method="slope"),
    "switch-dr": SwitchDoublyRobustTuning(lambdas=list(lam_desc), tuning_method="slope"),
    "dr-os": DoublyRobustWithShrinkageTuning(lambdas=list(lam_os), tuning_method="slope"),
}
for name, est in tuned.items():
    extra = {} if name == "ipw" else {"estimated_rewards_by_reg_model": q_t}
    save[f"obp_tune_{name}_value"] = float(est.estimate_policy_value(**kt, **extra))
    save[f"obp_tune_{name}_lambda"] = float(est.best_hyperparam)
save.update(tune_reward=bt["reward"], tune_action=bt["action"], tune_pscore=bt["pscore"], tune_action_dist=ad_t,
            tune_q=q_t, tune_lambdas=np.array(lam_desc), tune_lambdas_os=np.array(lam_os))

# ---------------------------------------------------------------- policy learning (IPWLearner)
vals = []
for s in range(n_seeds):
    dl = SyntheticBanditDataset(n_actions=10, dim_context=5, reward_function=logistic_reward_function,
                                behavior_policy_function=linear_behavior_policy, beta=-2.0, random_state=100 + s)
    tr = dl.obtain_batch_bandit_feedback(n_rounds=n_train)
    te = dl.obtain_batch_bandit_feedback(n_rounds=n_test)
    learner = IPWLearner(n_actions=10, base_classifier=LogisticRegression(C=100, max_iter=1000, random_state=12345))
    learner.fit(context=tr["context"], action=tr["action"], reward=tr["reward"], pscore=tr["pscore"])
    ad_l = learner.predict(context=te["context"])
    vals.append(dl.calc_ground_truth_policy_value(expected_reward=te["expected_reward"], action_dist=ad_l))
    logged = float((te["expected_reward"] * te["pi_b"][:, :, 0]).sum(1).mean())
    save.update({f"opl_{s}_train_{k}": tr[k] for k in ("context", "action", "reward", "pscore")})
    save.update({f"opl_{s}_test_{k}": te[k] for k in ("context", "expected_reward")})
    save[f"opl_{s}_logging_value"] = logged
save["obp_opl_values"] = np.array(vals)
save["n_seeds"] = n_seeds
save["obp_side_s"] = time.perf_counter() - t0
np.savez(out_path, **save)
print(f"obp side done in {save['obp_side_s']:.1f}s", file=sys.stderr)
