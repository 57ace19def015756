"""``hydra/launcher=ray``: run the jobs of a Hydra multirun as Ray tasks (local or on a cluster).

Why not Hydra's own ``hydra-ray-launcher``: its last release (1.2.2, 2022) requires
``ray[default]`` plus ``boto3``, ``aiohttp`` and ``cloudpickle<3`` (it was written for launching
AWS clusters), which pulls in ~40 extra packages for a local or existing-cluster use. This launcher
uses only Ray's core API (``ray.init``, ``ray.remote``, ``ray.get``) and is otherwise the same
pattern as Hydra's joblib launcher: each job is ``hydra.core.utils.run_job`` in a Ray worker with
Hydra's singleton state shipped along.

Config (``hydra.launcher.*``):

``address``
    ``null``: start a local Ray instance (``num_cpus`` CPUs) unless Ray is already initialised in
    this process (then it is reused); ``"auto"`` or ``"ray://host:10001"``: connect to a cluster.
``num_cpus``
    CPUs of the local instance (null: all). ``cpus_per_job``: CPUs reserved per job.
``shutdown``
    shut Ray down after the sweep if this launcher started it.

The repository root is put on the workers' ``PYTHONPATH`` (``runtime_env``) so the job function
and its configs import there as they do here. Requires the ``ray`` extra: ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)

REPO_ROOT = str(Path(__file__).resolve().parents[1])
PLUGIN_DIR = str(Path(__file__).resolve().parent / "_plugins")
if PLUGIN_DIR not in sys.path:
    sys.path.append(PLUGIN_DIR)


@dataclass
class RayLauncherConf:
    _target_: str = "hydra_plugins.screentest_ray_launcher.RayLauncher"
    address: str | None = None
    num_cpus: int | None = None
    cpus_per_job: float = 1.0
    shutdown: bool = True
    init_kwargs: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/launcher", name="ray", node=RayLauncherConf, provider="screentest")


def _execute_job(idx: int, overrides: Sequence[str], hydra_context: HydraContext, config: DictConfig,
                 task_function: TaskFunction, singleton_state: dict[Any, Any]) -> JobReturn:
    """One job inside a Ray worker (mirrors the joblib launcher's ``execute_job``)."""
    from hydra.core.hydra_config import HydraConfig

    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


def worker_runtime_env() -> dict[str, Any]:
    """The ``runtime_env`` that lets Ray workers import this repository."""
    path = os.pathsep.join(p for p in (REPO_ROOT, PLUGIN_DIR, os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


class RayLauncherBase(Launcher):
    """Hydra launcher running each job as a Ray task; results come back as ``JobReturn`` objects."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_job: float = 1.0,
                 shutdown: bool = True, init_kwargs: dict[str, Any] | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_job = float(cpus_per_job)
        self.shutdown = bool(shutdown)
        self.init_kwargs = dict(init_kwargs or {})
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        try:
            import ray
        except ImportError as e:
            raise RuntimeError(
                "hydra/launcher=ray needs Ray: pip install -e '.[ray]' (or pip install ray)"
            ) from e
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        started = False
        if not ray.is_initialized():
            kw = {"address": self.address, "runtime_env": worker_runtime_env(), "include_dashboard": False,
                  "log_to_driver": True, **self.init_kwargs}
            if self.address is None and self.num_cpus is not None:
                kw["num_cpus"] = int(self.num_cpus)
            ray.init(**kw)
            started = True
        log.info(f"Ray launcher: {len(job_overrides)} job(s) on {ray.cluster_resources().get('CPU', 0):g} CPU(s)")
        for i, ov in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + i} : {' '.join(filter_overrides(ov))}")
        remote = ray.remote(num_cpus=self.cpus_per_job)(_execute_job)
        state = Singleton.get_state()
        try:
            refs = [remote.remote(initial_job_idx + i, list(ov), self.hydra_context, self.config,
                                  self.task_function, state)
                    for i, ov in enumerate(job_overrides)]
            results = ray.get(refs)
        finally:
            if started and self.shutdown:
                ray.shutdown()
        return list(results)
