"""Off-policy evaluation on obp's conventions.

``evaluate(data, action_dist, estimators=("dm", "ipw", "snipw", "dr"), ...)`` is the entry point:
one row per estimator with its estimate, a normal or bootstrap interval and overlap diagnostics.
``data`` is a :class:`bandits.data.LoggedData`; ``action_dist`` is ``(n_rounds, n_actions,
len_list)`` as in obp; make it from any screentest policy with :func:`policy_action_dist`.

Each estimator declares itself once in :mod:`bandits.estimators.registry` (name, aliases, terms,
columns, whether it needs a reward model or uniform logs, hyperparameters); the built-in ones
live in :mod:`~bandits.estimators.dm`, :mod:`~bandits.estimators.ipw`,
:mod:`~bandits.estimators.dr` and :mod:`~bandits.estimators.replay`; slates (a
:class:`~bandits.estimators.slate.SlateLog`) in :mod:`~bandits.estimators.slate`, item embeddings
(``mips``) in :mod:`~bandits.estimators.mips`, hyperparameter and estimator selection in
:mod:`~bandits.estimators.selection`. See ``docs/ope.md``.
"""

from bandits.estimators import dm, dr, ipw, mips, replay, slate  # noqa: F401  (each registers its estimators)
from bandits.estimators.core import Columns, Estimator, estimate, round_rewards
from bandits.estimators.evaluate import DEFAULT_ESTIMATORS, RESULT_COLUMNS, evaluate, evaluate_batches
from bandits.estimators.intervals import bootstrap_means
from bandits.estimators.mips import EmbeddedLog, item_clusters, learn_item_embedding, mips_weights
from bandits.estimators.registry import (
    HParam,
    Term,
    estimator_names,
    get_spec,
    register_estimator,
)
from bandits.estimators.reward_model import RewardModel, default_model, fit_reward_model, fit_reward_model_on
from bandits.estimators.slate import SlateLog, SlateTarget, fit_slate_reward_model, plackett_luce_pscores


def __getattr__(name: str):
    # policy_action_dist needs JAX; importing it lazily keeps `import bandits.estimators` numpy-only
    if name == "policy_action_dist":
        from bandits.estimators.policy import policy_action_dist

        return policy_action_dist
    raise AttributeError(f"module 'bandits.estimators' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ESTIMATORS",
    "RESULT_COLUMNS",
    "Columns",
    "EmbeddedLog",
    "Estimator",
    "HParam",
    "RewardModel",
    "SlateLog",
    "SlateTarget",
    "Term",
    "bootstrap_means",
    "default_model",
    "estimate",
    "estimator_names",
    "evaluate",
    "evaluate_batches",
    "fit_reward_model",
    "fit_reward_model_on",
    "fit_slate_reward_model",
    "get_spec",
    "item_clusters",
    "learn_item_embedding",
    "mips_weights",
    "plackett_luce_pscores",
    "policy_action_dist",
    "register_estimator",
    "round_rewards",
]
