"""Member environments built on logged data (issue 5).

- :mod:`envs.logged.response`: the calibrated click model p(click | member, item, slot) with a
  held-out calibration report; malformed-log checks.
- :mod:`envs.logged.simulator`: :class:`MemberSimulator` / :func:`build_member_simulator`, the JAX
  environment (``bandits.contracts.Env``) with knobs (temperature, noise, population shift, item mask) and
  exact policy values.
- :mod:`envs.logged.members`: generative member models (a latent class model of contexts), an
  alternative to resampling the logged contexts, with a held-out likelihood check.
- :mod:`experiments.sim2real`: the sim-to-real check on the Open Bandit Dataset
  (``screentest calibrate``).
"""

from envs.logged.members import LatentClassMembers, fit_members, member_likelihood_check
from envs.logged.response import (
    CalibrationReport,
    MalformedLogsError,
    MalformedLogsWarning,
    ResponseModel,
    check_logs,
    fit_response_model,
)
from envs.logged.simulator import (
    MemberSimParams,
    MemberSimState,
    MemberSimulator,
    build_member_simulator,
    expected_reward_matrix,
    fit_member_simulator,
    make_member_env,
    member_distribution,
    obd_site_item_prior,
    policy_value,
)

__all__ = [
    "CalibrationReport",
    "LatentClassMembers",
    "fit_members",
    "member_likelihood_check",
    "MalformedLogsError",
    "MalformedLogsWarning",
    "ResponseModel",
    "check_logs",
    "fit_response_model",
    "MemberSimParams",
    "MemberSimState",
    "MemberSimulator",
    "build_member_simulator",
    "expected_reward_matrix",
    "fit_member_simulator",
    "make_member_env",
    "member_distribution",
    "obd_site_item_prior",
    "policy_value",
]
