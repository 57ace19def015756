"""Structured configs of the ``screentest`` Hydra application (dataclasses in a ConfigStore).

Config groups and their options (choose with ``group=option``, override fields with ``group.field=v``):

``env``
    ``linear`` (:func:`envs.synthetic.linear_gaussian`), ``logistic``
    (:func:`envs.synthetic.logistic_bernoulli`), ``bernoulli`` (:func:`envs.synthetic.bernoulli_arms`),
    ``simulator`` (the member simulator calibrated on the ``data`` logs, see
    :func:`experiments.builders.member_simulator`).
``policy``
    one candidate (``linucb``, ``lints``, ``epsilon_greedy``, ``lin_epsilon_greedy``, ``random``,
    ``generic`` for any other registered policy: a registry name of
    :mod:`bandits.policies` plus its hyperparameters as fields, e.g. ``policy.alpha=0.5``) or
    ``bakeoff`` (several candidates, ``policy.candidates.<label>.<field>=...``). Every candidate
    may carry an in-process hyperparameter ``grid`` (``+policy.grid.alpha=[0.1,0.3,1.0]``) that is
    vmapped: one compiled call for the whole grid, not one process per value.
``estimator``
    the off-policy estimators to run on logs (``standard``: IPW, SNIPW, DM, DR).
``sweep``
    how seeds are chunked (``chunk_seeds``), how many regret-curve points are stored, progress.
``data``
    the logs: ``obd`` (bundled Open Bandit Dataset sample), ``parquet`` / ``csv`` (your file).

Every node is a dataclass, so unknown keys and wrong types are rejected by OmegaConf when the
config is composed (the CLI turns that into a clear message and exit code 2). Nodes with a
``_target_`` are turned into plain Python objects by :func:`hydra.utils.instantiate`
(``_convert_="all"``); no DictConfig reaches jitted code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# ----------------------------------------------------------------------------- env


@dataclass
class EnvConf:
    """Base of the ``env`` group. ``label`` names the env in results; ``_target_`` builds it."""

    _target_: str = MISSING
    label: str = MISSING


@dataclass
class LinearEnvConf(EnvConf):
    _target_: str = "experiments.builders.synthetic_env"
    label: str = "linear_gaussian"
    family: str = "linear_gaussian"
    num_actions: int = 10
    context_dim: int = 5
    noise_sd: float = 0.1
    context_dist: str = "sphere"
    seed: int = 0


@dataclass
class LogisticEnvConf(EnvConf):
    _target_: str = "experiments.builders.synthetic_env"
    label: str = "logistic_bernoulli"
    family: str = "logistic_bernoulli"
    num_actions: int = 10
    context_dim: int = 5
    scale: float = 2.0
    base_rate: float = 0.1
    context_dist: str = "sphere"
    seed: int = 0


@dataclass
class BernoulliEnvConf(EnvConf):
    _target_: str = "experiments.builders.synthetic_env"
    label: str = "bernoulli_arms"
    family: str = "bernoulli_arms"
    num_actions: int = 10
    seed: int = 0


@dataclass
class SimulatorEnvConf(EnvConf):
    """The member simulator calibrated on the ``data`` logs (:mod:`envs.logged`), fitted once per job.

    len_list: slots per round (1: single-slot mode showing ``slot``). add_intercept: append a
    constant 1 to the contexts (for linear policies). item_prior: ``site`` uses ZOZOTOWN's item
    prior for the OBD campaign (external knowledge that spreads the items' click rates), ``none``
    fits on the logs only, ``auto`` = ``site`` for ``data=obd`` and ``none`` for your own logs. penalties: ``[main, interaction]`` L2 strengths, or null to choose them
    by cross-validation. temperature (< 1 sharpens members' preferences), noise (share of
    unlearnable base-rate clicks): the simulator's what-if knobs.
    """

    _target_: str = "experiments.builders.member_simulator"
    label: str = "member_simulator"
    len_list: int = 1
    slot: int = 0
    add_intercept: bool = True
    item_prior: str = "auto"
    penalties: list[float] | None = None
    temperature: float = 1.0
    noise: float = 0.0
    seed: int = 0


# ----------------------------------------------------------------------------- policy


@dataclass
class PolicyConf:
    """One candidate policy. Fields other than the meta fields below are hyperparameters.

    name: registry name in :mod:`bandits.policies`. label: name in results (defaults to ``name``).
    static: constructor options fixed at build time (e.g. Monte Carlo sample counts).
    grid: in-process hyperparameter grid, ``{hparam: [values...]}``, vmapped in one compiled call.
    """

    _target_: str = "experiments.builders.policy_spec"
    name: str = MISSING
    label: str | None = None
    static: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[float]] = field(default_factory=dict)


POLICY_META_FIELDS = frozenset({"_target_", "name", "label", "static", "grid"})


@dataclass
class LinUCBConf(PolicyConf):
    name: str = "linucb"
    alpha: float = 1.0


@dataclass
class LinTSConf(PolicyConf):
    """LinTS. ``alpha`` is the exploration scale, i.e. LinTS's posterior scale ``v`` (an alias, so
    ``policy.alpha=...`` sweeps LinUCB and LinTS alike); results record it under its name ``v``."""

    name: str = "lints"
    alpha: float = 1.0


@dataclass
class EpsilonGreedyConf(PolicyConf):
    """Context-free epsilon-greedy (per-action means)."""

    name: str = "epsilon_greedy"
    epsilon: float = 0.1


@dataclass
class LinEpsilonGreedyConf(PolicyConf):
    """Epsilon-greedy on per-action ridge regressions of the reward on the context."""

    name: str = "lin_epsilon_greedy"
    epsilon: float = 0.1


@dataclass
class RandomConf(PolicyConf):
    name: str = "random"


@dataclass
class BernoulliTSConf(PolicyConf):
    """Beta-Bernoulli Thompson sampling per item (the OBD site's own algorithm; prior in ``static``:
    ``alpha0``, ``beta0``, ``num_samples``)."""

    name: str = "bernoulli_ts"


@dataclass
class UCB1Conf(PolicyConf):
    name: str = "ucb1"
    alpha: float = 1.0


@dataclass
class GenericPolicyConf(PolicyConf):
    """Any registered policy: ``policy=generic policy.name=ucb +policy.hparams.alpha=2``."""

    name: str = MISSING
    hparams: dict[str, float] = field(default_factory=dict)


@dataclass
class BakeoffConf:
    """Several candidates run side by side on common random numbers (the main job's default: the
    per-item policies that suit the OBD simulator's item-ranking problem)."""

    _target_: str = "experiments.builders.policy_set"
    candidates: dict[str, Any] = field(
        default_factory=lambda: {
            # one posterior draw per round: exact Thompson sampling, no Monte Carlo probabilities
            # (the bake-off needs actions only; the OPE stage rebuilds it with ope.mc_samples)
            "bernoulli_ts": BernoulliTSConf(static={"num_samples": 1}),
            "ucb1": UCB1Conf(alpha=0.1),
            "epsilon_greedy": EpsilonGreedyConf(epsilon=0.05),
            "random": RandomConf(),
        }
    )


@dataclass
class LinearBakeoffConf(BakeoffConf):
    """The contextual candidates (LinUCB, LinTS, linear epsilon-greedy, random): ``policy=bakeoff_linear``."""

    candidates: dict[str, Any] = field(
        default_factory=lambda: {
            "linucb": LinUCBConf(),
            "lints": LinTSConf(),
            "lin_epsilon_greedy": LinEpsilonGreedyConf(),
            "random": RandomConf(),
        }
    )


# ----------------------------------------------------------------------------- estimator / sweep / data


@dataclass
class EstimatorConf:
    """Off-policy estimators applied to the behaviour policy's logs.

    names: estimators (``ipw``, ``snipw``, ``dm``, ``dr``, ...; see :mod:`bandits.estimators`).
    interval: ``normal`` (delta method) or ``bootstrap``. alpha: 1 - confidence level of the
    intervals. n_bootstrap: bootstrap resamples. reward_model_folds: cross-fitting folds of the
    reward model used by DM/DR (fitted once per logged data set, shared by all candidates).
    """

    names: list[str] = field(default_factory=lambda: ["ipw", "snipw", "dm", "dr"])
    interval: str = "normal"
    alpha: float = 0.05
    n_bootstrap: int = 200
    reward_model_folds: int = 3


@dataclass
class SweepConf:
    """How the seeds of one job are cut into cells.

    chunk_seeds: seeds per cell (one compiled, vmapped call; one parquet file; the unit of resume).
    curve_points: points of the cumulative-regret curve kept per row.
    """

    chunk_seeds: int = 50
    curve_points: int = 50


@dataclass
class DataConf:
    """Base of the ``data`` group."""

    source: str = MISSING


@dataclass
class OBDDataConf(DataConf):
    """The bundled Open Bandit Dataset sample (``bandits.datasets.obd.load_obd``)."""

    source: str = "obd"
    behavior_policy: str = "random"
    campaign: str = "all"
    data_path: str | None = None


@dataclass
class FileDataConf(DataConf):
    """Your logs in a parquet/csv file with the :class:`bandits.data.LoggedData` columns."""

    source: str = "parquet"
    path: str = MISSING
    context_cols: list[str] | None = None
    context_prefix: str = "context_"
    action_col: str = "action"
    reward_col: str = "reward"
    pscore_col: str = "pscore"
    position_col: str | None = None
    n_actions: int | None = None


# ----------------------------------------------------------------------------- top level


@dataclass
class OPEConf:
    """The logging stage of the main job (when the simulator and the estimators are available).

    behavior: label of the candidate used as behaviour policy (``random`` by default, a uniform
    logger with known propensities). rounds: logged rounds per seed. seeds: seeds of the logging
    stage (each gives one logged data set and one estimate per estimator and candidate).
    mc_samples: Monte Carlo draws behind the action probabilities of context-free
    Thompson-sampling candidates when they are evaluated off-policy (their ``num_samples``; the
    distribution is computed once). Contextual ones keep their own ``num_samples``
    (``policy.static.num_samples``), since they need a distribution for every row.
    """

    enabled: bool = True
    behavior: str = "random"
    rounds: int = 10000
    seeds: int = 10
    mc_samples: int = 10000


@dataclass
class ScreentestConf:
    """The root config. ``seeds``: seeds per candidate (and per grid point); ``horizon``: rounds.

    out_dir: the result store (shared by all jobs of a multirun; relative paths are taken from the
    directory ``screentest`` was started in). quiet: no progress bars or tables (CI).
    report: write ``out_dir/report`` at the end of the job.
    """

    defaults: list[Any] = field(
        default_factory=lambda: [
            {"env": "simulator"},
            {"policy": "bakeoff"},
            {"estimator": "standard"},
            {"sweep": "default"},
            {"data": "obd"},
            "_self_",
        ]
    )
    env: Any = MISSING
    policy: Any = MISSING
    estimator: EstimatorConf = MISSING
    sweep: SweepConf = MISSING
    data: Any = MISSING
    ope: OPEConf = field(default_factory=OPEConf)
    seeds: int = 30
    seed_offset: int = 0
    horizon: int = 10000
    out_dir: str = "screentest-results"
    quiet: bool = False
    report: bool = True


def register_configs(cs: ConfigStore | None = None) -> ConfigStore:
    """Register every node above (idempotent). Returns the ConfigStore."""
    cs = cs or ConfigStore.instance()
    cs.store(name="screentest", node=ScreentestConf)
    for name, node in {
        "linear": LinearEnvConf,
        "logistic": LogisticEnvConf,
        "bernoulli": BernoulliEnvConf,
        "simulator": SimulatorEnvConf,
    }.items():
        cs.store(group="env", name=name, node=node)
    for name, node in {
        "linucb": LinUCBConf,
        "lints": LinTSConf,
        "epsilon_greedy": EpsilonGreedyConf,
        "lin_epsilon_greedy": LinEpsilonGreedyConf,
        "random": RandomConf,
        "bernoulli_ts": BernoulliTSConf,
        "ucb1": UCB1Conf,
        "generic": GenericPolicyConf,
        "bakeoff": BakeoffConf,
        "bakeoff_linear": LinearBakeoffConf,
    }.items():
        cs.store(group="policy", name=name, node=node)
    cs.store(group="estimator", name="standard", node=EstimatorConf)
    cs.store(group="sweep", name="default", node=SweepConf)
    cs.store(group="data", name="obd", node=OBDDataConf)
    cs.store(group="data", name="parquet", node=FileDataConf)
    cs.store(group="data", name="csv", node=FileDataConf(source="csv"))
    return cs


register_configs()
