"""Off-policy evaluation on obp's conventions.

``evaluate(data, action_dist, estimators=("dm", "ipw", "snipw", "dr"), ...)`` is the entry point:
one row per estimator with its estimate, a normal or bootstrap interval and overlap diagnostics.
``action_dist`` is ``(n_rounds, n_actions, len_list)`` as in obp; make it from any screentest
policy with :func:`policy_action_dist`. See ``docs/ope.md``.
"""

from bandits.estimators.core import (
    ESTIMATOR_NAMES,
    Estimator,
    as_logged,
    estimate,
    round_rewards,
)
from bandits.estimators.evaluate import DEFAULT_ESTIMATORS, RESULT_COLUMNS, evaluate, evaluate_batches
from bandits.estimators.intervals import bootstrap_means
from bandits.estimators.reward_model import RewardModel, default_model, fit_reward_model, fit_reward_model_on


def __getattr__(name: str):
    # policy_action_dist needs JAX; importing it lazily keeps `import bandits.estimators` numpy-only
    # (faster start, ~300 MB less resident memory for pure-numpy evaluation of big logs)
    if name == "policy_action_dist":
        from bandits.estimators.policy import policy_action_dist

        return policy_action_dist
    raise AttributeError(f"module 'bandits.estimators' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ESTIMATORS",
    "ESTIMATOR_NAMES",
    "RESULT_COLUMNS",
    "Estimator",
    "RewardModel",
    "as_logged",
    "bootstrap_means",
    "default_model",
    "estimate",
    "evaluate",
    "evaluate_batches",
    "fit_reward_model",
    "fit_reward_model_on",
    "policy_action_dist",
    "round_rewards",
]
