"""Off-policy learning: policies trained from logged data (:mod:`bandits.learners.opl`).

``train_policy(data, objective="ipw" | "snipw" | "dr", model="linear" | "mlp")`` returns a
:class:`bandits.contracts.Policy` with full action probabilities, usable wherever a policy is
(simulator, OPE, serving). Learners sit on the policy side: they read ``LoggedData`` and never
import the worlds or the engine.
"""

from bandits.learners.opl import (
    LearnerHParams,
    OPLResult,
    PolicyHParams,
    learned_policy,
    train_policies,
    train_policy,
)

__all__ = ["LearnerHParams", "OPLResult", "PolicyHParams", "learned_policy", "train_policies", "train_policy"]
