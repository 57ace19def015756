"""Structured configs of the ``screentest`` Hydra application (dataclasses in a ConfigStore).

Config groups and their options (choose with ``group=option``, override fields with ``group.field=v``):

``env``
    one option per world that declares a ``cli`` name in :mod:`envs.registry`: ``linear``
    (:func:`envs.synthetic.linear_gaussian`), ``logistic`` (:func:`envs.synthetic.logistic_bernoulli`),
    ``bernoulli`` (:func:`envs.synthetic.bernoulli_arms`), ``simulator`` (the member simulator
    calibrated on the ``data`` logs, see :func:`experiments.builders.member_simulator`),
    ``obd_known`` (the default: the OBD-shaped known world, :func:`envs.known.obd_known_env`; the
    bundled logs are too few for a simulator fitted on them to tell the items apart). The node's
    fields are the declaration's ``cli_defaults``.
``policy``
    one candidate: an option per registered policy (:mod:`bandits.policies.registry`), whose
    fields are its hyperparameters by configuration name (``policy=linucb policy.alpha=0.5``,
    ``policy=lints policy.alpha=0.5`` sets LinTS's ``v``), or ``generic`` (``policy.name=...``
    with ``+policy.hparams.<name>=...``); or ``bakeoff`` / ``bakeoff_linear`` (several candidates,
    ``policy.candidates.<label>.<field>=...``). Every candidate may carry an in-process
    hyperparameter ``grid`` (``+policy.grid.alpha=[0.1,0.3,1.0]``) that is vmapped: one compiled
    call for the whole grid, not one process per value.
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

from dataclasses import dataclass, field, make_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# ----------------------------------------------------------------------------- env


@dataclass
class EnvConf:
    """Base of the ``env`` group. ``label`` names the env in results; ``_target_`` builds it."""

    _target_: str = MISSING
    label: str = MISSING


_FIELD_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str, "bool": bool, "list[float]": list[float],
                                "list[int]": list[int], "list[str]": list[str]}


def _field_type(key: str, preset: Any, declared: str | None) -> Any:
    """The config field type of a world's ``cli_defaults`` entry: the preset's type, or the declared
    ``cli_types`` entry for a None preset (then optional)."""
    if declared is not None:
        if declared not in _FIELD_TYPES:
            raise ValueError(f"cli_types[{key!r}]: expected one of {sorted(_FIELD_TYPES)}, got {declared!r}")
        t = _FIELD_TYPES[declared]
        return Optional[t] if preset is None else t  # noqa: UP045 - OmegaConf reads typing.Optional
    if preset is None:
        return Any
    for t in (bool, int, float, str):
        if isinstance(preset, t):
            return t
    if isinstance(preset, list):
        return list[Any]
    return Any


def _default(value: Any) -> Any:
    return field(default_factory=lambda v=value: list(v)) if isinstance(value, list) else value


def _class_name(name: str, suffix: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_")) + suffix


def _publish(cls: type) -> type:
    """Make a generated node class importable as ``experiments.conf.<name>`` (launchers pickle it)."""
    cls.__module__ = __name__
    cls.__qualname__ = cls.__name__
    globals()[cls.__name__] = cls
    return cls


def env_node(decl) -> type:
    """The structured config class of the ``env`` option of the world ``decl`` (an
    :class:`envs.registry.EnvDecl`): ``_target_``, ``label`` (the registry name), ``family`` for
    worlds built from arguments, and the declaration's ``cli_defaults`` as typed fields."""
    if decl.fit_on_data:  # fitted on the ``data`` group by the job (see experiments.builders.member_simulator)
        fields = [("_target_", str, "experiments.builders.member_simulator"), ("label", str, decl.name)]
    else:
        fields = [("_target_", str, "experiments.builders.synthetic_env"), ("label", str, decl.name),
                  ("family", str, decl.name)]
    for k, v in decl.cli_defaults.items():
        fields.append((k, _field_type(k, v, decl.cli_types.get(k)), _default(v)))
    cls = make_dataclass(_class_name(decl.name, "EnvConf"), fields, bases=(EnvConf,))
    cls.__doc__ = (f"``env={decl.cli}``: the world {decl.name!r} ({decl.constructor}); fields are its "
                   "constructor's arguments (see :mod:`envs.registry`).")
    return _publish(cls)


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


#: ``policy`` group options that are not registry names
POLICY_GROUP_EXTRAS = ("generic", "bakeoff", "bakeoff_linear")


def policy_node(decl) -> type:
    """The structured config class of the ``policy`` option of the policy ``decl`` (a
    :class:`bandits.policies.registry.PolicyDecl`): one optional float field per hyperparameter,
    by configuration name (aliases applied), preset from the declaration's ``cli_defaults`` (None
    keeps the constructor's default). A wrapper, whose fields depend on its base, takes them in
    ``hparams`` like ``generic``."""
    hit = _POLICY_NODES.get(decl.name)
    if hit is not None and hit[0] is decl:
        return hit[1]
    if decl.name in POLICY_GROUP_EXTRAS:
        raise ValueError(f"policy name {decl.name!r} is reserved by the config group")
    fields: list[tuple] = [("name", str, decl.name)]
    if decl.hparams is None:
        fields.append(("hparams", dict[str, float], field(default_factory=dict)))
    else:
        for c in decl.config_names():
            fields.append((c, Optional[float], decl.cli_defaults.get(c)))  # noqa: UP045 - OmegaConf needs Optional
    cls = make_dataclass(_class_name(decl.name, "Conf"), fields, bases=(PolicyConf,))
    cls.__doc__ = (f"``policy={decl.name}`` ({decl.module}); hyperparameter fields left at None keep the "
                   "constructor's default.")
    _POLICY_NODES[decl.name] = (decl, _publish(cls))
    return cls


_POLICY_NODES: dict[str, tuple[Any, type]] = {}


def policy_nodes() -> dict[str, type]:
    """``{registry name: config class}`` for every registered policy."""
    from bandits.policies import REGISTRY

    return {name: policy_node(decl) for name, decl in sorted(REGISTRY.items())}


def candidate(name: str, **values: Any):
    """A bake-off candidate node: the policy ``name``'s config class with ``values`` set."""
    from bandits.policies import REGISTRY

    return policy_node(REGISTRY[name])(**values)


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
            "bernoulli_ts": candidate("bernoulli_ts", static={"num_samples": 1}),
            "ucb1": candidate("ucb1", alpha=0.1),
            "epsilon_greedy": candidate("epsilon_greedy", epsilon=0.05),
            # contextual: small exploration scales, since rewards are clicks at well under 1%
            "linucb": candidate("linucb", alpha=0.1),
            "lints": candidate("lints", alpha=0.02),
            "random": candidate("random"),
        }
    )


@dataclass
class LinearBakeoffConf(BakeoffConf):
    """The contextual candidates (LinUCB, LinTS, linear epsilon-greedy, random): ``policy=bakeoff_linear``."""

    candidates: dict[str, Any] = field(
        default_factory=lambda: {
            "linucb": candidate("linucb"),
            "lints": candidate("lints"),
            "lin_epsilon_greedy": candidate("lin_epsilon_greedy"),
            "random": candidate("random"),
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
    timestamp_col: str | None = None
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
class VerdictConf:
    """"What your logs can tell": one line after the bake-off, from a fidelity study in the
    OBD-shaped known world at ``factors`` x the logs' size (:func:`experiments.fidelity.what_logs_can_tell`:
    the simulator's Kendall tau against the truth, and the rows needed for tau >= 0.9). Cached in
    ``out_dir/fidelity``, so only the first run pays for it; ``verdict.enabled=false`` skips it.
    """

    enabled: bool = True
    factors: list[int] = field(default_factory=lambda: [1, 10])


@dataclass
class ScreentestConf:
    """The root config. ``seeds``: seeds per candidate (and per grid point); ``horizon``: rounds.

    out_dir: the result store (shared by all jobs of a multirun; relative paths are taken from the
    directory ``screentest`` was started in). quiet: no progress bars or tables (CI).
    report: write ``out_dir/report`` at the end of the job. force: recompute every cell of the job
    even when the store has it (``--force``). verdict: the "what your logs can tell" line.
    """

    defaults: list[Any] = field(
        default_factory=lambda: [
            # the OBD-shaped known world: the bundled logs (38 clicks) cannot tell items apart;
            # a run on your own logs (data=parquet/csv) fits the simulator on them instead
            {"env": "obd_known"},
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
    verdict: VerdictConf = field(default_factory=VerdictConf)
    seeds: int = 10
    seed_offset: int = 0
    horizon: int = 30000
    out_dir: str = "screentest-results"
    quiet: bool = False
    report: bool = True
    force: bool = False
    # Hydra's own settings for this application (command-line ``hydra.*`` overrides still win):
    # run directories inside the store, no chdir, and the callback that pre-checks every job and
    # writes one report after a multirun (experiments.main_job.ScreentestCallback)
    hydra: Any = field(default_factory=lambda: {
        "run": {"dir": "${out_dir}/.hydra/runs/${now:%Y-%m-%d_%H-%M-%S}"},
        "sweep": {"dir": "${out_dir}/.hydra/multiruns/${now:%Y-%m-%d_%H-%M-%S}"},
        "job": {"chdir": False},
        "help": {"app_name": "screentest"},
        "callbacks": {"screentest": {"_target_": "experiments.main_job.ScreentestCallback",
                                     "out_dir": "${out_dir}", "enabled": "${report}", "quiet": "${quiet}"}},
    })


def register_configs(cs: ConfigStore | None = None) -> ConfigStore:
    """Register every node (idempotent; call again after registering a policy or world at run
    time). The ``env`` options and the per-policy ``policy`` options come from the registries
    (:mod:`envs.registry`, :mod:`bandits.policies.registry`). Returns the ConfigStore."""
    from envs.registry import by_cli_name

    cs = cs or ConfigStore.instance()
    cs.store(name="screentest", node=ScreentestConf)
    for option, decl in sorted(by_cli_name().items()):
        cs.store(group="env", name=option, node=env_node(decl))
    for name, node in policy_nodes().items():
        cs.store(group="policy", name=name, node=node)
    for name, node in {
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
