"""The direct method ``dm``: ``mean(q_hat(x, pi_e))``, the reward model's value of the target
policy (Beygelzimer & Langford 2009). No importance weights: low variance, and as biased as the
reward model ``estimated_rewards``."""

from __future__ import annotations

from bandits.estimators.core import Term, register_estimator

register_estimator(
    "dm", lambda: (Term("q_pi"),), needs_reward_model=True,
    summary="mean(q_hat(x, pi_e)): the reward model's value of the target",
)
